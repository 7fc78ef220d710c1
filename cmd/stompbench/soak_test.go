package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/stomp"
)

// TestSoak is the soak of CI: a minute against stompd with 10 s tokens
// refreshed in band and 40 reconnections a second, queue consumers among
// them vanishing with unacknowledged messages, which must lose and
// duplicate nothing, and whose broker may not grow past generous bounds
// (the published figures come from 30-minute runs; see README.md).
func TestSoak(t *testing.T) {
	srv := startStompd(t, "--access-ttl", "10s")
	var out, errs strings.Builder
	code := run([]string{"-scenario", "soak", "-tcp", srv.stomp, "-auth-login", soakUser, "-auth-url", srv.http,
		"-conns", "300", "-rate", "600", "-queues", "4", "-churn", "40", "-duration", "60s", "-drain", "3s",
		"-pid", strconv.Itoa(srv.pid), "-sample-every", "5s", "-settle", "20s",
		"-max-rss-drift", "25", "-max-goroutine-drift", "25", "-json", "-quiet"}, &out, &errs)
	var r soakSummary
	if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
		t.Fatalf("exit %d, summary is not JSON: %v\n%s\n%s", code, err, out.String(), errs.String())
	}
	t.Logf("samples:\n%s", errs.String())
	if code != exitOK || !r.Valid || r.Lost+r.Duplicated+r.Corrupted != 0 {
		t.Fatalf("exit %d, summary %+v, first error %q, checks %+v", code, r, r.FirstError, r.Watch.Checks)
	}
	if r.Errors != 0 || r.FirstError != "" {
		t.Errorf("%d errors, the first: %s", r.Errors, r.FirstError)
	}
	if r.ResumesRecovered == 0 || r.ResumesUnrecovered != 0 {
		t.Errorf("resumes: %d recovered, %d not, want some and none", r.ResumesRecovered, r.ResumesUnrecovered)
	}
	if r.Vanished == 0 || r.Redelivered == 0 {
		t.Errorf("%d queue consumers vanished, %d messages redelivered: want some of each", r.Vanished, r.Redelivered)
	}
	if r.Refreshes < 5*300 {
		t.Errorf("%d in-band refreshes, want at least 5 waves over 300 connections", r.Refreshes)
	}
	if r.Published == 0 || r.Delivered < 9*r.Published || r.Latency.Samples != r.Delivered {
		t.Errorf("published %d, delivered %d, latency samples %d", r.Published, r.Delivered, r.Latency.Samples)
	}
	if n := len(r.Watch.Samples); n < 10 || r.Watch.Samples[n-1].RSSKiB == 0 || !r.Watch.Samples[n-1].Scraped {
		t.Errorf("%d samples, the last %+v: want at least 10, with the broker's RSS and metrics", n, r.Watch.Samples[n-1])
	}
}

// A subscriber that resumes after its topic's history moved past it is
// told x-recovered:false, and what it missed is reported lost, as such.
func TestSoakUnrecoveredResume(t *testing.T) {
	srv := startServer(t, broker.Options{HistorySize: 2}, nil)
	cfg, err := parseArgs([]string{"-scenario", "soak", "-tcp", srv.tcp, "-conns", "1", "-fanout", "1", "-queues", "0",
		"-churn", "0", "-rate", "1000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	s := newSoak(newBench(cfg, io.Discard))
	defer s.closeAll()
	defer s.stopBackground()
	if err := s.connect(ctx); err != nil {
		t.Fatal(err)
	}
	p, sl := s.pubs[0], s.slots[0]
	p.sched = schedule{startNs: s.b.clock.now(), rate: p.rate}
	send := func(n int) { // and wait for the broker's receipt
		t.Helper()
		p.askedAt = -int64(askEvery)
		if err := p.c.Load().batch(func(tr transport) error { return p.fill(tr, n, 0) }); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); p.log.confirmed.Load() < p.total; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("SENDs confirmed up to %d, want %d", p.log.confirmed.Load(), p.total)
			}
		}
	}
	delivered := func(want uint64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); s.totals().Delivered < want; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("delivered %d, want %d", s.totals().Delivered, want)
			}
		}
	}
	send(3)
	delivered(3)
	sl.leave(sl.c.Load(), true)
	send(50) // far more than the 2 the history keeps
	s.reopen(sl)
	send(2)
	delivered(5)
	r := s.summary(time.Second, false)
	if r.ResumesUnrecovered != 1 || r.ResumesRecovered != 0 {
		t.Errorf("resumes: %d recovered, %d not; want 0 and 1", r.ResumesRecovered, r.ResumesUnrecovered)
	}
	if r.Lost != 50 || r.Unrecovered != 50 || r.Valid {
		t.Errorf("lost %d (%d unrecovered), valid %v; want 50 lost, all unrecovered, invalid", r.Lost, r.Unrecovered, r.Valid)
	}
}

