package broker

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stompd/stompd/stomp"
)

// presencePrefix begins a presence destination: /presence/topic/<name>
// shows the members of /topic/<name>.
const presencePrefix = "/presence"

// Member is a user present on a topic: its subject, and the name it is
// shown by (Identity.Name, or its subject when that is empty).
type Member struct {
	Sub  string `json:"sub"`
	Name string `json:"name"`
}

// Presence shares the members of topics among the nodes of a cluster
// (Options.Presence); nil serves one node alone, from its own
// subscriptions.
//
// Set tells how many subscriptions to dest (a /topic/ destination) m.Sub
// has on this node now: calls for one dest and subject come in the order
// of the changes, each superseding the last, 0 when none is left.
//
// Watch asks for dest's members cluster-wide, which the presence then
// hands to Broker.SetMembers (all of them: first once Watch was called,
// and whenever it lost track) and Broker.MemberChanged (each join or
// leave), for every watched dest, until Unwatch. The channel Watch
// returns is closed once the first SetMembers of dest was made, or at once
// when the presence knows it cannot do that now; until then, at most
// ListenWait, the broker holds back the presence SUBSCRIBE that asked.
// The broker calls Watch when dest gets its first presence subscriber on
// this node and Unwatch when it loses its last one, never both at once
// for one dest.
//
// All methods must be safe for concurrent use, must not block and must not
// call back into the broker: they are called with the broker's presence
// lock held, so that the calls for a dest come in the order of its
// changes.
type Presence interface {
	Set(dest string, m Member, count int)
	Watch(dest string) (ready <-chan struct{})
	Unwatch(dest string)
}

// presence keeps the members of every topic with subscribers or presence
// subscribers on this node, and the presence subscribers themselves.
// Everything is under mu, a leaf but for the outbox.mu of the presence
// subscribers it queues messages for: a roster's members, what its
// subscribers were shown and the subscribers given a snapshot change in
// one step, so that each presence subscriber sees every change after its
// snapshot once, in order.
type presence struct {
	b       *Broker
	backend Presence // nil on one node

	mu      sync.Mutex
	rosters map[string]*roster // by topic
}

// roster is one topic's presence: this node's subscriptions to it by
// subject, the members shown (on one node those subjects; in a cluster
// what the Presence told), and the presence subscribers. It exists while
// any of these is non-empty, so it is bounded by subscriptions.
type roster struct {
	dest     string         // the presence destination, /presence/topic/<name>
	local    map[string]int // this node's subscriptions by subject
	shown    map[string]string
	watchers map[*subscription]bool // presence subscribers; true once shown the snapshot
	ready    <-chan struct{}        // from Presence.Watch; nil on one node
}

func newPresence(b *Broker) *presence {
	return &presence{b: b, backend: b.o.Presence, rosters: make(map[string]*roster)}
}

// rosterLocked returns topic's roster, creating it. Called with p.mu held.
func (p *presence) rosterLocked(topic string) *roster {
	r := p.rosters[topic]
	if r == nil {
		r = &roster{dest: presencePrefix + topic, local: make(map[string]int), shown: make(map[string]string),
			watchers: make(map[*subscription]bool)}
		p.rosters[topic] = r
	}
	return r
}

// dropLocked removes topic's roster once nothing is left in it. Called
// with p.mu held.
func (p *presence) dropLocked(topic string, r *roster) {
	if len(r.local) > 0 || len(r.watchers) > 0 {
		return
	}
	if r.ready != nil {
		p.backend.Unwatch(topic)
	}
	p.forget(r)
	delete(p.rosters, topic)
}

// forget empties what r shows, which nobody watches any more.
func (p *presence) forget(r *roster) {
	p.b.m.presenceMembers.Sub(float64(len(r.shown)))
	clear(r.shown)
}

