package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/stompd/stompd/stomp/stomptest"
)

// dialWS upgrades with the given query and headers; it returns a raw STOMP
// client over the WebSocket, or the HTTP status of a refused upgrade.
func dialWS(t testing.TB, url string, header http.Header) (*stomptest.Client, int) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"v12.stomp"}, HandshakeTimeout: stomptest.Timeout}
	ws, resp, err := d.Dial(url, header)
	if err != nil {
		if resp != nil {
			return nil, resp.StatusCode
		}
		t.Fatal(err)
	}
	return stomptest.NewClient(t, stomptest.NewMessageConn(ws)), http.StatusSwitchingProtocols
}

// httpJSON does a request with a JSON body and decodes a JSON answer into
// out (when out is not nil); it returns the response.
func httpJSON(t testing.TB, method, url string, in any, out any, header ...string) *http.Response {
	t.Helper()
	var body io.Reader
	switch in := in.(type) {
	case nil:
	case rawJSON:
		body = strings.NewReader(string(in))
	default:
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("%s %s: decoding the answer: %v", method, url, err)
		}
	}
	return resp
}
