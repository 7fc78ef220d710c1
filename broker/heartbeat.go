package broker

import "time"

// negotiateHeartBeat answers a client that can send every cx and wants to
// receive every cy with what the server offers in CONNECTED: sx, how often
// it sends, and sy, how often it wants to hear from the client. A client
// wish is honoured down to floor; without one the server offers offer,
// unless the client offers no heart-beat at all (cx and cy 0, as from every
// STOMP 1.0 client), which is answered 0,0, as RabbitMQ does. Under the
// spec's rule (the larger of the two sides' figures, none when either is 0)
// the server sends every sx when cy > 0 and expects the client every sy
// when cx > 0.
func negotiateHeartBeat(cx, cy, offer, floor time.Duration) (sx, sy time.Duration) {
	if cx == 0 && cy == 0 {
		return 0, 0
	}
	sx, sy = offer, offer
	if cy > 0 {
		sx = max(cy, floor)
	}
	if cx > 0 {
		sy = max(cx, floor)
	}
	return sx, sy
}
