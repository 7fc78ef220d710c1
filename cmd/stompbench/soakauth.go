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
		cr := &credentials{headers: s.b.connectHeaders(token), refresh: refreshFrame(token)}
		s.cred.Store(cr)
		exp, _ = tokenExpiry(token) // read above already
		spread := min(maxWave, time.Until(exp)/waveShare)
		s.spawn(func() { s.wave(cr.refresh, spread) })
	}
}

// credentials are what connections need of the current token: the
// headers of CONNECT, and the frame that refreshes a session in band
// (nil until the first renewal).
type credentials struct {
	headers []header
	refresh []byte
}

// refreshFrame is SEND /sys/auth/refresh with token and a receipt.
func refreshFrame(token string) []byte {
	f := stomp.AppendCommand(nil, stomp.SEND)
	f = stomp.AppendHeaderString(f, stomp.SEND, "destination", "/sys/auth/refresh", stomp.V12)
	f = stomp.AppendHeaderString(f, stomp.SEND, "Authorization", "Bearer "+token, stomp.V12)
	f = stomp.AppendHeaderString(f, stomp.SEND, "receipt", refreshID, stomp.V12)
	return stomp.AppendBody(f, nil)
}

// catchUp refreshes c, just connected with the credentials used, when
// the token was renewed meanwhile: the wave may have passed its slot
// before it was stored there. It is called once c is stored, so that
// either the wave or catchUp sees the other's change.
func (s *soak) catchUp(c *conn, used *credentials) {
	if cr := s.cred.Load(); cr != used {
		_ = c.writeFlush(cr.refresh) // a write error shows on the reader
	}
}

// wave sends frame, an in-band refresh, on every connection, evenly over
// spread.
func (s *soak) wave(frame []byte, spread time.Duration) {
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
			_ = c.writeFlush(frame) // a connection that failed reconnects with the new token
		}
	}
}
