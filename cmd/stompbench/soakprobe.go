package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// brokerFigures are what the soak reads from a broker's /metrics.
type brokerFigures struct {
	Scraped     bool    `json:"scraped"` // whether the figures below were read
	HeapInuse   float64 `json:"heap_inuse_bytes,omitempty"`
	Goroutines  float64 `json:"goroutines,omitempty"`
	Connections float64 `json:"broker_connections,omitempty"` // stompd_connections, every transport
	Dropped     float64 `json:"messages_dropped,omitempty"`   // stompd_messages_dropped_total, every reason
	SlowCuts    float64 `json:"slow_consumer_disconnects,omitempty"`
}

// add adds o's figures to f's.
func (f *brokerFigures) add(o brokerFigures) {
	if !o.Scraped {
		return
	}
	f.Scraped = true
	f.HeapInuse += o.HeapInuse
	f.Goroutines += o.Goroutines
	f.Connections += o.Connections
	f.Dropped += o.Dropped
	f.SlowCuts += o.SlowCuts
}

// probe is one node's figures in one sample.
type probe struct {
	PID    int    `json:"pid,omitempty"`
	RSSKiB int64  `json:"rss_kib,omitempty"`
	URL    string `json:"metrics_url,omitempty"`
	Error  string `json:"error,omitempty"`
	brokerFigures
}

// brokerProbe reads the broker's RSS from /proc (each -pid) and its
// metrics (each -metrics-url); node i is the i-th of either list.
type brokerProbe struct {
	hc   *http.Client
	urls []string
	pids []int
}

// newBrokerProbe takes -pid and -metrics-url from cfg. Without
// -metrics-url it tries the /metrics of each -auth-url (or its default)
// once, and reads those that answer.
func newBrokerProbe(cfg *config) *brokerProbe {
	p := &brokerProbe{hc: &http.Client{Timeout: metricsTimeout}, pids: cfg.PIDs}
	if cfg.MetricsURL != "" {
		p.urls = strings.Split(cfg.MetricsURL, ",")
		return p
	}
	for _, base := range cfg.authURLs() {
		u := strings.TrimSuffix(base, "/") + "/metrics"
		if _, err := p.scrape(context.Background(), u); err == nil {
			p.urls = append(p.urls, u)
		}
	}
	return p
}

// sampled is one reading of every node.
type sampled struct {
	rss   int64
	sum   brokerFigures
	nodes []probe
}

// read reads every node now. A node that does not answer has an Error
// and counts for nothing in the sums.
func (p *brokerProbe) read(ctx context.Context) sampled {
	var s sampled
	for i := range max(len(p.urls), len(p.pids)) {
		var n probe
		var errs []string
		if i < len(p.pids) {
			n.PID = p.pids[i]
			rss, err := readRSS(n.PID)
			if err != nil {
				errs = append(errs, err.Error())
			}
			n.RSSKiB = rss
		}
		if i < len(p.urls) {
			n.URL = p.urls[i]
			f, err := p.scrape(ctx, n.URL)
			if err != nil {
				errs = append(errs, err.Error())
			}
			n.brokerFigures = f
		}
		n.Error = strings.Join(errs, "; ")
		s.rss += n.RSSKiB
		s.sum.add(n.brokerFigures)
		s.nodes = append(s.nodes, n)
	}
	return s
}

// scrape reads the figures of one broker's Prometheus text.
func (p *brokerProbe) scrape(ctx context.Context, url string) (brokerFigures, error) {
	ctx, cancel := context.WithTimeout(ctx, metricsTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return brokerFigures{}, err
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return brokerFigures{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return brokerFigures{}, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return brokerFigures{}, fmt.Errorf("GET %s: %w", url, err)
	}
	return brokerFigures{
		Scraped:     true,
		HeapInuse:   sumOf(fams["go_memstats_heap_inuse_bytes"]),
		Goroutines:  sumOf(fams["go_goroutines"]),
		Connections: sumOf(fams["stompd_connections"]),
		Dropped:     sumOf(fams["stompd_messages_dropped_total"]),
		SlowCuts:    sumOf(fams["stompd_slow_consumer_disconnects_total"]),
	}, nil
}

// sumOf adds up every series of a gauge, counter or untyped family; nil
// (a family the broker does not export) is 0.
func sumOf(f *dto.MetricFamily) float64 {
	var v float64
	for _, m := range f.GetMetric() {
		switch {
		case m.Gauge != nil:
			v += m.GetGauge().GetValue()
		case m.Counter != nil:
			v += m.GetCounter().GetValue()
		case m.Untyped != nil:
			v += m.GetUntyped().GetValue()
		}
	}
	return v
}

// closeIdle lets go of the connections kept to the brokers.
func (p *brokerProbe) closeIdle() { p.hc.CloseIdleConnections() }
