//go:build unix

package main

import "golang.org/x/sys/unix"

// storeRoom is the free space the data dir's file system must have again
// before a store that could not write counts as writing: on a full disk
// some commits still succeed, those that fit in the free pages of the
// store's file, and they do not end the outage.
const storeRoom = 256 << 10

// roomToWrite reports whether the file system of dir has storeRoom bytes
// free for an unprivileged writer, or cannot tell.
func roomToWrite(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return true
	}
	return st.Bavail*uint64(st.Bsize) >= storeRoom
}
