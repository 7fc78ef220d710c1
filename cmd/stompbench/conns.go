package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// perSourceAddr is how many connections one source address carries: a
// little under the 28,232 ephemeral ports Linux offers by default.
const perSourceAddr = 28000

// sourceAddrs hands out the source address of each new connection: the
// system's choice for the first perSourceAddr, then 127.0.0.2, 127.0.0.3
// and on, perSourceAddr each. It spreads only toward an IPv4 loopback
// target, where every 127/8 address is local. A nil *sourceAddrs always
// leaves the choice to the system. It is safe for concurrent use.
type sourceAddrs struct {
	n atomic.Int64
}

// newSourceAddrs returns the addresses for conns connections to host, or
// nil when they need no spreading.
func newSourceAddrs(host string, conns int) *sourceAddrs {
	if conns <= perSourceAddr {
		return nil
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return nil
	}
	return &sourceAddrs{}
}

func (s *sourceAddrs) next() *net.TCPAddr {
	if s == nil {
		return nil
	}
	block := (s.n.Add(1) - 1) / perSourceAddr
	if block == 0 {
		return nil
	}
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(min(block+1, 254)))}
}

// raiseFileLimit raises the soft limit on open files so that conns
// connections fit, up to the hard limit.
func raiseFileLimit(conns int) error {
	need := uint64(conns) + 256
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	if rl.Cur >= need {
		return nil
	}
	rl.Cur = min(max(need, rl.Cur), rl.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	if rl.Cur < need {
		return fmt.Errorf("%d connections need %d open files, the hard limit is %d (raise it with ulimit -Hn as root)", conns, need, rl.Max)
	}
	return nil
}

// readRSS returns the resident set size of process pid in KiB, from
// /proc/PID/status.
func readRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest) // "1234", "kB"
		if len(fields) != 2 || string(fields[1]) != "kB" {
			return 0, fmt.Errorf("/proc/%d/status: odd VmRSS line %q", pid, sc.Text())
		}
		return strconv.ParseInt(string(fields[0]), 10, 64)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS line", pid)
}

// prepareConns raises the open files limit and reads the broker's RSS
// before the conns scenario connects (0 without -pid).
func (b *bench) prepareConns() (rssKiB int64, err error) {
	if err := raiseFileLimit(b.cfg.Subs + b.cfg.Pubs); err != nil {
		return 0, err
	}
	if b.cfg.PID == 0 {
		return 0, nil
	}
	return readRSS(b.cfg.PID)
}

// hold keeps the idle connections open for cfg.Duration (or until ctx
// ends), then reads the broker's RSS again.
func (b *bench) hold(ctx context.Context, connecting time.Duration, rssBefore int64) *connsReport {
	r := &connsReport{Connections: b.cfg.Conns, ConnectSeconds: connecting.Seconds(), RSSBeforeKiB: rssBefore}
	stop := b.every(func(time.Duration) string { return "holding " + count(uint64(b.cfg.Conns)) + " connections" })
	began := time.Now()
	timer := time.NewTimer(b.cfg.Duration)
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
	stop()
	r.HeldSeconds = time.Since(began).Seconds()
	if b.cfg.PID != 0 {
		after, err := readRSS(b.cfg.PID)
		if err != nil {
			b.fail(err)
			return r
		}
		r.RSSAfterKiB = after
		r.KiBPerConn = float64(after-rssBefore) / float64(b.cfg.Conns)
	}
	return r
}
