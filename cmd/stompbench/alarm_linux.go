package main

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// alarm sleeps precisely: it is a kernel timer (timerfd) the network
// poller watches along with the sockets, so a goroutine waiting on it
// wakes within microseconds of the time set even when the process is
// otherwise idle. The runtime's own timers can wake up to a millisecond
// late then, since the poller waits in epoll with a timeout in whole
// milliseconds; a paced publisher would send in bursts and charge the
// delay to the broker. Spinning instead (runtime.Gosched) is worse on one
// CPU: a spinning goroutine keeps the scheduler from polling the network,
// so the readers wait for the runtime's 10 ms background poll.
// An alarm belongs to one goroutine.
type alarm struct {
	fd  int
	f   *os.File
	buf [8]byte // the expiration count read from fd
}

func newAlarm() (*alarm, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("timerfd_create", err)
	}
	// A non-blocking descriptor makes a File the network poller watches.
	return &alarm{fd: fd, f: os.NewFile(uintptr(fd), "timerfd")}, nil
}

// sleep returns after d, at once if d is not above 0. It waits for the
// kernel timer and, through a read deadline, for a runtime timer too:
// while the process is busy the runtime checks its timers at every
// goroutine switch and runs the goroutine whose timer fired next, whereas
// what the poller finds joins the end of the run queue.
func (a *alarm) sleep(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	// Setting the timer also clears an expiry left unread by a sleep
	// that the deadline ended.
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	if err := unix.TimerfdSettime(a.fd, 0, &spec, nil); err != nil {
		return os.NewSyscallError("timerfd_settime", err)
	}
	if err := a.f.SetReadDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	_, err := a.f.Read(a.buf[:])
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return err
}

func (a *alarm) close() error { return a.f.Close() }