// Connections that drop without the soak asking (here, their sockets
// closed under them) count as errors and reconnect: the subscriber
// resumes from the history, the publisher carries on after its
// unconfirmed SENDs, and nothing is lost.
func TestSoakSurvivesDrops(t *testing.T) {
	srv := startServer(t, broker.Options{HistorySize: 1000}, nil)
	cfg, err := parseArgs([]string{"-scenario", "soak", "-tcp", srv.tcp, "-conns", "50", "-fanout", "5", "-queues", "2",
		"-churn", "0", "-rate", "500", "-duration", "2s", "-drain", "2s", "-quiet"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b := newBench(cfg, io.Discard)
	if err := b.login(t.Context()); err != nil {
		t.Fatal(err)
	}
	s := newSoak(b)
	done := make(chan *soakSummary)
	go func() {
		r, err := s.run(t.Context(), io.Discard)
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	for deadline := time.Now().Add(5 * time.Second); s.totals().Published < 200; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the soak did not start publishing")
		}
	}
	for _, c := range []*conn{s.pubs[0].c.Load(), s.slots[0].c.Load(), s.slots[7].c.Load()} {
		_ = c.t.close()
	}
	r := <-done
	if r == nil {
		return
	}
	if !r.Valid || r.Lost != 0 || r.Duplicated != 0 {
		t.Errorf("summary %+v", r)
	}
	if r.Errors < 3 || r.Reconnects < 3 || r.ResumesRecovered < 2 {
		t.Errorf("%d errors, %d reconnects, %d resumes recovered; want 3, 3 and 2 at least", r.Errors, r.Reconnects, r.ResumesRecovered)
	}
}

// soakUser is the user startStompd adds, as -auth-login takes it.
const soakUser = "soak@example.com:soak-password"

// stompdAddrs is where a stompd child process listens.
type stompdAddrs struct {
	stomp, http string
	pid         int
}

// startStompd builds stompd and runs it on free ports with a data
// directory of its own, a user to log in as, and extra flags; it is
// killed when the test ends.
func startStompd(t *testing.T, extra ...string) stompdAddrs {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "stompd")
	build := exec.Command("go", "build", "-o", bin, "../stompd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build stompd: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	email, password, _ := strings.Cut(soakUser, ":")
	if out, err := exec.Command(bin, "user", "add", "--data", data, "--email", email, "--password", password).CombinedOutput(); err != nil {
		t.Fatalf("stompd user add: %v\n%s", err, out)
	}
	a := stompdAddrs{stomp: freeAddr(t), http: freeAddr(t)}
	cmd := exec.Command(bin, append([]string{"--data", data, "--stomp", a.stomp, "--http", a.http}, extra...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	a.http = "http://" + a.http
	waitReady(t, a.http+"/readyz")
	a.pid = cmd.Process.Pid
	return a
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitReady polls url until it answers 200.
func waitReady(t *testing.T, url string) {
	t.Helper()
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %v", url, err)
		}
	}
}

func TestSoakHotPathsDoNotAllocate(t *testing.T) {
	const size = 128
	s := &soak{b: &bench{}, cfg: &config{Size: size}}
	for i := range s.lat {
		s.lat[i].h = newHistogram()
	}
	p := s.addPublisher(1e6, 2, time.Second)
	st := s.addStream(p, "/topic/bench.x.0")
	s.addStream(p, "/topic/bench.x.1")
	p.frames(stomp.V12)
	nc := discardConn(t)
	p.c.Store(&conn{t: &tcpTransport{nc: nc, bw: bufio.NewWriterSize(nc, busyBuffers.write)}, version: stomp.V12})
	p.askedAt = 1 // within askEvery of now: no receipt asked for
	if n := testing.AllocsPerRun(100, func() {
		if err := p.c.Load().batch(func(t transport) error { return p.fill(t, maxBatch, 2) }); err != nil {
			panic(err)
		}
	}); n > 1 { // the closure handed to batch
		t.Errorf("a batch of %d SENDs allocates %v times", maxBatch, n)
	}

	sl := &soakSlot{recv: s.addReceiver(st), epoch: "e1"}
	body, w := newBody(size)
	msg := &stomp.Frame{Command: stomp.MESSAGE, Body: body}
	msg.Add("x-stream-offset", "123456")
	msg.Add("x-stream-epoch", "e1")
	c := &conn{}
	seq := uint64(0)
	st.sent.Store(1 << 40)
	if n := testing.AllocsPerRun(1000, func() {
		w.write(body, stamp{stream: st.id, seq: seq})
		s.slotMessage(sl, c, msg)
		seq++
	}); n != 0 {
		t.Errorf("recording a delivery allocates %v times", n)
	}
	if sl.recv.tr.received < 1000 || sl.offset != 123456 {
		t.Errorf("received %d, offset %d", sl.recv.tr.received, sl.offset)
	}
}
