//go:build !linux

package main

import "time"

// alarm sleeps on the runtime's timers, which may wake up to a millisecond
// late while the process is otherwise idle (alarm_linux.go uses a kernel
// timer instead). An alarm belongs to one goroutine.
type alarm struct{ t *time.Timer }

func newAlarm() (*alarm, error) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &alarm{t: t}, nil
}

// sleep returns after d, at once if d is not above 0.
func (a *alarm) sleep(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	a.t.Reset(d)
	<-a.t.C
	return nil
}

func (a *alarm) close() error {
	a.t.Stop()
	return nil
}
