package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// soakSummary is the soak's outcome: its totals once drained, and what
// they are made of.
type soakSummary struct {
	soakTotals
	Target  string  `json:"target"`
	RunID   string  `json:"run_id"`
	Seconds float64 `json:"seconds"`
	// Lost is every delivery still missing after the drain, Unrecovered
	// those that resumes the broker could not meet in full
	// (x-recovered:false) may have skipped: of the messages sent before
	// their RECEIPT. With -waive-unrecovered (Waived) Lost leaves those
	// out; otherwise it counts them too.
	Lost        uint64 `json:"lost"`
	Unrecovered uint64 `json:"unrecovered"`
	Waived      bool   `json:"unrecovered_waived,omitempty"`
	// Unconfirmed messages were sent on a connection that dropped before
	// their receipt; Excused among them nobody got, and are not lost.
	Unconfirmed uint64  `json:"unconfirmed"`
	Excused     uint64  `json:"excused"`
	Latency     latency `json:"latency_us"`
	Interrupted bool    `json:"interrupted,omitempty"`
	FirstError  string  `json:"first_error,omitempty"`
	// Due is what -rate called for while publishing; a run that
	// published less than minLoad percent of it is invalid.
	Due uint64 `json:"due"`
	// Watch is what the sampler saw: the samples, the minutes and the
	// checks of loss and drift.
	Watch *soakReport `json:"watch"`
	Valid bool        `json:"valid"`
}

// summary totals the soak once it is over.
func (s *soak) summary(took time.Duration, interrupted bool) *soakSummary {
	s.latencies() // into s.all
	r := &soakSummary{
		soakTotals: s.totals(), Target: s.cfg.target(), RunID: s.b.runID, Seconds: took.Seconds(),
		Lost: s.lost(), Latency: latencyOf(s.all), Interrupted: interrupted, Waived: s.cfg.WaiveUnrecovered,
	}
	r.Overdue = r.Lost
	for _, st := range s.streams {
		r.Excused += st.log.excused(st.pos, st.sent.Load())
		r.Unrecovered += st.unrecovered(st.sent.Load())
	}
	for _, p := range s.pubs {
		r.Unconfirmed += p.log.unconfirmedTotal()
	}
	s.errMu.Lock()
	if s.firstErr != nil {
		r.FirstError = s.firstErr.Error()
	}
	s.errMu.Unlock()
	r.Valid = r.Lost+r.Duplicated+r.Corrupted == 0
	return r
}

// write prints r as JSON or as a table.
func (r *soakSummary) write(w io.Writer, asJSON bool) error {
	if asJSON {
		return writeJSON(w, r)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "stompbench soak against %s (run %s)\n", r.Target, r.RunID)
	fmt.Fprintf(&sb, "  %-12s %.1f s", "ran", r.Seconds)
	if r.Interrupted {
		sb.WriteString(", interrupted")
	}
	fmt.Fprintf(&sb, "\n  %-12s published %s of %s due (at least %d%%), delivered %s\n", "messages",
		count(r.Published), count(r.Due), minLoad, count(r.Delivered))
	fmt.Fprintf(&sb, "  %-12s %d, resumes recovered %d, not recovered %d; %d refreshes, %d errors, %d logins or refreshes passed on to the next -auth-url\n",
		"reconnects", r.Reconnects, r.ResumesRecovered, r.ResumesUnrecovered, r.Refreshes, r.Errors, r.AuthFailovers)
	writeLatency(&sb, r.Latency)
	waived := ""
	if r.Waived {
		waived = " more, waived"
	}
	fmt.Fprintf(&sb, "  %-12s lost %d (%d%s after resumes not recovered), duplicated %d, corrupted %d; unconfirmed %d (%d reached nobody, excused); redelivered before their ACK was confirmed %d (%d consumers vanished holding some)\n",
		"checks", r.Lost, r.Unrecovered, waived, r.Duplicated, r.Corrupted, r.Unconfirmed, r.Excused, r.Redelivered, r.Vanished)
	if r.Watch != nil {
		r.Watch.writeChecks(&sb)
	}
	writeVerdict(&sb, "first error", r.FirstError, r.Valid)
	_, err := io.WriteString(w, sb.String())
	return err
}

// runSoak runs the soak scenario and prints its summary; it returns the
// exit code.
func runSoak(ctx context.Context, cfg config, stdout, stderr io.Writer) int {
	b := newBench(cfg, stderr)
	if err := b.login(ctx); err != nil {
		fmt.Fprintln(stderr, "stompbench:", err)
		return exitFailed
	}
	rows := stdout
	if cfg.JSON {
		rows = stderr
	}
	r, err := newSoak(b).run(ctx, rows)
	if err == nil {
		err = r.write(stdout, cfg.JSON)
	}
	switch {
	case err != nil:
		fmt.Fprintln(stderr, "stompbench:", err)
		return exitFailed
	case !r.Valid:
		return exitFailed
	}
	return exitOK
}
