package main

import (
	"fmt"
	"time"

	"github.com/stompd/stompd/stomp"
)

// The soak renews its token over HTTP when a third of its life is left,
// then sends it in band to every connection, spread over at most
// maxWave and at most waveShare of the new token's life.
const (
	maxWave   = time.Minute
	waveShare = 6
	// refreshID is the receipt of every in-band refresh.
	refreshID = "refresh"
)

// refreshReceipt counts the RECEIPT of an in-band refresh, reporting
// whether f was one.
func (s *soak) refreshReceipt(f *stomp.Frame) bool {
	if id, _ := f.Get("receipt-id"); string(id) != refreshID {
		return false
	}
	s.refreshes.Add(1)
	return true
}

// refreshTokens renews the token before it expires, so that reconnections
// use a valid one, and refreshes every session in band, until the soak
// stops.
func (s *soak) refreshTokens() {
	for {
		exp, err := tokenExpiry(s.b.auth.access())
		if err != nil {
			s.failure(err)
			return
		}
		if !sleep(s.bgCtx, time.Until(exp)*2/3) {
			return
		}
		token, err := s.b.auth.renewToken(s.bgCtx)
		if err != nil {
			if s.bgCtx.Err() != nil {
				return
			}
			s.failure(fmt.Errorf("refreshing the token: %w", err))
			sleep(s.bgCtx, time.Second)
			continue
		}
		hs := s.b.connectHeaders(token)
		s.headers.Store(&hs)
		exp, _ = tokenExpiry(token) // read above already
		spread := min(maxWave, time.Until(exp)/waveShare)
		s.spawn(func() { s.wave(token, spread) })
	}
}

// wave sends SEND /sys/auth/refresh with token and a receipt on every
// connection, evenly over spread.
func (s *soak) wave(token string, spread time.Duration) {
	f := stomp.AppendCommand(nil, stomp.SEND)
	f = stomp.AppendHeaderString(f, stomp.SEND, "destination", "/sys/auth/refresh", stomp.V12)
	f = stomp.AppendHeaderString(f, stomp.SEND, "Authorization", "Bearer "+token, stomp.V12)
	f = stomp.AppendHeaderString(f, stomp.SEND, "receipt", refreshID, stomp.V12)
	f = stomp.AppendBody(f, nil)
	n := len(s.slots) + len(s.pubs)
	began := time.Now()
	for i := range n {
		if !sleep(s.bgCtx, time.Until(began.Add(spread*time.Duration(i)/time.Duration(n)))) {
			return
		}
		var c *conn
		if i < len(s.slots) {
			c = s.slots[i].c.Load()
		} else {
			c = s.pubs[i-len(s.slots)].c.Load()
		}
		if alive(c) == 1 {
			_ = c.writeFlush(f) // a connection that failed reconnects with the new token
		}
	}
}
