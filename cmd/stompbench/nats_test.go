package main

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stompd/stompd/stomp"
)

// natsStream is what nats-server could send a subscriber: the greeting,
// a PONG for CONNECT's PING, messages with and without a reply subject,
// a PING, and a PONG for SUB's PING.
const natsStream = "INFO {\"server_id\":\"x\",\"max_payload\":1048576}\r\n" +
	"PONG\r\n" +
	"MSG bench.a.0 1 5\r\nhello\r\n" +
	"+OK\r\n" +
	"MSG bench.a.0 1 _INBOX.x 0\r\n\r\n" +
	"PING\r\n" +
	"MSG bench.a.0 1 12\r\nhello\r\nworld\r\n" +
	"PONG\r\n"

// decodeAll feeds the decoder p in pieces cut at the given points and
// returns the frames as text.
func decodeAll(t *testing.T, d *natsDecoder, p []byte, cuts ...int) []string {
	t.Helper()
	var got []string
	prev := 0
	for _, end := range append(cuts, len(p)) {
		chunk := p[prev:end]
		prev = end
		for len(chunk) > 0 {
			n, f, err := d.Decode(chunk)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			chunk = chunk[n:]
			if f != nil {
				got = append(got, f.Command.String()+" "+f.Value("receipt-id")+" "+string(f.Body))
			}
		}
	}
	return got
}

// Every cut of the stream into two reads, and one byte per read, decode
// to the same frames, and the PING is answered once.
func TestNATSDecoder(t *testing.T) {
	want := []string{"CONNECTED  ", "MESSAGE  hello", "MESSAGE  ", "MESSAGE  hello\r\nworld", "RECEIPT pong "}
	p := []byte(natsStream)
	check := func(name string, cuts ...int) {
		pings := 0
		d := natsProtocol{}.newDecoder(nil, 100).(*natsDecoder)
		d.ping = func() error { pings++; return nil }
		got := decodeAll(t, d, p, cuts...)
		if strings.Join(got, "|") != strings.Join(want, "|") || pings != 1 {
			t.Errorf("%s: got %q and %d PINGs, want %q and 1", name, got, pings, want)
		}
	}
	for cut := range len(p) {
		check("cut at "+strconv.Itoa(cut), cut)
	}
	bytewise := make([]int, len(p)-1)
	for i := range bytewise {
		bytewise[i] = i + 1
	}
	check("byte by byte", bytewise...)
}

func TestNATSDecoderErrors(t *testing.T) {
	for _, in := range []string{
		"MSG s 1 101\r\n",     // past the body limit
		"MSG s 1 x\r\n",       // no size
		"MSG s 1 2\r\nabcd\n", // no CRLF after the payload
		"HMSG s 1 2 2\r\n",    // headers were not asked for
		strings.Repeat("x", maxNATSLine+1),
	} {
		d := natsProtocol{}.newDecoder(nil, 100)
		if _, _, err := d.Decode([]byte(in)); err == nil {
			t.Errorf("%.20q: no error", in)
		}
	}
	d := natsProtocol{}.newDecoder(nil, 100)
	_, f, err := d.Decode([]byte("-ERR 'Authorization Violation'\r\n"))
	if err != nil || f.Command != stomp.ERROR || f.Value("message") != "Authorization Violation" {
		t.Errorf("-ERR: frame %v, error %v", f, err)
	}
}

// The publisher's hot path allocates no more over NATS than over STOMP.
func TestNATSPublishDoesNotAllocate(t *testing.T) {
	p := newTestPublisher(t, 128)
	p.c.proto = natsProtocol{}
	p = newPublisher(p.c, p.streams, 128, nil, p.clock, p.pace, newNotifier(1), 0)
	if n := testing.AllocsPerRun(100, func() {
		if err := p.c.batch(func(t transport) error { return p.fill(t, p.batch, 1) }); err != nil {
			panic(err)
		}
	}); n > 1 { // the closure handed to batch
		t.Errorf("a batch of %d PUBs allocates %v times", p.batch, n)
	}
}

// startNATS starts nats-server on a free loopback port and returns its
// URL. It skips the test when nats-server is not installed, except under
// CI=true.
func startNATS(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nats-server is missing (apt-get install nats-server)")
		}
		t.Skip("nats-server is not installed (apt-get install nats-server): skipping the core-NATS runs")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	l.Close()
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", port)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return "nats://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEndToEndNATS(t *testing.T) {
	url := startNATS(t)
	const count = 300
	for _, tt := range []struct {
		args      string
		delivered uint64
	}{
		{"-scenario p2p", count},
		{"-scenario fanout -subs 10", 10 * count},
		{"-scenario mesh -subs 3", 9 * count},
		{"-scenario fanout -subs 3 -window 4 -size 70000", 3 * count}, // payloads split over reads
		{"-scenario fanout -subs 2 -rate 5000", 2 * count},
	} {
		t.Run(tt.args, func(t *testing.T) {
			a := append([]string{"-nats", url, "-count", strconv.Itoa(count)}, args(tt.args)...)
			r, code, stderr := runJSON(t, a...)
			if code != exitOK || !r.Valid {
				t.Fatalf("exit %d, report %+v, stderr %s", code, r, stderr)
			}
			if r.Delivered != tt.delivered || r.Expected != tt.delivered || r.Target != url {
				t.Errorf("delivered %d of %d to %s; want %d to %s", r.Delivered, r.Expected, r.Target, tt.delivered, url)
			}
			if r.Latency.Samples == 0 {
				t.Errorf("no latency samples: %+v", r.Latency)
			}
		})
	}
}

func TestNATSRefusals(t *testing.T) {
	for _, a := range []string{
		"-nats nats://127.0.0.1:4222 -scenario queue",
		"-nats nats://127.0.0.1:4222 -login x",
		"-nats 127.0.0.1:4222",
		"-nats nats://127.0.0.1:4222 -tcp 127.0.0.1:61613",
	} {
		if _, err := parseArgs(args(a), new(strings.Builder)); err == nil {
			t.Errorf("%s: accepted", a)
		}
	}
}
