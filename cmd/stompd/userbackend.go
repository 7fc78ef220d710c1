package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stompd/stompd/auth/admin"
	"github.com/stompd/stompd/auth/redisstore"
	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/persist"
)

// adminBackend is where a user command's admin API requests go: the
// running server's control socket, or the API run in this process on the
// data dir's store or on Redis. Either way the same API checks and
// applies them.
type adminBackend struct {
	// call sends a request and decodes its answer; a refusal is an
	// *admin.Error.
	call func(method, path string, in, out any) error
}

// withAdmin runs f on the admin API for the user command a: on Redis with
// --redis; otherwise through the control socket of the server running on
// the data dir or, with none running, in this process on the data dir's
// store. A refusal of the API becomes one line naming the subcommand.
func withAdmin(set sharedSettings, a userArgs, stdout io.Writer, f func(adminBackend) error) error {
	var err error
	if set.Redis != "" {
		err = withRedisAdmin(set, f)
	} else {
		err = withDataDirAdmin(set, a, stdout, f)
	}
	target := ""
	if a.email != "" {
		head, tail := clip(a.email)
		target = " " + head + tail
	}
	var e *admin.Error
	switch {
	case errors.As(err, &e):
		return fmt.Errorf("user %s%s: %s", a.sub, target, e.Message)
	case err != nil:
		return fmt.Errorf("user %s%s: %w", a.sub, target, err)
	}
	return nil
}

// withDataDirAdmin runs f through the control socket of the server running
// on the data dir; when none answers there (or the data dir's path is too
// long for a socket), on the data dir's store in this process.
func withDataDirAdmin(set sharedSettings, a userArgs, stdout io.Writer, f func(adminBackend) error) error {
	socket := adminBackend{call: func(method, path string, in, out any) error {
		return callControl(set.DataDir, method, path, in, out)
	}}
	err := f(socket)
	switch {
	case a.sub == "unlock" && errors.Is(err, errNoServer):
		return noServer(set.DataDir, stdout)
	case errors.Is(err, errNoServer), errors.Is(err, errControlPathTooLong) && a.sub != "unlock":
	default:
		return err
	}
	s, err := openUserStore(set.DataDir, a.sub == "add", stdout)
	if errors.Is(err, persist.ErrLocked) {
		return serverWithoutSocket(set.DataDir)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	return f(localAdmin(admin.Options{Users: boltUsers{s}, MinPasswordLength: set.MinPasswordLength}))
}

// withRedisAdmin runs f on the users the nodes of a cluster share in the
// Redis of --redis. The nodes hear the denials the store publishes.
func withRedisAdmin(set sharedSettings, f func(adminBackend) error) error {
	c, err := newRedisClient(set.Redis)
	if err != nil {
		return err
	}
	defer c.Close()
	s := redisstore.New(c, redisstore.Options{})
	return f(localAdmin(admin.Options{Users: redisUsers{s}, Unlock: redisUnlock(s), MinPasswordLength: set.MinPasswordLength}))
}

// localAdmin is the admin API with o run in this process, as the control
// socket's owner: its requests and answers go through the same HTTP
// handler as on the socket, in memory.
func localAdmin(o admin.Options) adminBackend {
	o.Metrics = metrics.New(prometheus.NewRegistry())
	o.Logger = slog.New(slog.DiscardHandler)
	client := &http.Client{Transport: handlerTransport{admin.New(o).Local()}}
	return adminBackend{call: func(method, path string, in, out any) error {
		return callAPI(client, method, path, in, out)
	}}
}

// handlerTransport answers requests with an http.Handler in memory.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, r)
	return w.Result(), nil
}

// serverWithoutSocket is the error for a data dir whose store a server
// holds although its control socket does not answer.
func serverWithoutSocket(dataDir string) error {
	return fmt.Errorf("a server holds %s but its control socket %s does not answer: restart that server, on a shorter --data path if it logged that its control socket is off", dataDir, controlSocket)
}

// noServer checks that no server holds dataDir's store, which would mean
// its control socket is gone, and says that no account is locked: failed
// logins are counted in a running server's memory only.
func noServer(dataDir string, out io.Writer) error {
	if _, err := os.Stat(dataDir); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, storeFile)); err == nil {
		s, err := persist.Open(filepath.Join(dataDir, storeFile), persist.Options{Timeout: lockTimeout})
		if errors.Is(err, persist.ErrLocked) {
			return serverWithoutSocket(dataDir)
		}
		if err != nil {
			return err
		}
		s.Close()
	}
	fmt.Fprintf(out, "no server is running on %s, so no account is locked: failed logins are counted only while a server runs\n", dataDir)
	return nil
}
