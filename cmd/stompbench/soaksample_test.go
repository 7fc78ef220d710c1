package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stompd/stompd/metrics"
)

// fakeTraffic is a soakTraffic whose totals and latencies the test sets.
type fakeTraffic struct {
	mu   sync.Mutex
	t    soakTotals
	hist *histogram
}

func newFakeTraffic() *fakeTraffic { return &fakeTraffic{hist: newHistogram()} }

func (f *fakeTraffic) totals() soakTotals {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeTraffic) latencies() *histogram {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.hist
	f.hist = newHistogram()
	return h
}

// deliver adds n deliveries of latency lat and as many publications.
func (f *fakeTraffic) deliver(n int, lat time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.hist.record(int64(lat))
	}
	f.t.Published += uint64(n)
	f.t.Delivered += uint64(n)
	f.t.Conns = 7
}

// metricsServer serves a real stompd metrics registry with promhttp.
func metricsServer(t *testing.T) (*httptest.Server, *metrics.Set) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return srv, m
}

func TestSamplerReadsTrafficAndBroker(t *testing.T) {
	srv, m := metricsServer(t)
	m.Connections.WithLabelValues(metrics.TransportTCP).Set(3)
	m.Connections.WithLabelValues(metrics.TransportWebSocket).Set(2)
	m.MessagesDropped.WithLabelValues(metrics.DropSlowConsumer).Add(40)
	m.MessagesDropped.WithLabelValues(metrics.DropNoSubscriber).Add(2)
	m.SlowConsumerDisconnects.Add(1)

	tr := newFakeTraffic()
	out := filepath.Join(t.TempDir(), "samples.jsonl")
	// Two nodes, both this process and the same registry: the sums double.
	cfg := &config{SampleEvery: 30 * time.Millisecond, MetricsURL: srv.URL + "," + srv.URL,
		PIDs: []int{os.Getpid(), os.Getpid()}, MaxRSSDrift: 1000, MaxGoroutineDrift: 1000, SamplesOut: out}
	s := newSampler(cfg, tr)
	s.minute = 100 * time.Millisecond
	var rows strings.Builder
	// Samples every 30 ms of the sampler's time: 10 of them, over 3 minutes.
	for i := range 10 {
		tr.deliver(100, time.Millisecond)
		s.take(context.Background(), s.began.Add(time.Duration(i+1)*30*time.Millisecond), &rows)
	}
	tr.deliver(10, 3*time.Millisecond)
	s.lastMinute()
	r := s.finish(tr.totals())

	if len(r.Samples) != 10 || len(r.Minutes) != 4 {
		t.Fatalf("%d samples, %d minutes; rows:\n%s", len(r.Samples), len(r.Minutes), rows.String())
	}
	smp := r.Samples[len(r.Samples)-1]
	expect(t, smp.Scraped && smp.Connections == 10 && smp.Dropped == 84 && smp.SlowCuts == 2,
		"figures %+v, want connections 10, dropped 84, slow cuts 2", smp.brokerFigures)
	expect(t, smp.Goroutines > 0 && smp.HeapInuse > 0 && smp.RSSKiB > 0, "goroutines %v heap %v rss %d", smp.Goroutines, smp.HeapInuse, smp.RSSKiB)
	expect(t, len(smp.Nodes) == 2 && smp.Nodes[1].Connections == 5 && smp.Nodes[1].RSSKiB > 0, "nodes %+v", smp.Nodes)
	var delivered uint64
	for _, m := range r.Minutes {
		delivered += m.Latency.Samples
	}
	expect(t, delivered == 1010, "minutes hold %d deliveries, want all 1010", delivered)
	expect(t, r.Minutes[len(r.Minutes)-1].Latency.Max >= 3000, "the last minute's max %v µs, want the 3 ms at the end", r.Minutes[len(r.Minutes)-1].Latency.Max)
	if !r.ok() {
		t.Errorf("checks failed: %+v", r.Checks)
	}
	text := rows.String()
	expect(t, strings.HasPrefix(text, "    time") && strings.Contains(text, "-- minute 3: p50 1.00ms"), "rows:\n%s", text)
	expect(t, r.Samples[1].PublishRate > 3000 && r.Samples[1].PublishRate < 3500, "rate %v, want 100 per 30 ms", r.Samples[1].PublishRate)

	expect(t, countLines(t, out) == len(r.Samples), "%s has %d lines, want %d samples", out, countLines(t, out), len(r.Samples))
}