// join counts one more subscription of m to topic on this node.
func (p *presence) join(topic string, m Member) {
	var fx *effects // made only for a change shown: most subscriptions change nothing shown
	p.mu.Lock()
	r := p.rosterLocked(topic)
	r.local[m.Sub]++
	switch {
	case p.backend != nil:
		p.backend.Set(topic, m, r.local[m.Sub])
	case r.local[m.Sub] == 1:
		fx = new(effects)
		p.changeLocked(r, m, true, fx)
	}
	p.mu.Unlock()
	fx.applyAny()
}

// leave counts one subscription of sub to topic on this node less.
func (p *presence) leave(topic, sub string) {
	var fx *effects
	p.mu.Lock()
	r := p.rosters[topic]
	if r == nil || r.local[sub] == 0 {
		p.mu.Unlock()
		return
	}
	n := r.local[sub] - 1
	if n == 0 {
		delete(r.local, sub)
	} else {
		r.local[sub] = n
	}
	switch {
	case p.backend != nil:
		p.backend.Set(topic, Member{Sub: sub}, n)
	case n == 0:
		fx = new(effects)
		p.changeLocked(r, Member{Sub: sub, Name: r.shown[sub]}, false, fx)
	}
	p.dropLocked(topic, r)
	p.mu.Unlock()
	fx.applyAny()
}

// applyAny applies fx, if any.
func (fx *effects) applyAny() {
	if fx != nil {
		fx.apply()
	}
}

// changeLocked shows a join or leave of m, when it changes what r shows,
// to r's presence subscribers. Called with p.mu held.
func (p *presence) changeLocked(r *roster, m Member, joined bool, fx *effects) {
	name, had := r.shown[m.Sub]
	switch {
	case joined && had:
		return
	case joined:
		r.shown[m.Sub] = m.Name
		p.b.m.presenceMembers.Inc()
	case !had:
		return
	default:
		m.Name = name
		delete(r.shown, m.Sub)
		p.b.m.presenceMembers.Dec()
	}
	ev := p.b.m.presenceLeaves
	body := presenceEvent{Event: "leave", Member: m}
	if joined {
		ev, body.Event = p.b.m.presenceJoins, "join"
	}
	msg := p.b.presenceMessage(r.dest, body)
	for s, started := range r.watchers {
		if started {
			fx.add(s.c, s.c.out.push(outItem{msg: msg, sub: s, cmd: stomp.MESSAGE}, p.b.o.MaxPendingBytes))
			ev.Inc()
		}
	}
}

// show makes r show exactly members (subject to name), sending its
// presence subscribers the leaves and joins that make the difference.
// Called with p.mu held.
func (p *presence) show(r *roster, members map[string]string, fx *effects) {
	for _, sub := range slices.Sorted(maps.Keys(r.shown)) {
		if _, stays := members[sub]; !stays {
			p.changeLocked(r, Member{Sub: sub}, false, fx)
		}
	}
	for _, sub := range slices.Sorted(maps.Keys(members)) {
		p.changeLocked(r, Member{Sub: sub, Name: members[sub]}, true, fx)
	}
}

// watch registers s, a presence subscription to topic, refusing what the
// roster shows until start. In a cluster it returns the channel that tells
// when the Presence has the topic's members.
func (p *presence) watch(s *subscription) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.rosterLocked(s.key)
	if p.backend != nil && r.ready == nil {
		r.ready = p.backend.Watch(s.key)
	}
	r.watchers[s] = false
	p.b.m.presenceSubscriptions.Inc()
	return r.ready
}

// start queues receipt (if any) and the snapshot of the members for s,
// and from then on their changes, in one step.
func (p *presence) start(s *subscription, receipt []byte) {
	var fx effects
	p.mu.Lock()
	if receipt != nil {
		fx.add(s.c, s.c.out.push(outItem{cmd: stomp.RECEIPT, raw: receipt}, p.b.o.MaxPendingBytes))
	}
	if r := p.rosters[s.key]; r != nil {
		if _, ok := r.watchers[s]; ok {
			r.watchers[s] = true
			msg := p.b.presenceMessage(r.dest, snapshot(r.shown))
			fx.add(s.c, s.c.out.push(outItem{msg: msg, sub: s, cmd: stomp.MESSAGE}, p.b.o.MaxPendingBytes))
		}
	}
	p.mu.Unlock()
	fx.apply()
}

