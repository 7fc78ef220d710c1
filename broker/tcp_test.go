package broker

import (
	"net"
	"testing"
	"time"
)

// deadlineConn is a net.Conn that records the write deadlines set on it.
type deadlineConn struct {
	net.Conn
	set []time.Time
}

func (d *deadlineConn) SetWriteDeadline(t time.Time) error {
	d.set = append(d.set, t)
	return nil
}

// TestWriteDeadlineSetOncePerGrain checks that batches whose deadlines
// round up to the same grain set the socket's deadline once, that each
// batch has at least its own deadline and less than a grain more, and
// that a raw write sets its deadline as it is.
func TestWriteDeadlineSetOncePerGrain(t *testing.T) {
	const grain = 100 * time.Millisecond
	dc := &deadlineConn{}
	tr := &tcpTransport{nc: dc}
	start := time.Now()
	for _, after := range []time.Duration{0, time.Millisecond, 50 * time.Millisecond, grain, grain + time.Millisecond, 2 * grain} {
		d := start.Add(after)
		if err := tr.setDeadline(d, grain); err != nil {
			t.Fatal(err)
		}
		if got := dc.set[len(dc.set)-1]; got.Before(d) || got.Sub(d) >= grain {
			t.Errorf("a batch due by start+%v has the deadline start+%v", after, got.Sub(start))
		}
	}
	if len(dc.set) != 3 {
		t.Errorf("the deadline was set %d times for batches in 3 grains: %v", len(dc.set), dc.set)
	}
	raw := start.Add(grain / 3)
	if err := tr.setDeadline(raw, 0); err != nil {
		t.Fatal(err)
	}
	if got := dc.set[len(dc.set)-1]; !got.Equal(raw) {
		t.Errorf("a raw write due by start+%v has the deadline start+%v", raw.Sub(start), got.Sub(start))
	}
}
