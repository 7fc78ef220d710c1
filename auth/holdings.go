package auth

import (
	"slices"
	"time"
)

// holdings are the expiries of the outstanding tickets of each holder of
// one kind (logins, or users), each of whom may hold at most limit of
// them. The ticket store's lock guards them.
type holdings struct {
	m      map[string][]time.Time
	holder string // what a key names, for the refusal: "login" or "user"
}

// check refuses a new ticket to key when it holds limit of them, naming
// when its first one expires.
func (h holdings) check(key string, limit int, now time.Time) error {
	held := h.held(key, now)
	if len(held) < limit {
		return nil
	}
	return &TicketLimitError{Holder: h.holder, FirstExpiry: slices.MinFunc(held, time.Time.Compare)}
}

// add counts a ticket of key's that expires at exp.
func (h holdings) add(key string, exp time.Time) {
	h.m[key] = append(h.m[key], exp)
}

// held returns the expiries of key's tickets that are still valid,
// forgetting the others.
func (h holdings) held(key string, now time.Time) []time.Time {
	held := slices.DeleteFunc(h.m[key], func(exp time.Time) bool { return !now.Before(exp) })
	if len(held) == 0 {
		delete(h.m, key)
		return nil
	}
	h.m[key] = held
	return held
}

// forget removes one of key's tickets, the one expiring at exp, once used.
func (h holdings) forget(key string, exp time.Time) {
	held := h.m[key]
	switch i := slices.IndexFunc(held, exp.Equal); {
	case i < 0:
	case len(held) == 1:
		delete(h.m, key)
	default:
		h.m[key] = slices.Delete(held, i, i+1)
	}
}

// sweep forgets every expired ticket.
func (h holdings) sweep(now time.Time) {
	for key := range h.m {
		h.held(key, now)
	}
}
