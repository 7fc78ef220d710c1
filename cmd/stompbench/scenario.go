package main

import "strconv"

// topology is who sends what where, and who must receive it.
type topology struct {
	streams     []*stream
	publishers  [][]*stream    // the streams of each publisher connection
	subscribers []subscription // one per subscriber connection
	ledgers     []*ledger      // each distinct ledger once
}

// subscription is what one subscriber connection subscribes to, and the
// ledger it records deliveries in.
type subscription struct {
	dests  []string
	ack    string // auto or client-individual
	ledger *ledger
	gate   *gate // with -stall, what stops its reader
}

// plan lays out the scenario of cfg; destinations carry runID so that runs
// never mix.
func plan(cfg *config, runID string) *topology {
	topic := func(n int) string { return "/topic/bench." + runID + "." + strconv.Itoa(n) }
	tp := &topology{}
	switch cfg.Scenario {
	case scenarioP2P, scenarioSendAuth, scenarioFanout:
		tp.addStreams(1, func(int) string { return topic(0) })
		tp.publishers = [][]*stream{tp.streams}
		tp.subscribeAll(cfg, []string{topic(0)})
	case scenarioMesh:
		tp.addStreams(cfg.Pubs, topic)
		tp.onePerPublisher()
		dests := make([]string, cfg.Pubs)
		for i := range dests {
			dests[i] = topic(i)
		}
		tp.subscribeAll(cfg, dests)
	case scenarioQueue:
		queue := "/queue/bench." + runID
		tp.addStreams(cfg.Pubs, func(int) string { return queue })
		tp.onePerPublisher()
		shared := newLedger(0, cfg.Pubs, cfg.Size)
		tp.ledgers = []*ledger{shared}
		for range cfg.Subs {
			tp.subscribers = append(tp.subscribers, subscription{dests: []string{queue}, ack: "client-individual", ledger: shared})
		}
	case scenarioConns:
		tp.addStreams(cfg.Conns, topic)
		tp.publishers = [][]*stream{tp.streams}
		for i := range cfg.Conns {
			l := newLedger(uint32(i), 1, cfg.Size)
			tp.ledgers = append(tp.ledgers, l)
			tp.subscribers = append(tp.subscribers, subscription{dests: []string{topic(i)}, ack: "auto", ledger: l})
		}
	}
	tp.link()
	return tp
}

func (tp *topology) addStreams(n int, dest func(int) string) {
	for i := range n {
		tp.streams = append(tp.streams, &stream{id: uint32(i), dest: dest(i)})
	}
}

func (tp *topology) onePerPublisher() {
	for _, s := range tp.streams {
		tp.publishers = append(tp.publishers, []*stream{s})
	}
}

// subscribeAll gives each of cfg.Subs subscribers its own ledger of every
// stream, subscribed to dests.
func (tp *topology) subscribeAll(cfg *config, dests []string) {
	for range cfg.Subs {
		l := newLedger(0, len(tp.streams), cfg.Size)
		tp.ledgers = append(tp.ledgers, l)
		tp.subscribers = append(tp.subscribers, subscription{dests: dests, ack: "auto", ledger: l})
	}
}

// link tells each stream which tracks must receive it.
func (tp *topology) link() {
	for _, l := range tp.ledgers {
		for i := range l.tracks {
			s := tp.streams[l.first+uint32(i)]
			s.tracks = append(s.tracks, &l.tracks[i])
		}
	}
}

// sent returns what stream id has sent so far.
func (tp *topology) sent(id uint32) uint64 { return tp.streams[id].sent.Load() }
