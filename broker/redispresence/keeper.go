package redispresence

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/broker"
)

// maxBatch bounds the scripts of one pipelined call.
const maxBatch = 512

// keep writes this node's subscriptions to Redis and shows the watched
// topics to t, every second and whenever there is something new, until
// ctx is done; then it writes what is pending once more, so that a node
// that stops gracefully leaves its topics at once.
func (p *Presence) keep(ctx context.Context, t Target) {
	tick := time.NewTicker(min(p.o.Sweep, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), commandTimeout)
			p.write(final)
			cancel()
			return
		case <-p.wake:
		case <-tick.C:
		}
		p.write(ctx)
		p.refresh(ctx, t)
	}
}

// write runs the set script for each pending entry; those that fail stay
// pending, for the next round.
func (p *Presence) write(ctx context.Context) {
	p.mu.Lock()
	todo := slices.Collect(maps.Keys(p.pending))
	if len(todo) > maxBatch {
		todo = todo[:maxBatch]
		defer p.poke()
	}
	execs := make([]rueidis.LuaExec, len(todo))
	for i, ts := range todo {
		delete(p.pending, ts)
		e, present := p.local[ts.dest][ts.sub]
		k := keysOf(ts.dest)
		execs[i] = rueidis.LuaExec{
			Keys: []string{k.members(), k.refs(), k.nodes(), k.version(), k.onNode(p.o.Node)},
			Args: []string{channelOf(partitionOf(ts.dest)), ts.dest, p.o.Node, ts.sub, e.name, flag(present)},
		}
	}
	p.mu.Unlock()
	if len(execs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	for i, r := range setScript.ExecMulti(ctx, p.client, execs...) {
		if err := r.Error(); err != nil {
			p.log.Warn("redispresence: writing a member failed", "topic", todo[i].dest, "err", err)
			p.mu.Lock()
			p.pending[todo[i]] = struct{}{}
			p.mu.Unlock()
		}
	}
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// refresh shows t the watched topics that are due: read afresh from Redis
// (taking out the members of dead nodes first) where their partition's
// events are followed, and this node's own subscriptions elsewhere.
func (p *Presence) refresh(ctx context.Context, t Target) {
	remote, local := p.due()
	for _, dest := range local {
		p.showLocal(dest, t)
	}
	for len(remote) > 0 {
		n := min(len(remote), maxBatch)
		snaps := p.read(ctx, remote[:n])
		if p.evict(ctx, snaps) {
			snaps = p.read(ctx, remote[:n])
		}
		for _, s := range snaps {
			p.show(s, t)
		}
		remote = remote[n:]
	}
}

// due returns the watched topics to read from Redis now, and those to
// show from this node's subscriptions. A topic with writes pending is
// read once they are made, lest it show this node's members leaving and
// joining again after Redis lost them.
func (p *Presence) due() (remote, local []string) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	writing := make(map[string]bool)
	for ts := range p.pending {
		writing[ts.dest] = true
	}
	for dest, w := range p.watched {
		switch {
		case !p.up[partitionOf(dest)]:
			local = append(local, dest)
		case writing[dest]:
		case !w.synced || !now.Before(w.due):
			w.due = now.Add(p.o.Sweep)
			remote = append(remote, dest)
		}
	}
	return remote, local
}

// snap is a topic as read from Redis.
type snap struct {
	dest    string
	epoch   string
	version int64
	members []broker.Member
	nodes   []string
	ok      bool
}

// read reads the topics dests from Redis.
func (p *Presence) read(ctx context.Context, dests []string) []snap {
	execs := make([]rueidis.LuaExec, len(dests))
	for i, dest := range dests {
		k := keysOf(dest)
		execs[i] = rueidis.LuaExec{Keys: []string{k.members(), k.version(), k.nodes()}}
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	snaps := make([]snap, len(dests))
	for i, r := range snapshotScript.ExecMulti(ctx, p.client, execs...) {
		snaps[i] = parseSnap(dests[i], r)
		if !snaps[i].ok {
			p.log.Warn("redispresence: reading a topic's members failed", "topic", dests[i], "err", r.Error())
		}
	}
	return snaps
}

// parseSnap reads a reply of snapshotScript.
func parseSnap(dest string, r rueidis.RedisResult) snap {
	s := snap{dest: dest}
	a, err := r.ToArray()
	if err != nil || len(a) != 4 {
		return s
	}
	s.epoch, _ = a[0].ToString()
	v, _ := a[1].ToString()
	kv, err1 := a[2].AsStrSlice()
	nodes, err2 := a[3].AsStrSlice()
	var err3 error
	s.version, err3 = strconv.ParseInt(v, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return s
	}
	for i := 0; i+1 < len(kv); i += 2 {
		s.members = append(s.members, broker.Member{Sub: kv[i], Name: kv[i+1]})
	}
	s.nodes, s.ok = nodes, true
	return s
}

// evict takes the members of the dead nodes that snaps list out of their
// topics, and reports whether it took any.
func (p *Presence) evict(ctx context.Context, snaps []snap) bool {
	var execs []rueidis.LuaExec
	for _, s := range snaps {
		k := keysOf(s.dest)
		e := rueidis.LuaExec{
			Keys: []string{k.members(), k.refs(), k.nodes(), k.version()},
			Args: []string{channelOf(partitionOf(s.dest)), s.dest, strconv.FormatInt(p.o.Grace.Milliseconds(), 10)},
		}
		for _, node := range s.nodes {
			if node != p.o.Node && !p.o.Alive(node) {
				e.Keys = append(e.Keys, k.onNode(node))
				e.Args = append(e.Args, node)
			}
		}
		if len(e.Args) > 3 {
			execs = append(execs, e)
		}
	}
	if len(execs) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	took := false
	for _, r := range evictScript.ExecMulti(ctx, p.client, execs...) {
		n, err := r.AsInt64()
		if err != nil {
			p.log.Warn("redispresence: taking a dead node's members out failed", "err", err)
		}
		took = took || n > 0
	}
	return took
}

// show shows t s, unless the events shown already are as new: applied
// under the partition's applying lock, it cannot overtake an event.
func (p *Presence) show(s snap, t Target) {
	if !s.ok {
		return
	}
	i := partitionOf(s.dest)
	p.applying[i].Lock()
	defer p.applying[i].Unlock()
	p.mu.Lock()
	w := p.watched[s.dest]
	if w == nil || w.synced && w.epoch == s.epoch && w.version >= s.version {
		p.mu.Unlock()
		return
	}
	w.synced, w.epoch, w.version = true, s.epoch, s.version
	p.mu.Unlock()
	t.SetMembers(s.dest, s.members)
	p.shown(w)
}

// showLocal shows t this node's own subscribers of dest, while its
// partition's events are not followed.
func (p *Presence) showLocal(dest string, t Target) {
	i := partitionOf(dest)
	p.applying[i].Lock()
	defer p.applying[i].Unlock()
	p.mu.Lock()
	w := p.watched[dest]
	if w == nil {
		p.mu.Unlock()
		return
	}
	w.synced = false
	members := make([]broker.Member, 0, len(p.local[dest]))
	for sub, e := range p.local[dest] {
		members = append(members, broker.Member{Sub: sub, Name: e.name})
	}
	p.mu.Unlock()
	t.SetMembers(dest, members)
	p.shown(w)
}

// shown closes w's ready channel, once.
func (p *Presence) shown(w *watch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !w.shown {
		w.shown = true
		close(w.ready)
	}
}
