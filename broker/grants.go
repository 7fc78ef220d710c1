package broker

import (
	"slices"

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
// without a credential, at epoch: owned by the reader, forgotten when the
// identity changes.
type grants struct {
	epoch uint64
	dests map[string]struct{}
}

// sendGranted reports whether a SEND of f to dest was allowed before and
// still is: f carries no credential, the Authorizer's epoch is the one of
// the grant and the session has not expired.
func (c *conn) sendGranted(f *stomp.Frame, dest string) bool {
	e := c.b.h.epocher
	if e == nil || c.grants.dests == nil || credential(f) != (Credential{}) {
		return false
	}
	if exp := c.expires.Load(); exp != 0 && c.b.now().UnixNano() >= exp {
		return false
	}
	if e.AuthEpoch() != c.grants.epoch {
		c.grants.dests = nil
		return false
	}
	_, ok := c.grants.dests[dest]
	return ok
}

// authorizeSend asks the Authorizer about r, a SEND, and remembers an
// allowed one without a credential under the epoch read before asking, so
// that a change made while it was asked is seen on the next frame.
func (c *conn) authorizeSend(r Request) error {
	e := c.b.h.epocher
	if e == nil || r.Credential != (Credential{}) {
		return c.authorize(r)
	}
	epoch := e.AuthEpoch()
	if err := c.authorize(r); err != nil {
		return err
	}
	if c.grants.dests == nil || c.grants.epoch != epoch || len(c.grants.dests) >= maxGrants {
		c.grants = grants{epoch: epoch, dests: make(map[string]struct{})}
	}
	c.grants.dests[r.Destination] = struct{}{}
	return nil
}

// sameIdentity reports whether a and b are the same identity in every
// field an Authorizer may decide by.
func sameIdentity(a, b Identity) bool {
	return a.Subject == b.Subject && a.Name == b.Name && a.SessionID == b.SessionID && a.TokenID == b.TokenID &&
		a.Expires.Equal(b.Expires) && slices.Equal(a.Roles, b.Roles)
}
