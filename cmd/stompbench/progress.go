package main

import (
	"fmt"
	"time"
)

// every prints line on stderr once a second, with the time since it was
// called, until the returned stop is called. With -quiet it prints nothing.
func (b *bench) every(line func(elapsed time.Duration) string) (stop func()) {
	if b.cfg.Quiet {
		return func() {}
	}
	began := time.Now()
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				elapsed := time.Since(began)
				fmt.Fprintf(b.stderr, "%7.1fs  %s\n", elapsed.Seconds(), line(elapsed))
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// rates returns the progress line of the publishing phase: totals so far
// and their rates over the last second.
func (b *bench) rates(startNs int64) func(time.Duration) string {
	var lastPub, lastDel uint64
	lastNs := startNs
	return func(time.Duration) string {
		var pub, del uint64
		for _, s := range b.tp.streams {
			pub += s.sent.Load()
		}
		for _, l := range b.tp.ledgers {
			del += l.deliveries.Load()
		}
		now := b.clock.now()
		secs := float64(now-lastNs) / 1e9
		line := fmt.Sprintf("published %s (%s/s)  delivered %s (%s/s)",
			count(pub), count(uint64(float64(pub-lastPub)/secs)), count(del), count(uint64(float64(del-lastDel)/secs)))
		if b.cfg.Warmup > 0 && now < startNs+int64(b.cfg.Warmup) {
			line += "  warming up"
		}
		lastPub, lastDel, lastNs = pub, del, now
		return line
	}
}
