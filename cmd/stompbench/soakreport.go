package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// soakReport is what the sampler saw of a whole soak, and its verdict.
type soakReport struct {
	Seconds float64     `json:"seconds"`
	Minutes []minuteRow `json:"minutes"`
	Checks  []soakCheck `json:"checks"`
	Samples []sample    `json:"samples"`
}

// soakCheck is one pass/fail criterion of the soak, with the figures it
// judged.
type soakCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// lastMinute gives the partial last minute its row, once the traffic has
// drained and run has returned.
func (s *sampler) lastMinute() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.minHist.merge(s.tr.latencies())
	if s.minHist.total > 0 {
		s.minutes = append(s.minutes, minuteRow{Minute: len(s.minutes) + 1, Latency: latencyOf(s.minHist)})
		s.minHist = newHistogram()
	}
}

// finish ends the watch, after lastMinute, where final are the traffic's
// last totals: -samples-out is written and the checks are made.
func (s *sampler) finish(final soakTotals) *soakReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.brokers.closeIdle()
	r := &soakReport{Seconds: time.Since(s.began).Seconds(), Minutes: s.minutes, Samples: s.samples}
	r.Checks = append(r.Checks,
		s.driftCheck("broker RSS", "MiB", s.maxRSS, s.rssAsked, func(x *sample) float64 { return float64(x.RSSKiB) / 1024 }),
		s.driftCheck("broker goroutines", "", s.maxGor, s.metricsAsked, func(x *sample) float64 { return x.Goroutines }),
		zeroCheck("lost", final.Overdue), zeroCheck("duplicated", final.Duplicated), zeroCheck("corrupted", final.Corrupted))
	if s.outPath != "" {
		r.Checks = append(r.Checks, writeSamples(s.outPath, s.samples))
	}
	return r
}

// ok reports whether every check passed.
func (r *soakReport) ok() bool {
	return !slices.ContainsFunc(r.Checks, func(c soakCheck) bool { return !c.OK })
}

func zeroCheck(name string, n uint64) soakCheck {
	return soakCheck{Name: name, OK: n == 0, Detail: fmt.Sprintf("%s messages", count(n))}
}

// driftCheck judges how far a figure grew between the settled start of
// the run and its end, at most maxPct percent. A figure never measured
// (value 0 throughout, e.g. no -pid) and a run too short to have both
// windows pass, saying so, unless asked says the command line named where
// the figure comes from.
func (s *sampler) driftCheck(name, unit string, maxPct float64, asked bool, value func(*sample) float64) soakCheck {
	c := soakCheck{Name: name + " drift", OK: true}
	d, ok := drift(s.samples, s.settle, s.minute, value)
	if !ok {
		// Not measured fails only what the command line asked for (-pid,
		// -metrics-url): a broker that never answered, or died, is no pass.
		c.OK = !asked
		c.Detail = "not measured (no figures, or no samples both after -settle and at the end)"
		return c
	}
	c.OK = d.pct <= maxPct
	c.Detail = fmt.Sprintf("%+.1f%%: 90th percentile %s%s over %s, %s%s over %s; at most %+.1f%%",
		d.pct, figure(d.base), unit, d.baseSpan, figure(d.end), unit, d.endSpan, maxPct)
	return c
}

// figure formats a level with three significant digits or more.
func figure(v float64) string {
	if v >= 100 {
		return count(uint64(v + 0.5))
	}
	return fmt.Sprintf("%.3g", v)
}

// driftResult compares a figure's level over two windows of the run.
type driftResult struct {
	base, end         float64
	pct               float64 // growth from base to end
	baseSpan, endSpan string
}

// drift compares the level of value over the samples from settle on with
// its level over the last samples. The level of a window is the 90th
// percentile of its samples: the broker's RSS swings with every garbage
// collection between its live heap and about twice that, and the upper
// end of the swing follows growth, while the median lands anywhere in it
// and one sample at the top decides a maximum. Each window is a fifth of
// the time from settle to the end, at least a minute, or shorter so that
// the two do not overlap. It is false when a window has no sample with
// the figure, or the base is 0.
func drift(samples []sample, settle, minute time.Duration, value func(*sample) float64) (driftResult, bool) {
	if len(samples) == 0 {
		return driftResult{}, false
	}
	from, last := settle.Seconds(), samples[len(samples)-1].Seconds
	w := min(max(minute.Seconds(), (last-from)/5), (last-from)/2)
	if w <= 0 {
		return driftResult{}, false
	}
	base := levelOf(samples, value, func(t float64) bool { return t >= from && t < from+w })
	end := levelOf(samples, value, func(t float64) bool { return t > last-w })
	if base <= 0 || end <= 0 {
		return driftResult{}, false
	}
	return driftResult{
		base: base, end: end, pct: (end - base) / base * 100,
		baseSpan: timeSpan(from, from+w), endSpan: timeSpan(last-w, last),
	}, true
}

func timeSpan(from, to float64) string { return fmt.Sprintf("%.4gs-%.4gs", from, to) }

// levelOf is the 90th percentile (nearest rank) of value over the samples
// whose time is in, leaving out those without the figure (0); 0 if none
// has it.
func levelOf(samples []sample, value func(*sample) float64, in func(float64) bool) float64 {
	var vs []float64
	for i := range samples {
		if v := value(&samples[i]); in(samples[i].Seconds) && v > 0 {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	return vs[(len(vs)*9+9)/10-1]
}

// median is the median of vs, which it sorts; 0 if vs is empty.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	if n := len(vs); n%2 == 0 {
		return (vs[n/2-1] + vs[n/2]) / 2
	}
	return vs[len(vs)/2]
}

// writeSamples writes one sample per line as JSON to path, and says how
// that went as a check.
func writeSamples(path string, samples []sample) soakCheck {
	c := soakCheck{Name: "samples-out", OK: true, Detail: fmt.Sprintf("%d samples in %s", len(samples), path)}
	if err := writeJSONLines(path, samples); err != nil {
		c.OK, c.Detail = false, err.Error()
	}
	return c
}

func writeJSONLines(path string, samples []sample) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i := range samples {
		if err := enc.Encode(&samples[i]); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeChecks prints each minute's latency and each check of r.
func (r *soakReport) writeChecks(sb *strings.Builder) {
	for i := range r.Minutes {
		r.Minutes[i].write(sb)
	}
	for _, c := range r.Checks {
		verdict := "ok  "
		if !c.OK {
			verdict = "FAIL"
		}
		fmt.Fprintf(sb, "  %s %-24s %s\n", verdict, c.Name, c.Detail)
	}
}
