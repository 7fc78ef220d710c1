package main

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stompd/stompd/persist/disktest"
)

// A commit that succeeds on a disk still full, one that fit in the free
// pages of the store's file, does not end the outage; the first one once
// the disk has room again does.
func TestStoreOutageEndsOnlyWithRoomOnTheDisk(t *testing.T) {
	d := disktest.New(t, 1<<20)
	if !d.Tmpfs {
		t.Skip("no tmpfs could be mounted here (not root?): a file size limit leaves the file system's free space as it was")
	}
	d.Fill(t, 0)
	var h health
	onWrite := h.observeStore(slog.New(slog.NewTextHandler(io.Discard, nil)), d.Dir)
	onWrite(errors.New("no space left on device"))
	time.Sleep(storeRecovery + 100*time.Millisecond)
	onWrite(nil)
	if !h.cannotSave.Load() {
		t.Fatal("a commit that succeeded on a full disk ended the outage")
	}
	d.Free(t)
	onWrite(nil)
	if h.cannotSave.Load() {
		t.Fatal("a commit that succeeded on a disk with room again did not end the outage")
	}
}
