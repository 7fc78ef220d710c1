// Package disktest gives tests a data dir whose disk they can fill and
// free again, so that they exercise the real write path of a store (bbolt
// growing its file, writing its pages) when it fails for want of space.
//
// As root, the dir is a small tmpfs mounted for the test (unmounted when
// it ends), and Fill writes a filler file until the filesystem answers
// ENOSPC. Where mounting is not permitted, Fill instead limits the size of
// the files a process may write (RLIMIT_FSIZE, set with prlimit(2) on the
// process that writes: the test's own, or a child's) to what its files
// hold on disk now, so that a store that must grow gets EFBIG; Go ignores the
// SIGXFSZ that comes with it. Free removes the filler, or the limit.
// Setting DISKTEST_RLIMIT=1 takes the second way even where the first
// would work, to test it.
package disktest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"unsafe"
)

// Disk is a data dir that a test can fill and free.
type Disk struct {
	Dir   string // the data dir
	Tmpfs bool   // whether Dir is a tmpfs of its own (else Fill limits file sizes)
	pid   int    // the process Fill limited, or 0
	limit syscall.Rlimit
}

// New returns a data dir on a tmpfs of size bytes where the test may
// mount one, and else a plain temporary dir that Fill will fill by a file
// size limit.
func New(t testing.TB, size int64) *Disk {
	t.Helper()
	dir := t.TempDir()
	if os.Getenv("DISKTEST_RLIMIT") == "1" {
		return &Disk{Dir: dir}
	}
	err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(size, 10), "tmpfs", dir).Run()
	if err != nil {
		t.Logf("disktest: cannot mount a tmpfs (%v): filling by RLIMIT_FSIZE instead", err)
		return &Disk{Dir: dir}
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("disktest: unmounting %s: %v", dir, err)
		}
	})
	return &Disk{Dir: dir, Tmpfs: true}
}

// filler is the name of the file that fills a tmpfs.
const filler = ".disktest-filler"

// Fill makes the disk full for pid, the process that writes the store (0
// for the test's own): on a tmpfs it writes a filler file until ENOSPC;
// otherwise it limits pid's file sizes to what the largest file in Dir
// holds on disk now.
func (d *Disk) Fill(t testing.TB, pid int) {
	t.Helper()
	if d.Tmpfs {
		d.fillTmpfs(t)
		return
	}
	if pid == 0 {
		pid = os.Getpid()
	}
	if err := prlimit(pid, nil, &d.limit); err != nil {
		t.Fatalf("disktest: prlimit(%d, RLIMIT_FSIZE): %v", pid, err)
	}
	lim := syscall.Rlimit{Cur: uint64(d.largest(t)), Max: d.limit.Max}
	if err := prlimit(pid, &lim, nil); err != nil {
		t.Fatalf("disktest: prlimit(%d, RLIMIT_FSIZE): %v", pid, err)
	}
	d.pid = pid
	t.Cleanup(func() { prlimit(pid, &d.limit, nil) }) // a test that stops before Free
}

// Free undoes Fill: the disk has room again.
func (d *Disk) Free(t testing.TB) {
	t.Helper()
	if d.Tmpfs {
		if err := os.Remove(filepath.Join(d.Dir, filler)); err != nil {
			t.Fatalf("disktest: removing the filler: %v", err)
		}
		return
	}
	if err := prlimit(d.pid, &d.limit, nil); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("disktest: prlimit(%d, RLIMIT_FSIZE): %v", d.pid, err)
	}
}

// fillTmpfs writes the filler file until the tmpfs has no room left.
func (d *Disk) fillTmpfs(t testing.TB) {
	f, err := os.Create(filepath.Join(d.Dir, filler))
	if err != nil {
		t.Fatalf("disktest: %v", err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err = f.Write(chunk); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("disktest: filling %s: %v, want ENOSPC", d.Dir, err)
	}
}

// largest is what the largest file in Dir holds on disk: its allocated
// blocks, not its size, which a file grown sparse (as bbolt grows its
// own, ahead of the data) exceeds.
func (d *Disk) largest(t testing.TB) int64 {
	entries, err := os.ReadDir(d.Dir)
	if err != nil {
		t.Fatalf("disktest: %v", err)
	}
	var n int64
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		held := info.Size()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			held = min(held, st.Blocks*512)
		}
		n = max(n, held)
	}
	return n
}

// prlimit sets the RLIMIT_FSIZE of pid to lim unless it is nil, storing
// the old one in old unless it is nil.
func prlimit(pid int, lim, old *syscall.Rlimit) error {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_FSIZE,
		uintptr(unsafe.Pointer(lim)), uintptr(unsafe.Pointer(old)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
