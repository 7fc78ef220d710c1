package redisqueue

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/redis/rueidis"

	"github.com/stompd/stompd/broker"
)

// read reads up to the credit wanted, within ReadBatch: the entries given
// back first, oldest first, then new ones. When there are none, it waits up
// to Block for new entries; an entry given back meanwhile waits for the
// next read (a blocked read is woken only by new entries). What such a
// read brings goes out after whatever was given back by the time it
// returned. Whatever this node began to give back of the queue before a
// read reaches Redis before it (see awaitGiveBacks). A closed reader takes
// nothing given back: what it reads goes back. A read that finds the group
// gone (the stream was deleted) creates it again.
func (r *reader) read(ctx context.Context) ([]broker.Queued, error) {
	n := min(r.want.Load(), int64(r.q.o.ReadBatch))
	r.q.awaitGiveBacks(ctx, r.key)
	if batch, err := r.take(ctx, n, true); err != nil || len(batch) > 0 {
		return batch, err
	}
	fresh, err := r.block(ctx, n)
	if err != nil || len(fresh) == 0 || !r.live() {
		return fresh, err
	}
	r.q.awaitGiveBacks(ctx, r.key)
	back, err := r.take(ctx, n, false)
	if err != nil {
		r.q.log.Warn("redisqueue: taking given-back messages failed; delivering new ones first", "key", r.key, "error", err)
	}
	return r.ahead(ctx, back, fresh, n), nil
}

// take runs takeScript for up to n entries, new ones too when fresh.
func (r *reader) take(ctx context.Context, n int64, fresh bool) ([]broker.Queued, error) {
	ctx, cancel := context.WithTimeout(ctx, r.q.o.Timeout)
	defer cancel()
	args := []string{group, r.q.o.Node, strconv.FormatInt(n, 10), "0"}
	if fresh {
		args[3] = "1"
	}
	res, err := takeScript.run(ctx, r.q.c, []call{{r.key, args}})[0].ToArray()
	if err != nil {
		return nil, r.fixGroup(ctx, err)
	}
	return taken(res)
}

// block waits up to Block for up to n new entries, once it is the
// reader's turn (Options.Reads); a reader closed while it waits for its
// turn reads nothing.
func (r *reader) block(ctx context.Context, n int64) ([]broker.Queued, error) {
	if !r.turn(ctx) {
		return nil, ctx.Err()
	}
	defer func() { <-r.q.turns }()
	c := r.q.c
	cmd := c.B().Xreadgroup().Group(group, r.q.o.Node).Count(n).Block(r.q.o.Block.Milliseconds()).
		Streams().Key(r.key).Id(">").Build()
	ctx, cancel := context.WithTimeout(ctx, r.q.o.Block+r.q.o.Timeout)
	defer cancel()
	res, err := c.Do(ctx, cmd).AsXRead()
	if rueidis.IsRedisNil(err) {
		return nil, nil
	}
	if err != nil {
		return nil, r.fixGroup(ctx, err)
	}
	out := make([]broker.Queued, 0, len(res[r.key]))
	for _, e := range res[r.key] {
		out = append(out, broker.Queued{Ref: e.ID, Msg: []byte(e.FieldValues["m"])})
	}
	return out, nil
}

// turn waits until fewer than Options.Reads reads wait in Redis and takes
// a place among them; it reports false when the reader is closed or ctx
// ends first.
func (r *reader) turn(ctx context.Context) bool {
	for r.live() {
		select {
		case r.q.turns <- struct{}{}:
			return true
		case <-r.wake: // Want or Close: Close ends the wait
		case <-r.q.stopping:
		case <-ctx.Done():
			return false
		}
	}
	return false
}

// fixGroup creates the queue's group again when err says it is gone, and
// otherwise returns err.
func (r *reader) fixGroup(ctx context.Context, err error) error {
	if e, ok := rueidis.IsRedisErr(err); ok && strings.HasPrefix(e.Error(), "NOGROUP") {
		return r.q.createGroup(ctx, r.key)
	}
	return err
}

// ahead returns back then fresh, at most n: what is beyond goes back to
// the queue at once, as it was, before the next read.
func (r *reader) ahead(ctx context.Context, back, fresh []broker.Queued, n int64) []broker.Queued {
	all := append(back, fresh...)
	if int64(len(all)) <= n {
		return all
	}
	r.giveBack(ctx, refs(all[n:]))
	return all[:n]
}

// refs returns the refs of batch.
func refs(batch []broker.Queued) []string {
	out := make([]string, len(batch))
	for i, m := range batch {
		out[i] = m.Ref
	}
	return out
}

// errTaken is a reply of takeScript that is not id, message, flag triples.
var errTaken = errors.New("redisqueue: malformed reply of the take script")

// taken converts takeScript's reply to what the broker takes.
func taken(res []rueidis.RedisMessage) ([]broker.Queued, error) {
	if len(res)%3 != 0 {
		return nil, errTaken
	}
	out := make([]broker.Queued, 0, len(res)/3)
	for i := 0; i < len(res); i += 3 {
		id, err1 := res[i].ToString()
		m, err2 := res[i+1].ToString()
		flag, err3 := res[i+2].ToString()
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, errors.Join(errTaken, err)
		}
		out = append(out, broker.Queued{Ref: id, Msg: []byte(m), Redelivered: flag == "1"})
	}
	return out, nil
}
