package admin

import (
	"context"
	"net/http"
	"strconv"
)

// record is what an action adds to its log line: its target, when the
// path does not name it (a user or client it creates), and attributes
// such as the fields an update changed. It never holds a secret.
type record struct {
	target string
	attrs  []any
}

type recordKey struct{}

// withRecord returns r with an empty record for its action to fill.
func withRecord(r *http.Request) (*http.Request, *record) {
	rec := &record{target: r.PathValue("id")}
	return r.WithContext(context.WithValue(r.Context(), recordKey{}, rec)), rec
}

// note sets the target of r's log line to target, unless it is empty,
// and adds attrs (key, value pairs) to it.
func note(r *http.Request, target string, attrs ...any) {
	rec, ok := r.Context().Value(recordKey{}).(*record)
	if !ok {
		return
	}
	if target != "" {
		rec.target = target
	}
	rec.attrs = append(rec.attrs, attrs...)
}

type peerKey struct{}

// WithPeerUID returns ctx for a request on the control socket from a
// process of user id uid, which Local then names as its actor.
func WithPeerUID(ctx context.Context, uid int) context.Context {
	return context.WithValue(ctx, peerKey{}, uid)
}

// PeerUID returns the uid WithPeerUID gave ctx, if any.
func PeerUID(ctx context.Context) (int, bool) {
	uid, ok := ctx.Value(peerKey{}).(int)
	return uid, ok
}

// localActor is who a request on the control socket acts as: LocalActor
// and the peer's uid, when known.
func localActor(ctx context.Context) string {
	uid, ok := PeerUID(ctx)
	if !ok {
		return LocalActor
	}
	return LocalActor + " uid " + strconv.Itoa(uid)
}