// TestSamplerRuns checks that run samples until its context ends.
func TestSamplerRuns(t *testing.T) {
	srv, _ := metricsServer(t)
	tr := newFakeTraffic()
	s := newSampler(&config{SampleEvery: 10 * time.Millisecond, MetricsURL: srv.URL}, tr)
	ctx, cancel := context.WithCancel(context.Background())
	var rows strings.Builder
	done := make(chan struct{})
	go func() { s.run(ctx, &rows); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for s.sampled() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	expect(t, s.sampled() >= 2 && strings.Count(rows.String(), "\n") >= 3, "%d samples, rows:\n%s", s.sampled(), rows.String())
}

// sampled is how many samples s has taken.
func (s *sampler) sampled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.samples)
}

// countLines counts the lines of path, each of which must be a JSON sample.
func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var s sample
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		n++
	}
	return n
}

func TestBrokerProbeDefaultURL(t *testing.T) {
	srv, _ := metricsServer(t)
	p := newBrokerProbe(&config{AuthURL: srv.URL + "/"})
	expect(t, len(p.urls) == 1 && p.urls[0] == srv.URL+"/metrics", "urls %v", p.urls)
	p.closeIdle()

	dead := httptest.NewServer(nil)
	dead.Close()
	p = newBrokerProbe(&config{AuthURL: dead.URL})
	expect(t, len(p.urls) == 0, "urls %v from a server that is gone", p.urls)
	s := p.read(context.Background())
	expect(t, len(s.nodes) == 0 && !s.sum.Scraped, "read %+v with nothing to read", s)
}

func TestBrokerProbeNodeDown(t *testing.T) {
	srv, m := metricsServer(t)
	m.Connections.WithLabelValues(metrics.TransportTCP).Set(4)
	dead := httptest.NewServer(nil)
	dead.Close()
	p := newBrokerProbe(&config{MetricsURL: srv.URL + "," + dead.URL})
	defer p.closeIdle()
	s := p.read(context.Background())
	expect(t, len(s.nodes) == 2 && s.nodes[0].Error == "" && s.nodes[1].Error != "", "nodes %+v", s.nodes)
	expect(t, s.sum.Scraped && s.sum.Connections == 4, "sum %+v: the node up alone", s.sum)
}

// series makes samples every 5 s up to last seconds, of RSS rss(t) KiB.
func series(last float64, rss func(t float64) int64) []sample {
	var ss []sample
	for at := 5.0; at <= last; at += 5 {
		ss = append(ss, sample{Seconds: at, RSSKiB: rss(at)})
	}
	return ss
}

func TestDrift(t *testing.T) {
	rssOf := func(s *sample) float64 { return float64(s.RSSKiB) }
	flat := func(float64) int64 { return 100_000 }
	tests := []struct {
		name     string
		samples  []sample
		settle   time.Duration
		measured bool
		pct      float64
	}{
		{"no samples", nil, time.Minute, false, 0},
		{"ends before settle", series(50, flat), time.Minute, false, 0},
		{"ends at settle", series(60, flat), time.Minute, false, 0},
		{"flat", series(1800, flat), 5 * time.Minute, true, 0},
		{"never measured", series(1800, func(float64) int64 { return 0 }), 5 * time.Minute, false, 0},
		{"10% growth", series(1800, func(t float64) int64 {
			if t >= 1740 {
				return 110_000
			}
			return 100_000
		}), 5 * time.Minute, true, 10},
		// The 90th percentiles: 200,000 - 330 over 300-600 s, and 200,000 - 1,530 over 1500-1800 s.
		{"shrinking", series(1800, func(t float64) int64 { return 200_000 - int64(t) }), 5 * time.Minute, true, -0.6},
		// A few spikes per window (a GC's peaks, a burst) move neither level.
		{"spikes", series(1800, func(t float64) int64 {
			if t == 300 || t == 1800 || t == 1200 || int(t)%300 == 5 {
				return 300_000
			}
			return 100_000
		}), 5 * time.Minute, true, 0},
		// RSS swinging between 100 and 200 MB, as garbage collections make
		// it, near the bottom 7 samples in 10 early on and 3 in 10 late:
		// the medians would grow 100%, the level does not move.
		{"swinging", series(1800, func(t float64) int64 {
			top := int64(3)
			if t > 1000 {
				top = 7
			}
			if int64(t)/5%10 < top {
				return 200_000
			}
			return 100_000
		}), 5 * time.Minute, true, 0},
		// 60 s with settle at 10 s: windows of 25 s, 10-35 and 35-60.
		{"short run", series(60, func(t float64) int64 { return 100_000 + int64(t)*100 }), 10 * time.Second, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := drift(tt.samples, tt.settle, time.Minute, rssOf)
			if ok != tt.measured {
				t.Fatalf("measured %v, want %v (%+v)", ok, tt.measured, d)
			}
			if tt.name == "short run" {
				expect(t, d.baseSpan == "10s-35s" && d.endSpan == "35s-60s" && d.pct > 0, "%+v", d)
				return
			}
			if ok && (d.pct < tt.pct-0.1 || d.pct > tt.pct+0.1) {
				t.Errorf("drift %.2f%%, want %.1f%% (%+v)", d.pct, tt.pct, d)
			}
		})
	}
}

