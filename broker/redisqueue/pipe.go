package redisqueue

import (
	"context"
	"sync"
)

// pipe is a queue of work for one Run goroutine: callers put without
// blocking, the goroutine takes everything at once.
type pipe[T any] struct {
	mu     sync.Mutex
	items  []T
	bytes  int           // what the items waiting hold, for a bound
	closed bool          // nothing more is taken
	wake   chan struct{} // capacity 1: something was put
}

func (p *pipe[T]) init() { p.wake = make(chan struct{}, 1) }

// put appends t, which holds n bytes, unless the pipe is closed or the
// items waiting would then hold more than limit bytes (limit < 0: no
// bound); it reports whether it did.
func (p *pipe[T]) put(t T, n, limit int) bool {
	p.mu.Lock()
	if p.closed || limit >= 0 && p.bytes+n > limit && len(p.items) > 0 {
		p.mu.Unlock()
		return false
	}
	p.items = append(p.items, t)
	p.bytes += n
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return true
}

// putFront puts back items that could not be handled, before any other.
func (p *pipe[T]) putFront(items []T) {
	p.mu.Lock()
	p.items = append(items, p.items...)
	p.mu.Unlock()
}

// take waits until something was put, and takes everything; ok is false
// once ctx ended.
func (p *pipe[T]) take(ctx context.Context) (items []T, ok bool) {
	for {
		if items = p.drain(); len(items) > 0 {
			return items, true
		}
		select {
		case <-p.wake:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// close refuses every later put, and takes everything waiting.
func (p *pipe[T]) close() []T {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return p.drain()
}

// drain takes everything waiting.
func (p *pipe[T]) drain() []T {
	p.mu.Lock()
	defer p.mu.Unlock()
	items := p.items
	p.items, p.bytes = nil, 0
	return items
}
