package broker

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// TestReadAhead checks that a batchConn reads ahead only while reads fill
// gorilla's buffer, drops its buffer after a quiet read once it is handed
// over, passes every byte on in order, and reports the peer's end.
func TestReadAhead(t *testing.T) {
	srv, cli := net.Pipe()
	defer srv.Close()
	bc := &batchConn{Conn: srv}
	var sent, got bytes.Buffer
	steps := []struct {
		size  int  // written by the peer in one write
		ahead bool // reading ahead once it is read
	}{
		{100, false},           // a quiet client: straight into gorilla's buffer
		{1500, false},          // fills it once: still straight in
		{10 << 10, true},       // fills it twice in a row: read ahead from now on
		{8 << 10, true},        // busy
		{quietRead - 1, false}, // quiet again: the buffer goes once handed over
		{quietRead - 1, false},
	}
	p := make([]byte, 1024) // gorilla's buffer
	for i, s := range steps {
		chunk := bytes.Repeat([]byte{byte('a' + i)}, s.size)
		sent.Write(chunk)
		go cli.Write(chunk)
		for got.Len() < sent.Len() {
			n, err := bc.Read(p)
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			got.Write(p[:n])
		}
		if ahead := bc.ahead.buf != nil; ahead != s.ahead {
			t.Fatalf("step %d (%d bytes): reading ahead %v, want %v", i, s.size, ahead, s.ahead)
		}
	}
	if !bytes.Equal(got.Bytes(), sent.Bytes()) {
		t.Fatal("the bytes read differ from those written")
	}
	cli.Close()
	if n, err := bc.Read(p); n != 0 || err != io.EOF {
		t.Fatalf("after the peer's end: %d, %v", n, err)
	}
}
