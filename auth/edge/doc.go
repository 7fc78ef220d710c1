// Package edge is stompd's HTTP edge: what an HTTP request says about its
// client, and how much of it is believed. TrustedProxies names the
// client's address and scheme behind reverse proxies (X-Forwarded-For,
// X-Forwarded-Proto, read from trusted peers only); Origins is the
// browser allow-list, which governs the WebSocket upgrade and CORS alike.
//
// It imports nothing of stompd's. auth uses it directly; the broker, which
// may not import auth, receives its functions (a client address, an
// origin check) from cmd/stompd.
//
// TrustedProxies and Origins are immutable once parsed and safe for
// concurrent use. Header values are read in place, never kept.
package edge
