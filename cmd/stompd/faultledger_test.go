//go:build faults

package main

import "time"

// killGrace is how long before a fault a receipted topic message lost is
// shown apart (lost@kill): when a topic's RECEIPT did not wait for Redis to
// keep the message, those in a node's backlog, or on their way to Redis,
// when Redis or the node died reached only that node's subscribers, or
// nobody. Now that it waits, none may be lost.
const killGrace = time.Second

// phaseLedger is what the traffic of one phase became: its topic messages
// (each counted once per subscriber of its topic) and its queue messages.
type phaseLedger struct {
	sent, receipted                int // topic messages
	delivered, lost, lostUnrec     int // to subscribers: delivered, receipted and lost, unreceipted and lost
	lostAtKill                     int // receipted, lost, sent within killGrace before a fault
	dups, reorder                  int // to subscribers
	qsent, qreceipted, qacked      int // queue messages
	qlost, qdups, qlostUnreceipted int
}

// ledger returns the ledger of each phase, by the phase under way when a
// message was sent; faults holds when each fault began.
func (tr *faultTraffic) ledger(faults []time.Time) []phaseLedger {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	l := make([]phaseLedger, len(faults))
	for topic, msgs := range tr.topics {
		for n, m := range msgs {
			p := &l[m.phase]
			p.sent++
			if m.receipted {
				p.receipted++
			}
			for _, s := range tr.subs {
				switch {
				case s.topic != topic:
				case s.got[n]:
					p.delivered++
				case m.receipted && beforeFault(m.at, faults):
					p.lostAtKill++
				case m.receipted:
					p.lost++
				default:
					p.lostUnrec++
				}
			}
		}
	}
	for _, s := range tr.subs {
		for _, n := range s.dups {
			l[tr.topics[s.topic][n].phase].dups++
		}
		for _, n := range s.reorder {
			l[tr.topics[s.topic][n].phase].reorder++
		}
	}
	for n, m := range tr.queue {
		p := &l[m.phase]
		p.qsent++
		switch {
		case m.receipted:
			p.qreceipted++
		case !tr.acked[n]:
			p.qlostUnreceipted++
		}
		if tr.acked[n] {
			p.qacked++
		} else if m.receipted {
			p.qlost++
		}
	}
	for _, n := range tr.qdups {
		l[tr.queue[n].phase].qdups++
	}
	return l
}

// beforeFault reports whether at is within killGrace before one of
// faults.
func beforeFault(at time.Time, faults []time.Time) bool {
	for _, f := range faults {
		if !f.IsZero() && at.Before(f) && f.Sub(at) < killGrace {
			return true
		}
	}
	return false
}

// check prints the ledger by phase, faults holding when each fault began,
// and fails the test on a duplicate, a message out of order, a receipted
// queue message not acked, or a receipted topic message that missed a
// subscriber, in any phase.
func (tr *faultTraffic) check(phases []faultPhase, faults []time.Time) {
	t := tr.t
	t.Logf("%-13s %6s %6s %9s %5s %9s %9s %4s %5s | %6s %6s %6s %6s %9s %4s",
		"phase", "sent", "rcpt", "delivered", "lost", "lost@kill", "lost-norc", "dup", "order",
		"q-sent", "q-rcpt", "q-ack", "q-lost", "lost-norc", "dup")
	for i, p := range tr.ledger(faults) {
		t.Logf("%-13s %6d %6d %9d %5d %9d %9d %4d %5d | %6d %6d %6d %6d %9d %4d",
			phases[i].name, p.sent, p.receipted, p.delivered, p.lost, p.lostAtKill, p.lostUnrec, p.dups, p.reorder,
			p.qsent, p.qreceipted, p.qacked, p.qlost, p.qlostUnreceipted, p.qdups)
		if p.dups+p.reorder+p.lost+p.lostAtKill+p.qdups+p.qlost > 0 {
			t.Errorf("phase %s: %d duplicated and %d out of order to subscribers, %d receipted lost (%d just before a fault); queue: %d receipted lost, %d duplicated",
				phases[i].name, p.dups, p.reorder, p.lost+p.lostAtKill, p.lostAtKill, p.qlost, p.qdups)
		}
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, s := range tr.subs {
		t.Logf("subscriber of topic %d, first on node %d: resumed %d times, %d without recovery", s.topic, s.prefer, s.resumed, s.lost)
	}
	if len(tr.unknown) > 0 {
		t.Errorf("frames the ledger could not place: %v", tr.unknown)
	}
}
