package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name  string
		args  string
		check func(t *testing.T, c config)
	}{
		{"defaults", "-tcp 127.0.0.1:61613", func(t *testing.T, c config) {
			want := config{TCP: "127.0.0.1:61613", VHost: "127.0.0.1", Scenario: "p2p", Subs: 1, Pubs: 1, Conns: 1000,
				Size: 128, Duration: 10 * time.Second, Window: 100, Prefetch: 1000, Drain: 5 * time.Second}
			if !equalConfig(c, want) {
				t.Errorf("got  %+v\nwant %+v", c, want)
			}
		}},
		{"fanout default subscribers", "-tcp h:1 -scenario fanout", func(t *testing.T, c config) {
			expect(t, c.Subs == 10 && c.Pubs == 1, "subs %d pubs %d", c.Subs, c.Pubs)
		}},
		{"mesh", "-tcp h:1 -scenario mesh -subs 6", func(t *testing.T, c config) {
			expect(t, c.Subs == 6 && c.Pubs == 6, "subs %d pubs %d", c.Subs, c.Pubs)
		}},
		{"queue", "-tcp h:1 -scenario queue -pubs 3 -subs 5", func(t *testing.T, c config) {
			expect(t, c.Subs == 5 && c.Pubs == 3, "subs %d pubs %d", c.Subs, c.Pubs)
		}},
		{"persistent queue", "-tcp h:1 -scenario queue -persistent", func(t *testing.T, c config) {
			expect(t, c.Persistent, "persistent %v", c.Persistent)
		}},
		{"conns", "-tcp h:1 -scenario conns -conns 30000 -pid 42", func(t *testing.T, c config) {
			expect(t, c.Subs == 30000 && c.Pubs == 1 && c.PID == 42, "subs %d pubs %d pid %d", c.Subs, c.Pubs, c.PID)
		}},
		{"soak's queue overdue follows the redelivery bound", "-tcp h:1 -scenario soak -overdue 5s", func(t *testing.T, c config) {
			expect(t, c.Overdue == 5*time.Second && c.QueueOverdue == 35*time.Second, "overdue %v, queue %v", c.Overdue, c.QueueOverdue)
		}},
		{"soak's queue overdue given", "-tcp h:1 -scenario soak -queue-overdue 2m", func(t *testing.T, c config) {
			expect(t, c.Overdue == 10*time.Second && c.QueueOverdue == 2*time.Minute, "overdue %v, queue %v", c.Overdue, c.QueueOverdue)
		}},
		{"sampler defaults", "-tcp h:1 -duration 30m", func(t *testing.T, c config) {
			expect(t, c.SampleEvery == 5*time.Second && c.Settle == 5*time.Minute && c.MaxRSSDrift == 5 && c.MaxGoroutineDrift == 5,
				"sample every %v, settle %v, drifts %v %v", c.SampleEvery, c.Settle, c.MaxRSSDrift, c.MaxGoroutineDrift)
		}},
		{"stall", "-tcp h:1 -scenario fanout -subs 100 -stall 0.1 -stall-cycles 3 -rate 2000", func(t *testing.T, c config) {
			expect(t, c.Stall == 0.1 && c.StallCycles == 3 && c.stalledPerCycle() == 10 && c.Window == -1,
				"stall %v cycles %d, %d per cycle, window %d", c.Stall, c.StallCycles, c.stalledPerCycle(), c.Window)
		}},
		{"count alone is unbounded in time", "-tcp h:1 -count 500", func(t *testing.T, c config) {
			expect(t, c.Count == 500 && c.Duration == 0, "count %d duration %v", c.Count, c.Duration)
		}},
		{"count and duration", "-tcp h:1 -count 500 -duration 3s", func(t *testing.T, c config) {
			expect(t, c.Count == 500 && c.Duration == 3*time.Second, "count %d duration %v", c.Count, c.Duration)
		}},
		{"window from size", "-tcp h:1 -size 65536", func(t *testing.T, c config) {
			expect(t, c.Window == 31, "window %d, want 2 MiB / (64 KiB + 256) = 31", c.Window)
		}},
		{"unbounded window", "-tcp h:1 -window -1", func(t *testing.T, c config) {
			expect(t, c.Window == -1, "window %d", c.Window)
		}},
		{"headers", "-tcp h:1 -H Authorization:Bearer~x -H x-a:b:c -H x-b:", func(t *testing.T, c config) {
			want := []header{{"Authorization", "Bearer x"}, {"x-a", "b:c"}, {"x-b", ""}}
			expect(t, len(c.Headers) == 3 && c.Headers[0] == want[0] && c.Headers[1] == want[1] && c.Headers[2] == want[2], "headers %v", c.Headers)
		}},
		{"websocket", "-ws wss://example.com:8443/ws -vhost /", func(t *testing.T, c config) {
			expect(t, c.VHost == "/" && c.target() == "wss://example.com:8443/ws", "vhost %q target %q", c.VHost, c.target())
		}},
		{"auth url from websocket", "-ws wss://example.com:8443/ws -auth-login a@b.c:pa:ss", func(t *testing.T, c config) {
			expect(t, c.AuthURL == "https://example.com:8443" && c.authEmail == "a@b.c" && c.authPassword == "pa:ss",
				"auth url %q email %q password %q", c.AuthURL, c.authEmail, c.authPassword)
		}},
		{"auth url default", "-tcp h:1 -auth-login a@b.c:p", func(t *testing.T, c config) {
			expect(t, c.AuthURL == "http://127.0.0.1:8080", "auth url %q", c.AuthURL)
		}},
		{"several nodes", "-tcp a:1,b:2 -auth-login a@b.c:p", func(t *testing.T, c config) {
			expect(t, len(c.targets) == 2 && c.targets[1] == "b:2" && c.VHost == "a" && c.target() == "tcp://a:1,b:2",
				"targets %q vhost %q target %q", c.targets, c.VHost, c.target())
		}},
		{"auth url from the first websocket node", "-ws ws://a:8080/ws,ws://b:8081/ws -auth-login a@b.c:p", func(t *testing.T, c config) {
			expect(t, c.AuthURL == "http://a:8080" && len(c.targets) == 2, "auth url %q targets %q", c.AuthURL, c.targets)
		}},
		{"auth urls of several nodes", "-tcp a:1,b:2 -auth-login a@b.c:p -auth-url http://a:8080,~http://b:8081/", func(t *testing.T, c config) {
			urls := c.authURLs()
			expect(t, len(urls) == 2 && urls[0] == "http://a:8080" && urls[1] == "http://b:8081/", "auth urls %q", urls)
		}},
		{"soak's vanishing consumers", "-tcp h:1 -scenario soak", func(t *testing.T, c config) {
			expect(t, c.Vanish == 0.25, "vanish %v", c.Vanish)
		}},
		{"sendauth with a header token", "-tcp h:1 -scenario sendauth -H Authorization:Bearer~t", func(t *testing.T, c config) {
			expect(t, c.bearer() == "t", "bearer %q", c.bearer())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseArgs(args(tt.args), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseArgsRejects(t *testing.T) {
	tests := []struct{ name, args, want string }{
		{"no target", "", "exactly one of"},
		{"two targets", "-tcp h:1 -ws ws://h/ws", "exactly one of"},
		{"bad tcp", "-tcp nohostport", "-tcp"},
		{"bad ws", "-ws http://h/ws", "not a ws://"},
		{"bad second node", "-tcp h:1,nohostport", `-tcp "nohostport"`},
		{"empty node", "-ws ws://h/ws,", "not a ws://"},
		{"unknown scenario", "-tcp h:1 -scenario storm", "unknown -scenario"},
		{"p2p with subscribers", "-tcp h:1 -subs 3", "one publisher and one subscriber"},
		{"mesh with pubs", "-tcp h:1 -scenario mesh -pubs 2", "set -subs only"},
		{"mesh too large", "-tcp h:1 -scenario mesh -subs 1001", "subscriptions"},
		{"fanout with pubs", "-tcp h:1 -scenario fanout -pubs 2", "one publisher"},
		{"tiny body", "-tcp h:1 -size 47", "too small"},
		{"negative rate", "-tcp h:1 -rate -1", "negative"},
		{"no bound", "-tcp h:1 -duration 0", "bound"},
		{"pid outside conns", "-tcp h:1 -pid 7", "conns"},
		{"pid list for conns", "-tcp h:1 -scenario conns -pid 7,8", "one -pid"},
		{"bad pid", "-tcp h:1 -scenario conns -pid 7,x", ""},
		{"no sampling", "-tcp h:1 -sample-every 0", "-sample-every"},
		{"negative queue overdue", "-tcp h:1 -scenario soak -queue-overdue -1s", "-queue-overdue"},
		{"vanish past all", "-tcp h:1 -scenario soak -vanish 1.5", "-vanish"},
		{"empty auth url", "-tcp h:1 -auth-login a@b.c:p -auth-url http://a:8080,", "empty URL"},
		{"negative drift", "-tcp h:1 -max-rss-drift -1", "-max-rss-drift"},
		{"stall outside fanout", "-tcp h:1 -stall 0.1", "fanout"},
		{"stall everyone", "-tcp h:1 -scenario fanout -stall 1", "fraction"},
		{"stall without duration", "-tcp h:1 -scenario fanout -stall 0.1 -rate 10 -count 100", "-duration"},
		{"stall without rate", "-tcp h:1 -scenario fanout -stall 0.1", "-rate"},
		{"stall of all", "-tcp h:1 -scenario fanout -subs 10 -stall 0.2 -stall-cycles 5 -rate 10", "none would be left"},
		{"persistent outside queue", "-tcp h:1 -persistent", "queue scenario"},
		{"no conns", "-tcp h:1 -scenario conns -conns 0", "-conns"},
		{"bad auth login", "-tcp h:1 -auth-login nobody", "email:password"},
		{"sendauth without token", "-tcp h:1 -scenario sendauth", "needs a token"},
		{"stray argument", "-tcp h:1 extra", "unexpected argument"},
		{"bad header", "-tcp h:1 -H nocolon", ""},
		{"unknown flag", "-tcp h:1 -frobnicate", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			_, err := parseArgs(args(tt.args), &out)
			if err == nil {
				t.Fatal("accepted")
			}
			if tt.want == "" {
				if !errors.Is(err, errUsage) || out.Len() == 0 {
					t.Errorf("error %v with output %q, want errUsage and a message", err, out.String())
				}
				return
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	if _, err := parseArgs([]string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("error %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage: stompbench", "-scenario", "-auth-login", "-window"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help does not mention %q", want)
		}
	}
	if code := run([]string{"-h"}, io.Discard, io.Discard); code != exitOK {
		t.Errorf("-h exits %d", code)
	}
	if code := run([]string{"-tcp", "h:1", "-size", "1"}, io.Discard, io.Discard); code != exitUsage {
		t.Errorf("a bad flag exits %d", code)
	}
}

// args splits a command line at spaces; "~" stands for a space inside an
// argument.
func args(s string) []string {
	fs := strings.Fields(s)
	for i := range fs {
		fs[i] = strings.ReplaceAll(fs[i], "~", " ")
	}
	return fs
}

func expect(t *testing.T, ok bool, format string, a ...any) {
	t.Helper()
	if !ok {
		t.Errorf(format, a...)
	}
}

func equalConfig(a, b config) bool {
	return a.TCP == b.TCP && a.VHost == b.VHost && a.Scenario == b.Scenario && a.Subs == b.Subs && a.Pubs == b.Pubs &&
		a.Conns == b.Conns && a.Size == b.Size && a.Duration == b.Duration && a.Window == b.Window &&
		a.Prefetch == b.Prefetch && a.Drain == b.Drain && a.Rate == b.Rate && a.Count == b.Count && a.Warmup == b.Warmup &&
		len(a.Headers) == 0 && a.AuthLogin == "" && !a.JSON
}

// TestNodesOfEachConnection checks how connections spread over several
// nodes: publisher i on node i, subscriber i on node i+1, so that a p2p
// run crosses nodes and fan-out subscribers split evenly.
func TestNodesOfEachConnection(t *testing.T) {
	for _, tc := range []struct {
		args       string
		publishers []string // of publishers 0, 1, ...
		subs       []string // of subscribers 0, 1, ...
	}{
		{"-tcp a:1", []string{"a:1", "a:1"}, []string{"a:1", "a:1"}},
		{"-tcp a:1,b:2", []string{"a:1", "b:2"}, []string{"b:2", "a:1", "b:2", "a:1"}},
		{"-ws ws://a/ws,ws://b/ws,ws://c/ws", []string{"ws://a/ws"}, []string{"ws://b/ws", "ws://c/ws", "ws://a/ws"}},
	} {
		c, err := parseArgs(args(tc.args), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		b := &bench{cfg: c}
		for side, want := range map[bool][]string{true: tc.publishers, false: tc.subs} {
			for i, node := range want {
				d := b.dialerFor(side, i)
				if got := d.tcpAddr + d.wsURL; got != node {
					t.Errorf("%s: publisher %v, connection %d dials %s, want %s", tc.args, side, i, got, node)
				}
			}
		}
	}
}
