package main

import (
	"strconv"

	"github.com/stompd/stompd/stomp"
)

// protocol is what a connection speaks: STOMP, or core NATS to set stompd
// beside nats-server. Both decode into stomp.Frame values (MESSAGE,
// RECEIPT, ERROR, CONNECTED), so that the reader, the ledgers and the
// publishers are the same code for both.
type protocol interface {
	// newDecoder returns the decoder of c's reader.
	newDecoder(c *conn, maxBody int) frameDecoder
	// connectFrame opens the session; the server answers CONNECTED.
	connectFrame(headers []header) []byte
	// subscribeFrame subscribes to dest (a /topic/ or /queue/
	// destination) with extra headers and asks for the receipt it returns.
	subscribeFrame(id int, dest, ack string, prefetch int, extra []header, v stomp.Version) (frame []byte, receipt string)
	// disconnectFrame asks for the receipt it returns once the server
	// has handled everything sent before.
	disconnectFrame(v stomp.Version) (frame []byte, receipt string)
	// sendHead is a message to dest up to its body of size bytes.
	sendHead(dest string, size int, extra []header, v stomp.Version) []byte
	// bodyFrame is what follows sendHead: the body, framed, and where in
	// the frame the body starts.
	bodyFrame(body []byte) (frame []byte, at int)
}

// frameDecoder turns the bytes a connection reads into frames. Decode
// consumes some of p and returns at most one frame, valid until the next
// call; it keeps whatever part of a frame p ends with.
type frameDecoder interface {
	Decode(p []byte) (n int, f *stomp.Frame, err error)
	SetVersion(v stomp.Version)
}

// stompProtocol is STOMP 1.0 to 1.2.
type stompProtocol struct{}

func (stompProtocol) newDecoder(_ *conn, maxBody int) frameDecoder {
	return stomp.NewDecoder(stomp.Limits{MaxBodySize: max(stomp.DefaultMaxBodySize, maxBody)})
}

func (stompProtocol) connectFrame(headers []header) []byte {
	frame := stomp.AppendCommand(nil, stomp.CONNECT)
	for _, h := range headers {
		frame = stomp.AppendHeaderString(frame, stomp.CONNECT, h.Key, h.Value, stomp.V12)
	}
	return stomp.AppendBody(frame, nil)
}

func (stompProtocol) subscribeFrame(id int, dest, ack string, prefetch int, extra []header, v stomp.Version) ([]byte, string) {
	sid := strconv.Itoa(id)
	f := stomp.AppendCommand(nil, stomp.SUBSCRIBE)
	f = stomp.AppendHeaderString(f, stomp.SUBSCRIBE, "id", sid, v)
	f = stomp.AppendHeaderString(f, stomp.SUBSCRIBE, "destination", dest, v)
	f = stomp.AppendHeaderString(f, stomp.SUBSCRIBE, "ack", ack, v)
	if prefetch > 0 && ack != "auto" {
		f = stomp.AppendHeaderString(f, stomp.SUBSCRIBE, "prefetch-count", strconv.Itoa(prefetch), v)
	}
	for _, h := range extra {
		f = stomp.AppendHeaderString(f, stomp.SUBSCRIBE, h.Key, h.Value, v)
	}
	f = stomp.AppendHeaderString(f, stomp.SUBSCRIBE, "receipt", "sub-"+sid, v)
	return stomp.AppendBody(f, nil), "sub-" + sid
}

func (stompProtocol) disconnectFrame(v stomp.Version) ([]byte, string) {
	f := stomp.AppendCommand(nil, stomp.DISCONNECT)
	f = stomp.AppendHeaderString(f, stomp.DISCONNECT, "receipt", "bye", v)
	return stomp.AppendBody(f, nil), "bye"
}

func (stompProtocol) sendHead(dest string, size int, extra []header, v stomp.Version) []byte {
	h := stomp.AppendCommand(nil, stomp.SEND)
	h = stomp.AppendHeaderString(h, stomp.SEND, "destination", dest, v)
	h = stomp.AppendHeaderString(h, stomp.SEND, "content-type", "text/plain", v)
	h = stomp.AppendHeaderString(h, stomp.SEND, "content-length", strconv.Itoa(size), v)
	for _, x := range extra {
		h = stomp.AppendHeaderString(h, stomp.SEND, x.Key, x.Value, v)
	}
	return h
}

// bodyFrame is the blank line that ends the headers, the body and NUL.
func (stompProtocol) bodyFrame(body []byte) ([]byte, int) {
	return stomp.AppendBody(nil, body), 1
}
