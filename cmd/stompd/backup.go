package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/stompd/stompd/persist"
)

const backupUsage = `Usage:
  stompd backup --data DIR --out FILE

Writes a copy of the data dir's store (users, refresh tokens, denials,
signing keys, persistent queue messages) to FILE, as of one moment. While
a server runs on DIR, the copy comes from it through DIR/stompd.sock and
the server goes on serving; without one, from the store itself. The copy
is checked before it is named FILE; FILE must not exist. --out - writes
the copy, unchecked, to standard output.

To restore: stop the server, and put the copy in place as DIR/stompd.db
(mode 0600). With --redis, the cluster's state lives in Redis: back up
Redis (its RDB snapshots or append-only file) instead.

--data and --config are also read from STOMPD_DATA and STOMPD_CONFIG, and
from the config file.
`

// backupCommand copies the data dir's store to a file.
func backupCommand(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("stompd backup", flag.ContinueOnError)
	flags.SetOutput(stderr)
	var set sharedSettings
	set.declare(flags)
	out := flags.String("out", "", "the file to write the copy to; - for standard output")
	err := parseSettings(flags, args, settingSources{shared: sharedSettingNames(), hint: "stompd backup --help lists them"})
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stderr, backupUsage)
		return err
	case err != nil:
		return err
	case set.Redis != "":
		return usageError{errors.New("backup: with --redis the cluster's state lives in Redis: back up Redis (RDB or AOF) instead")}
	case *out == "":
		return usageError{errors.New("backup: --out FILE is required (- for standard output)")}
	case *out == "-":
		if _, err := backupTo(set.DataDir, stdout); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		return nil
	}
	return backupFile(set.DataDir, *out, stdout)
}

// backupFile writes the copy to a temporary file beside path, syncs and
// checks it, and only then names it path, so that path never holds half
// a copy.
func backupFile(dataDir, path string, stdout io.Writer) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("backup: --out %s exists: remove it or name another file", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return fileError("out", path, err)
	}
	defer os.Remove(tmp.Name())
	n, err := backupTo(dataDir, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if err = errors.Join(err, tmp.Close()); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := persist.Check(tmp.Name()); err != nil {
		return fmt.Errorf("backup: the copy does not check out, so it was not kept: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fileError("out", path, err)
	}
	fmt.Fprintf(stdout, "backed up %s to %s (%d bytes)\n", filepath.Join(dataDir, storeFile), path, n)
	return nil
}

// backupTo writes the copy of dataDir's store to w: from the server
// running on it, or, without one, from the store.
func backupTo(dataDir string, w io.Writer) (int64, error) {
	n, err := backupFromServer(dataDir, w)
	if !errors.Is(err, errNoServer) {
		return n, err
	}
	s, err := openUserStore(dataDir, false, io.Discard)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	return s.Backup(w)
}

// backupFromServer asks the server running on dataDir for the copy. It
// has no time limit, since a large store takes long to copy; a server that
// fails midway cuts the answer off, which the copy's check then refuses.
func backupFromServer(dataDir string, w io.Writer) (int64, error) {
	path, err := controlPath(dataDir)
	if err != nil {
		return 0, err
	}
	resp, err := controlClient(path).Get("http://stompd/backup")
	if err != nil {
		return 0, controlFailure(path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("the server refused the copy: %s", answeredError(resp).Message)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("copying from the server: %w", err)
	}
	return n, nil
}

// handleBackup streams a copy of the store. A failure after the first
// byte aborts the answer, so that the copy is seen to be cut short.
func (s *server) handleBackup(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	n, err := s.store.Backup(w)
	if err != nil {
		s.log.Error("backup failed", "bytes", n, "err", err)
		panic(http.ErrAbortHandler)
	}
	s.log.Info("backup", "bytes", n)
}
