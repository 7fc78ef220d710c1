package admin

import (
	"net/http"

	"github.com/stompd/stompd/auth"
)

// KeyRing rotates and lists the ring of signing keys (an *auth.Service
// does). Both fail with auth.ErrNoKeyRing, saying why, when tokens are
// signed with an HS256 secret or issued elsewhere.
type KeyRing interface {
	RotateKey() (auth.KeyRing, error)
	SigningKeys() (auth.KeyRing, error)
}

// registerKeys registers the signing-key actions when Options.Keys is set:
//
//	GET  /admin/keys         the ring: {"kid", "next", "keys": [{"kid", "created", "signs_from", "verify_until"}]}
//	POST /admin/keys/rotate  a new key, published now, signing from its signs_from; answers the ring as GET does
//
// kid is the key that signs now; the newest key comes first and has no
// verify_until, and while it waits to sign, next is its kid. A rotation
// while one is pending is refused 409 rotation_pending.
func (a *API) registerKeys() {
	keys := a.opts.Keys
	if keys == nil {
		return
	}
	a.handle("GET /admin/keys", "keys.list", func(w http.ResponseWriter, _ *http.Request) error {
		return replyRing(w)(keys.SigningKeys())
	})
	a.handle("POST /admin/keys/rotate", "keys.rotate", func(w http.ResponseWriter, _ *http.Request) error {
		return replyRing(w)(keys.RotateKey())
	})
}

// replyRing returns what answers a ring or the error that refused it.
func replyRing(w http.ResponseWriter) func(auth.KeyRing, error) error {
	return func(ring auth.KeyRing, err error) error {
		if err != nil {
			return err
		}
		return reply(w, http.StatusOK, ring)
	}
}
