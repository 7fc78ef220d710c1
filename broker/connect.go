package broker

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/stompd/stompd/stomp"
)

// supportedVersions is the version header of the ERROR answering a CONNECT
// that has no version in common with the broker.
const supportedVersions = "1.0,1.1,1.2"

// onConnect handles the first frame, which must be CONNECT or STOMP:
// version and heart-beat negotiation, authentication, CONNECTED.
func (c *conn) onConnect(f *stomp.Frame) error {
	if f.Command != stomp.CONNECT && f.Command != stomp.STOMP {
		return protocolErrorf("expected CONNECT, got %s", f.Command)
	}
	v, err := negotiateVersion(f)
	if err != nil {
		return err
	}
	cx, cy, err := parseHeartBeat(f)
	if err != nil {
		return err
	}
	c.b.watchClosures(c)
	id, err := c.authenticate(f)
	if err == nil {
		c.establish(v, id, cx, cy)
	}
	missed := c.b.missedClosures(c)
	if err != nil {
		return err
	}
	for _, cl := range missed {
		if c.closeIf(cl) {
			break
		}
	}
	return nil
}

// authenticate asks the Authorizer who the CONNECT f is from and checks
// the identity it returns.
func (c *conn) authenticate(f *stomp.Frame) (Identity, error) {
	r := c.request(f)
	r.Login = f.Value(headerLogin)
	id, err := c.b.h.authorizer.Authorize(c.ctx, r)
	if err != nil {
		return Identity{}, hookFailure(err, CodeUnauthorized)
	}
	if c.upgradeSubject != "" && id.Subject != c.upgradeSubject {
		return Identity{}, &frameError{code: CodeUnauthorized, message: "the CONNECT token's subject is not the upgrade's"}
	}
	if strings.Contains(id.Subject, "/") {
		// /user/<subject>/<dest> could not tell such a subject from a
		// destination of another user.
		return Identity{}, &frameError{code: CodeUnauthorized, message: "the subject contains '/', which /user/ destinations cannot name"}
	}
	if !id.Expires.IsZero() && !c.b.now().Before(id.Expires) {
		return Identity{}, &frameError{code: CodeTokenExpired, message: "token expired"}
	}
	return id, nil
}

// establish switches the session to connected and queues CONNECTED.
func (c *conn) establish(v stomp.Version, id Identity, cx, cy time.Duration) {
	c.version = v
	c.dec.SetVersion(v)
	c.dec.SetLimits(c.b.o.limits(true))
	c.setIdentity(id)
	c.id = c.b.sessionPrefix + "-" + strconv.FormatUint(c.b.sessionSeq.Add(1), 10)
	sx, sy := negotiateHeartBeat(cx, cy, c.b.o.HeartBeat, c.b.o.MinHeartBeat)
	if cy > 0 {
		c.lastWrite.Store(c.b.now().UnixNano()) // no heart-beat before CONNECTED
		c.sendEvery.Store(int64(sx))
	}
	if cx > 0 {
		c.lastRead.Store(c.b.now().UnixNano())
		c.recvEvery.Store(int64(sy))
	}
	c.log.Debug("session established", "session", c.id, "user", id.Subject, "version", v.String())
	// Connected before CONNECTED is queued: a client that has read it
	// must find its session visible to CloseSessions and Sessions.
	c.since = c.b.now()
	c.connected.Store(true)
	c.send(stomp.CONNECTED, c.connectedFrame(sx, sy))
	c.rearm()
}

func (c *conn) connectedFrame(sx, sy time.Duration) []byte {
	hb := strconv.FormatInt(sx.Milliseconds(), 10) + "," + strconv.FormatInt(sy.Milliseconds(), 10)
	b := stomp.AppendCommand(nil, stomp.CONNECTED)
	for _, h := range [...][2]string{{"version", c.version.String()}, {"heart-beat", hb}, {"session", c.id}, {"server", c.b.o.ServerName}} {
		b = stomp.AppendHeaderString(b, stomp.CONNECTED, h[0], h[1], c.version)
	}
	return stomp.AppendBody(b, nil)
}

// negotiateVersion picks the highest version in accept-version (1.0 when
// the header is absent).
func negotiateVersion(f *stomp.Frame) (stomp.Version, error) {
	accept, ok := f.Get("accept-version")
	if !ok {
		return stomp.V10, nil
	}
	var best stomp.Version
	for _, s := range bytes.Split(accept, []byte{','}) {
		for _, v := range [...]stomp.Version{stomp.V10, stomp.V11, stomp.V12} {
			if string(bytes.TrimSpace(s)) == v.String() {
				best = max(best, v)
			}
		}
	}
	if best == 0 {
		fe := protocolErrorf("no supported protocol version in accept-version; supported versions are %s", supportedVersions)
		fe.extra = []stomp.Header{{Key: []byte("version"), Value: []byte(supportedVersions)}}
		return 0, fe
	}
	return best, nil
}

// parseHeartBeat reads the client's heart-beat header "cx,cy": it can send
// every cx and wants to receive every cy (0: never).
func parseHeartBeat(f *stomp.Frame) (cx, cy time.Duration, err error) {
	hb, ok := f.Get("heart-beat")
	if !ok {
		return 0, 0, nil
	}
	a, b, found := bytes.Cut(hb, []byte{','})
	x, errX := strconv.ParseUint(string(bytes.TrimSpace(a)), 10, 31)
	y, errY := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 31)
	if !found || errX != nil || errY != nil {
		return 0, 0, protocolErrorf("malformed heart-beat header %q: want two numbers of milliseconds, as in 10000,10000", hb)
	}
	return time.Duration(x) * time.Millisecond, time.Duration(y) * time.Millisecond, nil
}