func TestSoakFailsOnRSSGrowth(t *testing.T) {
	srv, _ := metricsServer(t)
	tr := newFakeTraffic()
	cfg := &config{SampleEvery: time.Second, MetricsURL: srv.URL, Settle: 5 * time.Minute, MaxRSSDrift: 5, MaxGoroutineDrift: 5}
	s := newSampler(cfg, tr)
	s.samples = series(1800, func(t float64) int64 { return 100*1024 + int64(t/1800*10*1024) })
	r := s.finish(soakTotals{Published: 10, Delivered: 100})
	if r.ok() {
		t.Fatalf("a run whose RSS grew 10%% passed: %+v", r.Checks)
	}
	var text strings.Builder
	r.writeChecks(&text)
	// The 90th percentiles of 100 + 10·t/1800 MiB over 300-600 s (at 565 s)
	// and 1500-1800 s (at 1770 s).
	want := "FAIL broker RSS drift         +6.5%: 90th percentile 103MiB over 300s-600s, 110MiB over 1500s-1800s; at most +5.0%"
	expect(t, strings.Contains(text.String(), want), "report:\n%s\nwant the line %q", text.String(), want)

	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back soakReport
	if err := json.Unmarshal(js, &back); err != nil || back.ok() || len(back.Samples) != len(s.samples) {
		t.Errorf("JSON report: %v, ok %v, %d samples", err, back.ok(), len(back.Samples))
	}
}

func TestSoakFailsOnLoss(t *testing.T) {
	srv, _ := metricsServer(t)
	s := newSampler(&config{SampleEvery: time.Second, MetricsURL: srv.URL}, newFakeTraffic())
	r := s.finish(soakTotals{Overdue: 3, Duplicated: 1})
	failed := map[string]bool{}
	for _, c := range r.Checks {
		failed[c.Name] = !c.OK
	}
	expect(t, failed["lost"] && failed["duplicated"] && !failed["corrupted"] && !failed["broker RSS drift"], "checks %+v", r.Checks)
}

// A broker named by -pid and -metrics-url that never answered fails the
// drift checks: a soak whose broker was gone measured nothing.
func TestSoakFailsWhenTheBrokerAskedForWasNeverRead(t *testing.T) {
	cfg := &config{SampleEvery: time.Second, PIDs: []int{1 << 30}, MetricsURL: "http://127.0.0.1:1/metrics", MaxRSSDrift: 5, MaxGoroutineDrift: 5}
	s := newSampler(cfg, newFakeTraffic())
	s.samples = series(1800, func(float64) int64 { return 0 })
	failed := map[string]bool{}
	for _, c := range s.finish(soakTotals{}).Checks {
		failed[c.Name] = !c.OK
	}
	expect(t, failed["broker RSS drift"] && failed["broker goroutines drift"], "checks %+v", failed)
}

func TestSoakSamplerFlagsCheckedAtStart(t *testing.T) {
	base := []string{"-scenario", "soak", "-tcp", "127.0.0.1:1", "-duration", "10s"}
	for _, extra := range [][]string{{"-settle", "1h"}, {"-samples-out", filepath.Join(t.TempDir(), "no", "such", "dir", "x.jsonl")}} {
		if _, err := parseArgs(append(base, extra...), io.Discard); err == nil {
			t.Errorf("%v was accepted", extra)
		}
	}
}
