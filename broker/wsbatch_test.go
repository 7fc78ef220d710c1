package broker

import (
	"bytes"
	"net"
	"testing"
)

// writeLog is a net.Conn that records each Write it is given.
type writeLog struct {
	net.Conn
	writes [][]byte
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

	bc.begin()
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
	bc.begin()
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
}
