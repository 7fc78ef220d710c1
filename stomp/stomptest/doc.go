// Package stomptest is stompd's test kit, in the spirit of net/http/httptest:
// a raw STOMP client (Client) that writes exact bytes to a server and reads
// its frames one by one, an adapter that carries it over a WebSocket
// (MessageConn), a clock a test moves by hand (Clock), and a sink for log
// output (Logs).
//
// It imports only stomp and the standard library, so that the tests of
// every package may use it without adding an edge between stompd's
// packages: the layering rules apply to what packages import, which test
// imports do not change (go list -deps leaves them out). A WebSocket is
// taken as an interface that gorilla/websocket's *Conn satisfies, for the
// same reason.
//
// Every blocking step of a Client is bounded by its Timeout, and what it
// opens is closed when the test ends (t.Cleanup). A Client is used by one
// goroutine at a time; Clock and Logs are safe for concurrent use.
package stomptest
