package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/stompd/stompd/auth/admin"
)

// controlSocket is the name, in the data dir, of the running server's
// control socket: an HTTP server on a unix socket of mode 0600, through
// which `stompd user` commands reach the server that holds the store's
// lock. It serves the admin API under /admin/ (see package admin) to the
// socket's owner, and:
//
//	GET /backup → a copy of the store, as application/octet-stream.
const controlSocket = "stompd.sock"

// controlTemp is the private directory, in the data dir, where the
// control socket is made before it is moved into place. With the socket's
// name "s" in it, its path is no longer than the socket's own, so that a
// data dir whose control socket path fits also fits the temporary one.
const controlTemp = ".sock.tmp"

// maxSocketPath is the longest path a unix socket can have: the sun_path
// of struct sockaddr_un less its terminating NUL (107 bytes on Linux, 103
// on macOS and the BSDs).
const maxSocketPath = len(syscall.RawSockaddrUnix{}.Path) - 1

// controlTimeout bounds a command's whole exchange with the server.
const controlTimeout = 10 * time.Second

// maxControlBody bounds the body of a refusal read from the control
// socket.
const maxControlBody = 64 << 10

// errControlPathTooLong: the data dir's path is too long for a unix
// socket in it.
var errControlPathTooLong = errors.New("the data dir path is too long for the control socket")

// controlPath returns the path of dataDir's control socket, as dataDir is
// written (a relative one stays relative, so as short as given), or
// errControlPathTooLong.
func controlPath(dataDir string) (string, error) {
	path := filepath.Join(dataDir, controlSocket)
	if len(path) > maxSocketPath {
		return path, fmt.Errorf("%w: %s is %d bytes, a unix socket's at most %d; name the data dir by a shorter path, relative or through a symlink",
			errControlPathTooLong, path, len(path), maxSocketPath)
	}
	return path, nil
}

// controlServer serves the control endpoints on the data dir's socket.
type controlServer struct {
	path string
	l    net.Listener
	srv  *http.Server
}

// listenControl opens the control socket in dataDir, replacing one that a
// killed server left behind: the caller holds the store's lock, so no
// other server uses it. The socket is made in a private directory and
// moved into place, so it is never reachable with a looser mode than 0600.
// When dataDir's path is too long for a unix socket, it returns an error
// wrapping errControlPathTooLong and the server runs without the socket.
func listenControl(dataDir string, h http.Handler, log *slog.Logger) (*controlServer, error) {
	path, err := controlPath(dataDir)
	if err != nil {
		return nil, err
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	l, err := listenPrivate(filepath.Join(dataDir, controlTemp), path)
	if err != nil {
		return nil, fmt.Errorf("control socket in --data %s: %w", dataDir, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: controlTimeout, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if uid, ok := peerUID(c); ok {
				return admin.WithPeerUID(ctx, uid)
			}
			return ctx
		}}
	return &controlServer{path: path, l: l, srv: srv}, nil
}

// listenPrivate listens on a unix socket at path, made of mode 0600 in
// the directory dir of mode 0700, which a killed server may have left
// behind, and removed again.
func listenPrivate(dir, path string) (net.Listener, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, err
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	if err = os.Chmod(tmp, 0o600); err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// removeStaleSocket removes the socket at path, if there is one; anything
// else there stops the start.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("control socket: %w", err)
	case fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("control socket: %s exists and is not a socket: move it out of the data dir", path)
	}
	return os.Remove(path)
}

func (c *controlServer) serve() error { return c.srv.Serve(c.l) }

func (c *controlServer) shutdown(ctx context.Context) error { return c.srv.Shutdown(ctx) }

// close stops listening and removes the socket.
func (c *controlServer) close() {
	c.l.Close()
	os.Remove(c.path)
}

// controlRoutes are the endpoints of the control socket, which only the
// server's own user and root may use.
func (s *server) controlRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/admin/", s.admin.Local())
	mux.HandleFunc("GET /backup", s.handleBackup)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusNotFound, controlError{"not_found", "no such control endpoint: " + r.Method + " " + r.URL.Path})
	})
	return s.ownerOnly(mux)
}

// ownerOnly refuses, with 403, a peer whose uid is neither the server's
// nor root's: the socket's mode keeps others out, unless someone loosens
// it. Where the kernel does not tell the peer's uid, the mode alone does.
func (s *server) ownerOnly(next http.Handler) http.Handler {
	own := os.Geteuid()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, ok := admin.PeerUID(r.Context())
		if !ok || uid == own || uid == 0 {
			next.ServeHTTP(w, r)
			return
		}
		s.metrics.AdminRequests.WithLabelValues("refused", "forbidden").Inc()
		s.log.Warn("control request refused", "method", r.Method, "path", r.URL.Path, "uid", uid)
		writeControl(w, http.StatusForbidden, controlError{"forbidden",
			fmt.Sprintf("uid %d may not use the control socket: only the server's user (uid %d) and root may", uid, own)})
	})
}

// controlError is the body of a refused control request.
type controlError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeControl(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// errNoServer: nothing listens on the data dir's control socket.
var errNoServer = errors.New("no server listens on the control socket")

// callControl sends a method request to endpoint on the control socket of
// the server running on dataDir, with in as its JSON body unless in is
// nil, and decodes its answer into out unless out is nil. A refusal is
// returned as the *admin.Error the server answered.
func callControl(dataDir, method, endpoint string, in, out any) error {
	path, err := controlPath(dataDir)
	if err != nil {
		return err
	}
	client := controlClient(path)
	client.Timeout = controlTimeout
	err = callAPI(client, method, endpoint, in, out)
	if err != nil && !errors.As(err, new(*admin.Error)) {
		return controlFailure(path, err)
	}
	return err
}

// controlFailure says why a request to the control socket at path failed:
// errNoServer when nothing listens there.
func controlFailure(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return errNoServer
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("cannot reach the server's control socket %s: permission denied: run as the user the server runs as (or root)", path)
	}
	return fmt.Errorf("control socket %s: %w", path, err)
}

// callAPI sends a method request to endpoint with client, with in as its
// JSON body unless in is nil, and decodes its answer into out unless out
// is nil. A refusal is returned as an *admin.Error.
func callAPI(client *http.Client, method, endpoint string, in, out any) error {
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://stompd"+endpoint, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return answeredError(resp)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// answeredError reads the *admin.Error that resp, an answer other than 2xx,
// carries: its message, or its status when it has none.
func answeredError(resp *http.Response) *admin.Error {
	e := &admin.Error{Status: resp.StatusCode}
	json.NewDecoder(io.LimitReader(resp.Body, maxControlBody)).Decode(e)
	if e.Message == "" {
		e.Message = resp.Status
	}
	return e
}

// controlClient returns an HTTP client that reaches the control socket at
// path, whatever URL it is given.
func controlClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return new(net.Dialer).DialContext(ctx, "unix", path)
		},
	}}
}
