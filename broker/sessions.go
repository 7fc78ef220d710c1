package broker

import (
	"cmp"
	"slices"
	"time"
)

// The transports a Session names.
const (
	TransportTCP       = "tcp"
	TransportWebSocket = "ws"
	TransportSockJS    = "sockjs"
)

// Session is a live STOMP session as Sessions lists it: plain values,
// copied.
type Session struct {
	Subject   string // the identity's Subject
	Name      string // the identity's display Name; may be empty
	SessionID string // the identity's SessionID: the login it belongs to
	Transport string // TransportTCP, TransportWebSocket or TransportSockJS
	// TLS says whether the client reached the server over TLS: a TCP
	// connection's listener, or Options.ClientTLS for an upgrade.
	TLS bool
	// Remote is the client's address: a TCP connection's peer, or
	// Options.ClientAddress for an upgrade (a proxy's client, when the
	// proxy is trusted).
	Remote        string
	Since         time.Time // when its CONNECT succeeded
	Subscriptions int       // its subscriptions, presence ones included
}

// SessionQuery selects the sessions Sessions lists.
type SessionQuery struct {
	Subject string // only this subject's; "" every subject's
	Limit   int    // at most this many; 0 no limit
}

// Sessions returns the established sessions q selects, the longest
// connected first (see CompareSessions), and how many it selected in all,
// which is more than it returns when q.Limit cut the list. A connection
// whose CONNECT has not succeeded, or that is closing, is left out. It
// holds the connection registry's lock only while it copies the registry,
// and each session's identity lock while it reads that identity.
func (b *Broker) Sessions(q SessionQuery) ([]Session, int) {
	var out []Session
	for _, c := range b.snapshot() {
		if s, ok := c.describe(); ok && (q.Subject == "" || s.Subject == q.Subject) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, CompareSessions)
	total := len(out)
	if q.Limit > 0 && total > q.Limit {
		out = out[:q.Limit]
	}
	return out, total
}

// CompareSessions orders sessions by Since, then Subject, then Remote, as
// Sessions lists them.
func CompareSessions(a, b Session) int {
	return cmp.Or(a.Since.Compare(b.Since), cmp.Compare(a.Subject, b.Subject), cmp.Compare(a.Remote, b.Remote))
}

// describe returns c's session, unless it is not established or is
// closing. since is read once connected is seen set, after which the
// reader never writes it again.
func (c *conn) describe() (Session, bool) {
	if !c.connected.Load() || c.closing.Load() {
		return Session{}, false
	}
	id := c.identity()
	return Session{
		Subject: id.Subject, Name: id.Name, SessionID: id.SessionID,
		Transport: c.transportName(), TLS: c.tls, Remote: c.remote,
		Since: c.since, Subscriptions: int(c.nsubs.Load()),
	}, true
}

// transportName names c's transport for Session: SockJS is the only
// WebSocket transport that carries text only.
func (c *conn) transportName() string {
	switch {
	case c.kind == transportTCP:
		return TransportTCP
	case c.textOnly:
		return TransportSockJS
	}
	return TransportWebSocket
}
