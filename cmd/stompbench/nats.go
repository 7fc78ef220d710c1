package main

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/stompd/stompd/stomp"
)

// natsProtocol is core NATS's text protocol (no JetStream, no headers),
// spoken directly rather than through nats.go so that both brokers are
// measured by the same client code: nats.go flushes from a goroutine of
// its own and hands each message to a subscription goroutine, which would
// add a hand-off on the NATS side only and move when a batch leaves.
//
// A topic /topic/X becomes the subject X. NATS has no receipts: a PING
// asks for one, and its PONG (answered in order) stands for the RECEIPT;
// the PONG to the PING sent with CONNECT stands for CONNECTED.
type natsProtocol struct{}

// natsPong is the receipt id every PONG stands for; a connection waits
// for one receipt at a time, so one id serves them all.
const natsPong = "pong"

func (natsProtocol) newDecoder(c *conn, maxBody int) frameDecoder {
	d := &natsDecoder{maxBody: maxBody, ping: func() error { return c.writeFlush([]byte("PONG\r\n")) }}
	d.receipt.Command = stomp.RECEIPT
	d.receipt.Add("receipt-id", natsPong)
	return d
}

// connectFrame ignores headers: the comparison runs nats-server without
// authentication.
func (natsProtocol) connectFrame([]header) []byte {
	return []byte(`CONNECT {"verbose":false,"pedantic":false,"name":"stompbench","lang":"go","protocol":1}` + "\r\nPING\r\n")
}

// subscribeFrame ignores ack, prefetch and extra headers: core NATS has
// none of them (the soak, which needs them, does not run against NATS).
func (natsProtocol) subscribeFrame(id int, dest, _ string, _ int, _ []header, _ stomp.Version) ([]byte, string) {
	return []byte("SUB " + natsSubject(dest) + " " + strconv.Itoa(id+1) + "\r\nPING\r\n"), natsPong
}

func (natsProtocol) disconnectFrame(stomp.Version) ([]byte, string) {
	return []byte("PING\r\n"), natsPong
}

// sendHead ignores extra headers: core NATS messages here have none.
func (natsProtocol) sendHead(dest string, size int, _ []header, _ stomp.Version) []byte {
	return []byte("PUB " + natsSubject(dest) + " " + strconv.Itoa(size) + "\r\n")
}

// bodyFrame is the body and the CRLF that ends it.
func (natsProtocol) bodyFrame(body []byte) ([]byte, int) {
	return append(append([]byte(nil), body...), '\r', '\n'), 0
}

// natsSubject is the subject standing for a /topic/ destination.
func natsSubject(dest string) string { return strings.TrimPrefix(dest, "/topic/") }

// maxNATSLine bounds a control line (an INFO can list a cluster's URLs).
const maxNATSLine = 64 << 10

// natsDecoder reads what nats-server sends: MSG becomes a MESSAGE frame
// with the payload as body, PONG a RECEIPT (the first one CONNECTED),
// -ERR an ERROR; PING is answered at once; INFO and +OK are skipped.
type natsDecoder struct {
	maxBody   int
	ping      func() error // answers a PING
	connected bool         // the first PONG came
	buf       []byte       // an operation split over reads, so far
	held      bool         // the last frame was in buf: empty it first
	msg       stomp.Frame
	receipt   stomp.Frame
	other     stomp.Frame
}

// SetVersion does nothing: NATS has one protocol version.
func (d *natsDecoder) SetVersion(stomp.Version) {}

// Decode parses one operation from p, or carries p over when it ends in
// the middle of one; a carried operation takes from p what completes it.
func (d *natsDecoder) Decode(p []byte) (int, *stomp.Frame, error) {
	if d.held {
		d.buf, d.held = d.buf[:0], false
	}
	if len(d.buf) == 0 {
		n, f, _, err := d.parse(p)
		if n == 0 && err == nil {
			d.buf = append(d.buf, p...)
			return len(p), nil, nil
		}
		return n, f, err
	}
	taken := 0
	for {
		n, f, want, err := d.parse(d.buf)
		if err != nil || n > 0 {
			d.held = true
			return taken, f, err
		}
		rest := p[taken:]
		if len(rest) == 0 {
			return taken, nil, nil
		}
		k := len(rest)
		if want > 0 {
			k = min(k, want-len(d.buf))
		} else if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			k = i + 1
		}
		d.buf = append(d.buf, rest[:k]...)
		taken += k
	}
}

// parse reads the operation b starts with. It returns its length and the
// frame it stands for, nil for those the reader has no use for; or, when
// b holds only part of it, n = 0 and, once the control line is complete,
// the length of the whole operation.
func (d *natsDecoder) parse(b []byte) (n int, f *stomp.Frame, want int, err error) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		if len(b) > maxNATSLine {
			return 0, nil, 0, errors.New("NATS control line too long")
		}
		return 0, nil, 0, nil
	}
	line := bytes.TrimSuffix(b[:i], []byte("\r"))
	verb, args, _ := bytes.Cut(line, []byte(" "))
	switch string(verb) {
	case "MSG":
		return d.parseMsg(b, i+1, args)
	case "PING":
		return i + 1, nil, 0, d.ping()
	case "PONG":
		if !d.connected {
			d.connected = true
			d.other = stomp.Frame{Command: stomp.CONNECTED}
			return i + 1, &d.other, 0, nil
		}
		return i + 1, &d.receipt, 0, nil
	case "INFO", "+OK":
		return i + 1, nil, 0, nil
	case "-ERR":
		d.other = stomp.Frame{Command: stomp.ERROR}
		d.other.Add("message", strings.Trim(string(args), " '"))
		return i + 1, &d.other, 0, nil
	}
	return 0, nil, 0, fmt.Errorf("unexpected NATS operation %q", verb)
}

// parseMsg reads "MSG subject sid [reply-to] size", whose payload starts
// at start in b.
func (d *natsDecoder) parseMsg(b []byte, start int, args []byte) (n int, f *stomp.Frame, want int, err error) {
	size, ok := parseDecimal(args[bytes.LastIndexByte(args, ' ')+1:])
	if !ok || size > d.maxBody {
		return 0, nil, 0, fmt.Errorf("NATS MSG with a bad size: %q", args)
	}
	end := start + size + 2
	if len(b) < end {
		return 0, nil, end, nil
	}
	if b[end-2] != '\r' || b[end-1] != '\n' {
		return 0, nil, 0, errors.New("NATS MSG payload not followed by CRLF")
	}
	d.msg = stomp.Frame{Command: stomp.MESSAGE, Body: b[start : start+size]}
	return end, &d.msg, 0, nil
}

// parseDecimal reads a non-negative decimal number of at most 9 digits.
func parseDecimal(s []byte) (int, bool) {
	if len(s) == 0 || len(s) > 9 {
		return 0, false
	}
	v := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}
