package broker

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// writeLog is a net.Conn that records each Write and write deadline it is
// given.
type writeLog struct {
	net.Conn
	writes    [][]byte
	deadlines []time.Time
}

func (w *writeLog) SetWriteDeadline(t time.Time) error {
	w.deadlines = append(w.deadlines, t)
	return nil
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func TestBatchConn(t *testing.T) {
	under := &writeLog{}
	bc := &batchConn{Conn: under}

	bc.Write([]byte("handshake"))
	if len(under.writes) != 1 {
		t.Fatalf("outside a batch: %d writes, want 1", len(under.writes))
	}

	bc.begin(time.Time{})
	for _, m := range []string{"one", "two", "three"} {
		if n, err := bc.Write([]byte(m)); n != len(m) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", m, n, err)
		}
	}
	if len(under.writes) != 1 {
		t.Fatalf("during a batch: %d writes reached the socket, want none yet", len(under.writes)-1)
	}
	if err := bc.flush(); err != nil {
		t.Fatal(err)
	}
	if len(under.writes) != 2 || string(under.writes[1]) != "onetwothree" {
		t.Fatalf("after flush: writes %q, want one write of the batch in order", under.writes[1:])
	}

	// A batch larger than flushSize leaves in chunks of at least flushSize.
	bc.begin(time.Time{})
	big := bytes.Repeat([]byte("x"), flushSize/2+1)
	for range 5 {
		bc.Write(big)
	}
	bc.flush()
	var total int
	for _, w := range under.writes[2:] {
		total += len(w)
	}
	if got := len(under.writes) - 2; got != 3 || total != 5*len(big) {
		t.Errorf("a %d-byte batch took %d writes of %d bytes in all, want 3 writes of %d", 5*len(big), got, total, 5*len(big))
	}
	if err := bc.flush(); err != nil || len(under.writes) != 5 {
		t.Errorf("a flush outside a batch wrote or failed: %v", err)
	}

	// A part of flushSize or more is written as it is, after what was
	// gathered before it.
	bc.begin(time.Time{})
	bc.Write([]byte("head"))
	huge := bytes.Repeat([]byte("y"), flushSize)
	bc.Write(huge)
	bc.flush()
	if got := under.writes[5:]; len(got) != 2 || string(got[0]) != "head" || len(got[1]) != flushSize {
		t.Errorf("a large part: %d writes, want the gathered bytes then the part", len(got))
	}
}

// TestBatchConnKeepsBatchDeadline checks that a control message written
// during a batch (gorilla sets a short deadline for each) does not shorten
// the batch's own write deadline.
func TestBatchConnKeepsBatchDeadline(t *testing.T) {
	under := &writeLog{}
	bc := &batchConn{Conn: under}
	batchDeadline := time.Now().Add(time.Minute)
	bc.begin(batchDeadline)
	bc.SetWriteDeadline(time.Now().Add(time.Second)) // a pong from the reader
	bc.Write([]byte("pong and frames"))
	bc.flush()
	if len(under.deadlines) != 1 || !under.deadlines[0].Equal(batchDeadline) {
		t.Errorf("deadlines set on the socket: %v, want only the batch's %v", under.deadlines, batchDeadline)
	}
	bc.SetWriteDeadline(batchDeadline.Add(time.Hour)) // outside a batch it passes
	if len(under.deadlines) != 2 {
		t.Errorf("outside a batch the deadline did not reach the socket")
	}
}
