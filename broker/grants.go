package broker

import (
	"slices"
	"time"

	"github.com/stompd/stompd/stomp"
)

// AuthEpocher may be implemented by an Authorizer to let the broker
// remember the SENDs it allowed: a session that sends to a destination
// again, with no credential on the frame, is then not asked about again
// while it keeps its identity, its identity has not expired and the epoch
// has not changed. The broker asks again after any change of identity (a
// refresh, a frame with a fresh token) and from its deadline on.
type AuthEpocher interface {
	// AuthEpoch returns a number that changes whenever a request the
	// Authorizer allowed could be refused if asked again for the same
	// identity for another reason than its expiry: for example when a
	// token or login is denied, or the rules change. A change must be
	// visible to AuthEpoch before the call that makes it returns.
	AuthEpoch() uint64
}

// maxGrants bounds the destinations a session's grants hold; the next one
// starts them afresh.
const maxGrants = 64

// grants are the destinations the Authorizer let the session send to
// without a credential, at epoch, with their routes: owned by the reader,
// forgotten when the identity changes. A SEND to one of them needs neither
// the Authorizer nor a new route (whose key every message keeps).
type grants struct {
	epoch  uint64
	routes map[string]route // by destination as the client wrote it
}

// sendGrant returns the route of a SEND of f to dest that was allowed
// before and still is: f carries no credential, the Authorizer's epoch is
// the one of the grant and the session has not expired at now.
func (c *conn) sendGrant(f *stomp.Frame, dest []byte, now time.Time) (route, bool) {
	e := c.b.h.epocher
	if e == nil || c.grants.routes == nil || credential(f) != (Credential{}) {
		return route{}, false
	}
	if exp := c.expires.Load(); exp != 0 && now.UnixNano() >= exp {
		return route{}, false
	}
	if e.AuthEpoch() != c.grants.epoch {
		c.grants.routes = nil
		return route{}, false
	}
	rt, ok := c.grants.routes[string(dest)]
	return rt, ok
}

// authorizeSend routes a SEND of f to dest and asks the Authorizer about
// it. An allowed one without a credential is remembered under the epoch
// read before asking, so that a change made while it was asked is seen on
// the next frame.
func (c *conn) authorizeSend(f *stomp.Frame, dest []byte) (route, error) {
	rt, err := sendRoute(dest)
	if err != nil {
		return route{}, err
	}
	r := c.request(f)
	r.Destination, r.Owner = rt.key, rt.owner(r.Session.Subject)
	e := c.b.h.epocher
	if e == nil || r.Credential != (Credential{}) {
		return rt, c.authorize(r)
	}
	epoch := e.AuthEpoch()
	if err := c.authorize(r); err != nil {
		return route{}, err
	}
	if c.grants.routes == nil || c.grants.epoch != epoch || len(c.grants.routes) >= maxGrants {
		c.grants = grants{epoch: epoch, routes: make(map[string]route)}
	}
	c.grants.routes[rt.key] = rt
	return rt, nil
}

// sameIdentity reports whether a and b are the same identity in every
// field an Authorizer may decide by.
func sameIdentity(a, b Identity) bool {
	return a.Subject == b.Subject && a.Name == b.Name && a.SessionID == b.SessionID && a.TokenID == b.TokenID &&
		a.Expires.Equal(b.Expires) && slices.Equal(a.Roles, b.Roles)
}
