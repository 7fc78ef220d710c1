package broker

import (
	"net"
	"syscall"
)

// dataWaiter returns a function that waits until nc has bytes to read, or
// an end or error for the next read to return, holding no buffer: an idle
// connection then waits without one (see readbuf.go). It peeks at one byte
// without blocking, and while there is none waits in the runtime's poller
// as a read would. For a connection that is no socket (TLS) the function
// returns at once, and the read waits.
func dataWaiter(nc net.Conn) func() {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return func() {}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return func() {}
	}
	peek := func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN
	}
	// An error (a closed socket, a deadline) is the next read's to report.
	return func() { rc.Read(peek) }
}
