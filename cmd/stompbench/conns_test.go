package main

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stompd/stompd/broker"
)

func TestSourceAddrs(t *testing.T) {
	tests := []struct {
		host   string
		conns  int
		spread bool
	}{
		{"127.0.0.1", perSourceAddr, false},
		{"127.0.0.1", perSourceAddr + 1, true},
		{"localhost", 100000, true},
		{"10.0.0.1", 100000, false},
		{"::1", 100000, false},
		{"broker.example.com", 100000, false},
	}
	for _, tt := range tests {
		if got := newSourceAddrs(tt.host, tt.conns) != nil; got != tt.spread {
			t.Errorf("newSourceAddrs(%q, %d) spreads: %v, want %v", tt.host, tt.conns, got, tt.spread)
		}
	}
	var none *sourceAddrs
	if none.next() != nil {
		t.Error("nil sourceAddrs picks an address")
	}
	s := newSourceAddrs("127.0.0.1", 3*perSourceAddr)
	for i := range 3 * perSourceAddr {
		a := s.next()
		switch {
		case i < perSourceAddr && a != nil:
			t.Fatalf("connection %d bound to %v", i, a)
		case i >= perSourceAddr && (a == nil || !a.IP.Equal(net.IPv4(127, 0, 0, byte(1+i/perSourceAddr)))):
			t.Fatalf("connection %d bound to %v", i, a)
		}
	}
}

// A connection past the first block really leaves from 127.0.0.2.
func TestSpreadConnectionsReachTheBroker(t *testing.T) {
	srv := startServer(t, broker.Options{}, nil)
	s := newSourceAddrs("127.0.0.1", 2*perSourceAddr)
	s.n.Store(perSourceAddr)
	c, err := connect(context.Background(), dialer{tcpAddr: srv.tcp}, idleBuffers, s, []header{{"accept-version", "1.2"}, {"host", "x"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.run(func(err error) { t.Errorf("reader: %v", err) })
	defer c.close(true, handshakeTimeout)
	local := c.t.(*tcpTransport).nc.LocalAddr().(*net.TCPAddr)
	if !local.IP.Equal(net.IPv4(127, 0, 0, 2)) {
		t.Errorf("connected from %v, want 127.0.0.2", local)
	}
}

func TestRaiseFileLimit(t *testing.T) {
	if err := raiseFileLimit(10); err != nil {
		t.Errorf("10 connections: %v", err)
	}
	if err := raiseFileLimit(1 << 40); err == nil || !strings.Contains(err.Error(), "hard limit") {
		t.Errorf("2^40 connections: %v, want an error naming the hard limit", err)
	}
}

func TestReadRSS(t *testing.T) {
	kib, err := readRSS(os.Getpid())
	if err != nil || kib <= 0 {
		t.Errorf("own RSS: %d KiB, %v", kib, err)
	}
	if _, err := readRSS(1 << 30); err == nil {
		t.Error("RSS of a process that does not exist")
	}
}

func TestEndToEndConnsReportsRSS(t *testing.T) {
	srv := startServer(t, broker.Options{}, nil)
	r, code, stderr := runJSON(t, "-tcp", srv.tcp, "-scenario", "conns", "-conns", "40", "-duration", "10ms", "-pid", strconv.Itoa(os.Getpid()))
	if code != exitOK || !r.Valid || r.Conns == nil {
		t.Fatalf("exit %d, report %+v, stderr %s", code, r, stderr)
	}
	c := r.Conns
	if c.Connections != 40 || c.RSSBeforeKiB <= 0 || c.RSSAfterKiB <= 0 || c.KiBPerConn != float64(c.RSSAfterKiB-c.RSSBeforeKiB)/40 {
		t.Errorf("conns report %+v", c)
	}
	if r.Delivered != 40 || r.Expected != 40 {
		t.Errorf("delivered %d of %d, want one to each of 40", r.Delivered, r.Expected)
	}
}
