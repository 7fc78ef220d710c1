package redispresence

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/broker"
)

// follow receives partition i's events until ctx is done, subscribing
// again with a backoff of 100 ms doubling up to 1 s whenever the
// subscription is lost. The client may subscribe again by itself after a
// connection failed: the hooks tell when a subscription is confirmed and
// when one ends.
func (p *Presence) follow(ctx context.Context, i int, t Target) {
	hooked := rueidis.WithOnSubscriptionHook(ctx, func(s rueidis.PubSubSubscription) {
		p.subscribed(i, s.Kind == "ssubscribe")
	})
	hooked = rueidis.WithOnReceiveReturnHook(hooked, func(err error, _ rueidis.CommandClient) error {
		if ctx.Err() == nil {
			p.subscribed(i, false)
		}
		return err
	})
	cmd := p.client.B().Ssubscribe().Channel(channelOf(i)).Build()
	backoff := time.Duration(0)
	for {
		err := p.client.Receive(hooked, cmd, func(m rueidis.PubSubMessage) { p.receive(i, m.Message, t) })
		if ctx.Err() != nil {
			return
		}
		p.subscribed(i, false)
		p.log.Warn("redispresence: following presence events failed", "channel", channelOf(i), "err", err)
		backoff = min(max(2*backoff, 100*time.Millisecond), time.Second)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

// subscribed records whether partition i's events are followed. Once
// they are (again), the watched topics of the partition are read afresh
// and this node's subscriptions written again, in case Redis lost them;
// once they are not, the keeper shows this node's own subscriptions. It
// runs in the client's pipeline, and only changes state.
func (p *Presence) subscribed(i int, up bool) {
	p.mu.Lock()
	if p.up[i] == up {
		p.mu.Unlock()
		return
	}
	p.up[i] = up
	for dest, w := range p.watched {
		if partitionOf(dest) == i {
			w.synced = false
		}
	}
	if up {
		for dest, subs := range p.local {
			if partitionOf(dest) == i {
				for sub := range subs {
					p.pending[topicSub{dest, sub}] = struct{}{}
				}
			}
		}
	}
	p.mu.Unlock()
	if !up {
		p.resyncs.Inc()
	}
	p.poke()
}

// receive applies an event of partition i to the topic it concerns, when
// watched and in step: the next version is shown, an older one was shown
// already, and a later one or another epoch reveals a gap, which has the
// topic read afresh.
func (p *Presence) receive(i int, msg string, t Target) {
	ev, ok := parseEvent(msg)
	if !ok {
		p.log.Warn("redispresence: malformed event", "channel", channelOf(i))
		return
	}
	p.applying[i].Lock()
	defer p.applying[i].Unlock()
	p.mu.Lock()
	w := p.watched[ev.dest]
	switch {
	case w == nil || !w.synced || ev.epoch == w.epoch && ev.version <= w.version:
		p.mu.Unlock()
		return
	case ev.epoch != w.epoch || ev.version != w.version+1:
		w.synced = false
		p.mu.Unlock()
		p.resyncs.Inc()
		p.poke()
		return
	}
	w.version = ev.version
	p.mu.Unlock()
	t.MemberChanged(ev.dest, ev.member, ev.joined)
}

// event is a join or leave as the scripts publish it.
type event struct {
	epoch   string
	version int64
	joined  bool
	dest    string
	member  broker.Member
}

// parseEvent reads "<epoch> <version> <j|l> <len(dest)> <len(sub)>\n<dest><sub><name>".
func parseEvent(msg string) (event, bool) {
	head, rest, ok := strings.Cut(msg, "\n")
	f := strings.Fields(head)
	if !ok || len(f) != 5 || (f[2] != "j" && f[2] != "l") {
		return event{}, false
	}
	v, err1 := strconv.ParseInt(f[1], 10, 64)
	nd, err2 := strconv.Atoi(f[3])
	ns, err3 := strconv.Atoi(f[4])
	if err1 != nil || err2 != nil || err3 != nil || nd < 0 || ns < 0 || nd+ns > len(rest) {
		return event{}, false
	}
	return event{
		epoch: f[0], version: v, joined: f[2] == "j", dest: rest[:nd],
		member: broker.Member{Sub: rest[nd : nd+ns], Name: rest[nd+ns:]},
	}, true
}
