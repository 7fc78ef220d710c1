// Package interop holds stompd's interoperability tests: the broker is
// driven by STOMP clients written by others, over real sockets on
// 127.0.0.1, and every check is asserted on what those clients see.
//
// Four clients are exercised:
//
//   - go-stomp (github.com/go-stomp/stomp/v3), over STOMP/TCP;
//   - @stomp/stompjs 7, over WebSocket in Node.js with the ws package as
//     the socket. The Go test runs testdata/stompjs/driver.mjs and drives
//     it with one JSON request per line on its standard input, reading one
//     JSON response per line from its standard output;
//   - ruby-stomp's Stomp::Connection (STOMP 1.2) and Perl's Net::Stomp
//     (STOMP 1.0), over STOMP/TCP. These block on every read, and their
//     users subscribe with a receipt, wait for it, then read: a MESSAGE
//     that came before the RECEIPT would be taken for it and lost. Each
//     runs the scenarios of scripted_test.go as a whole script
//     (testdata/interop/ruby_stomp.rb, net_stomp.pl), which prints ok or
//     says what its client saw instead.
//
// go-stomp and stompjs run the same scenarios (scenarios_test.go: connect
// with heart-beats, send and receive with custom headers and a UTF-8 body,
// a binary body, receipts, client and client-individual ack, NACK
// redelivery, transactions, graceful disconnect) through the small session
// interface in session_test.go. Over WebSocket the test also checks the
// subprotocol the broker chooses, and that every message carries exactly
// one frame in each direction, under a burst too.
//
// Absence is never asserted by waiting: a scenario that must show a
// message was not delivered sends a later one (a fence) and checks that it
// comes first. Waits for the broker are bounded by failure timeouts only.
//
// The stompjs test needs node and the packages of testdata/stompjs:
//
//	npm ci --prefix testdata/stompjs
//
// The scripted tests need the Debian packages ruby-stomp and
// libnet-stomp-perl. Without what they need, tests are skipped, except
// under CI=true where they fail.
//
// The package has no non-test code; nothing in it is for concurrent use
// beyond what each test sets up for itself. The broker runs with its
// default limits and allow-all hooks. Every test checks that no goroutine
// outlives the broker's shutdown.
package interop
