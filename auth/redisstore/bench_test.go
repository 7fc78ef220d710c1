package redisstore

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/persist/redistest"
)

// BenchmarkStoreSteps times one step of each kind against a real Redis on
// loopback: what a refresh, a ticket and a login attempt cost in Redis.
func BenchmarkStoreSteps(b *testing.B) {
	r := redistest.Start(b)
	s := New(redistest.Client(b, r.URL()), Options{})
	now := time.Now()
	exp, acc := now.Add(time.Hour), now.Add(15*time.Minute)
	b.Run("rotate", func(b *testing.B) {
		b.ReportAllocs()
		cur := randomHash()
		s.CreateRefresh(cur, "u1", exp, acc)
		for b.Loop() {
			next := randomHash()
			if _, err := s.RotateRefresh(cur, next, exp, acc); err != nil {
				b.Fatal(err)
			}
			cur = next
		}
	})
	b.Run("ticket", func(b *testing.B) {
		b.ReportAllocs()
		l := auth.TicketLimits{Total: 100_000, PerLogin: 32, PerUser: 128}
		for b.Loop() {
			t := auth.Ticket{Hash: randomHash(), Subject: "u1", SID: "s1", Issued: now, Expires: now.Add(30 * time.Second)}
			if err := s.AddTicket(t, l, now); err != nil {
				b.Fatal(err)
			}
			if _, err := s.SpendTicket(t.Hash); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("throttle", func(b *testing.B) {
		b.ReportAllocs()
		l := auth.ThrottleLimits{Pair: 5, Address: 30, Account: 50, Window: 15 * time.Minute}
		for b.Loop() {
			a, _, err := s.Reserve(randomHash(), randomHash(), l, now)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Settle(a, auth.Passed); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func randomHash() (h [32]byte) {
	rand.Read(h[:])
	return h
}
