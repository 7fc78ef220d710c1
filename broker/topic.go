package broker

import (
	"slices"
	"sync/atomic"
)

// topic fans each message out to every subscriber. Its subscriber list is
// copy-on-write: changed under router.mu, read by publishers without a lock.
type topic struct {
	subs atomic.Pointer[[]*subscription]
}

// add appends s. Called with router.mu held.
func (t *topic) add(s *subscription) {
	var next []*subscription
	if cur := t.subs.Load(); cur != nil {
		next = slices.Clone(*cur)
	}
	next = append(next, s)
	t.subs.Store(&next)
}

// remove drops s and returns how many subscribers remain. Called with
// router.mu held.
func (t *topic) remove(s *subscription) int {
	cur := t.subs.Load()
	if cur == nil {
		return 0
	}
	next := slices.DeleteFunc(slices.Clone(*cur), func(x *subscription) bool { return x == s })
	t.subs.Store(&next)
	return len(next)
}

// fanOut hands m to every subscriber; it never blocks on one. It reports
// whether there was any subscriber.
func (t *topic) fanOut(m *message) bool {
	cur := t.subs.Load()
	if cur == nil || len(*cur) == 0 {
		return false
	}
	for _, s := range *cur {
		s.deliverTopic(m)
	}
	return true
}