// unwatch removes s, a presence subscription.
func (p *presence) unwatch(s *subscription) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.rosters[s.key]
	if r == nil {
		return
	}
	if _, ok := r.watchers[s]; !ok {
		return
	}
	delete(r.watchers, s)
	p.b.m.presenceSubscriptions.Dec()
	if len(r.watchers) == 0 && r.ready != nil {
		p.backend.Unwatch(s.key)
		r.ready = nil
		p.forget(r)
	}
	p.dropLocked(s.key, r)
}

// SetMembers makes this node show members as the members of dest (a
// /topic/ destination) cluster-wide: its presence subscribers get the
// leaves and joins that make the difference. A Presence calls it for the
// destinations it watches; for others it does nothing.
func (b *Broker) SetMembers(dest string, members []Member) {
	set := make(map[string]string, len(members))
	for _, m := range members {
		set[m.Sub] = m.Name
	}
	b.presence.update(dest, func(r *roster, fx *effects) { b.presence.show(r, set, fx) })
}

// MemberChanged shows m joining (joined) or leaving dest (a /topic/
// destination) cluster-wide to this node's presence subscribers, unless
// what it shows already has m as a member (a join) or not (a leave). A
// Presence calls it for the destinations it watches; for others it does
// nothing.
func (b *Broker) MemberChanged(dest string, m Member, joined bool) {
	b.presence.update(dest, func(r *roster, fx *effects) { b.presence.changeLocked(r, m, joined, fx) })
}

// update applies change to dest's roster, when the Presence watches it.
func (p *presence) update(dest string, change func(*roster, *effects)) {
	var fx effects
	p.mu.Lock()
	if r := p.rosters[dest]; r != nil && r.ready != nil {
		change(r, &fx)
	}
	p.mu.Unlock()
	fx.apply()
}

// presenceEvent is the body of a join or leave MESSAGE.
type presenceEvent struct {
	Event string `json:"event"`
	Member
}

// presenceSnapshot is the body of the first MESSAGE of a presence
// subscription.
type presenceSnapshot struct {
	Members []Member `json:"members"`
}

// snapshot lists shown, by subject.
func snapshot(shown map[string]string) presenceSnapshot {
	s := presenceSnapshot{Members: make([]Member, 0, len(shown))}
	for _, sub := range slices.Sorted(maps.Keys(shown)) {
		s.Members = append(s.Members, Member{Sub: sub, Name: shown[sub]})
	}
	return s
}

// jsonContentType is the content-type of presence MESSAGEs.
var jsonContentType = []stomp.Header{{Key: []byte("content-type"), Value: []byte("application/json")}}

// presenceMessage builds a presence MESSAGE to dest with body v in JSON.
func (b *Broker) presenceMessage(dest string, v any) *message {
	body, _ := json.Marshal(v) // strings and slices of them always marshal
	f := &stomp.Frame{Command: stomp.SEND, Headers: jsonContentType, Body: body}
	return newMessage(f, dest, kindPresence, b.messageSeq.Add(1), time.Now())
}

// presenceTopic returns the topic a presence destination shows, if dest
// is one: /presence/topic/<name> shows /topic/<name>.
func presenceTopic(dest []byte) (string, bool) {
	topic, ok := strings.CutPrefix(string(dest), presencePrefix)
	return topic, ok && hasName([]byte(topic), topicPrefix)
}

// member is who a session counts as on a topic.
func (id Identity) member() Member {
	if id.Name == "" {
		return Member{Sub: id.Subject, Name: id.Subject}
	}
	return Member{Sub: id.Subject, Name: id.Name}
}
