//go:build faults

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClusterSoakUnderFaults makes stompbench's soak the load of the
// cluster fault scenario: 300 subscribers over 30 topics and 4 queues of
// 2 acking consumers each, spread over three child nodes on one Redis
// with an fsynced append-only file, 600 messages a second, 20 connections
// a second churned and resumed, 45 s tokens renewed and refreshed in
// band. While the soak runs, Redis is killed (-9) and restarted, then a
// node is killed (-9) and restarted on its ports. The soak's verdict must
// be clean: exit 0, nothing receipted lost, nothing duplicated or
// corrupt. What it tolerates, and why (SPEC §6, §7):
//
//   - Redis down: a topic SEND's RECEIPT waits until Redis kept the
//     message, a queue SEND's fails with an ERROR, and logins and
//     refreshes answer 503; connections dropped meanwhile (the soak counts
//     them as errors) reconnect with backoff. A SEND never receipted is
//     excused when nobody got it, and due to all when anyone did.
//   - A node down: its connections drop and reconnect to the next node,
//     topic subscribers resuming from their offset out of the history in
//     Redis; SENDs it had not receipted are unconfirmed, as above. Its
//     consumers' unacknowledged queue messages come back redelivered
//     within 30 s, so a queue message is overdue only after -overdue plus
//     30 s, and one that comes back before a RECEIPT confirmed its ACK is
//     no duplicate.
//   - A resume while Redis is down cannot be met (the history is there):
//     its RECEIPT says x-recovered:false, and the soak counts what it
//     skipped as lost unless it arrives later, as the node catches up on
//     the history once Redis is back. Any other resume must be met.
//
// Drift of memory and goroutines is not judged: nodes restart. Run it
// with: go test -tags faults -run TestClusterSoakUnderFaults -count=1 -v
// ./cmd/stompd (about 2 minutes).
func TestClusterSoakUnderFaults(t *testing.T) {
	bench := buildStompbench(t)
	c := startFaultCluster(t, 3, 2000, "--access-ttl", "45s")
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.stompAddr
	}
	ada := c.users["ada"]
	cmd := exec.Command(bench, "-scenario", "soak", "-tcp", strings.Join(addrs, ","),
		"-auth-url", c.nodes[0].url, "-auth-login", ada.email+":"+ada.password,
		"-conns", "300", "-rate", "600", "-queues", "4", "-churn", "20", "-duration", soakPublish.String(),
		"-drain", "40s", "-sample-every", "2s", "-settle", "10s",
		"-max-rss-drift", "1000", "-max-goroutine-drift", "1000", "-json", "-quiet")
	var out strings.Builder
	rows, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = &out, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	began, logged := logRows(t, rows)
	marks := c.runSoakPhases(t, began)
	err := cmd.Wait()
	w.Close()
	<-logged
	var r soakVerdict
	if jerr := json.Unmarshal([]byte(out.String()), &r); jerr != nil {
		t.Fatalf("stompbench: %v; its summary is not JSON (%v):\n%s", err, jerr, out.String())
	}
	r.logPhases(t, marks)
	t.Logf("summary: %s", r.line())
	if err != nil || !r.Valid || r.Lost+r.Duplicated+r.Corrupted != 0 {
		t.Errorf("stompbench: %v; lost %d (%d unrecovered), duplicated %d, corrupted %d; first error %q; checks %s",
			err, r.Lost, r.Unrecovered, r.Duplicated, r.Corrupted, r.FirstError, r.Watch.Checks)
	}
	if r.ResumesRecovered == 0 {
		t.Error("no resume recovered")
	}
	r.checkResumes(t, marks)
	if r.Refreshes == 0 || r.Reconnects == 0 {
		t.Errorf("%d in-band refreshes and %d reconnections: the soak did not run its load", r.Refreshes, r.Reconnects)
	}
}

// soakPublish is how long the soak publishes: long enough for the faults,
// their recovery, and the 30 s in which a dead node's queue messages are
// redelivered, before the soak drains.
const soakPublish = 90 * time.Second

// soakPhase is one phase of TestClusterSoakUnderFaults: what the driver
// does at its start, a time into the soak's publishing.
type soakPhase struct {
	name  string
	at    time.Duration
	begin func(t *testing.T, c *faultCluster)
}

var soakPhases = []soakPhase{
	{"steady", 0, func(*testing.T, *faultCluster) {}},
	{"redis killed", 15 * time.Second, func(_ *testing.T, c *faultCluster) { c.redis.Kill() }},
	{"redis back", 23 * time.Second, func(_ *testing.T, c *faultCluster) { c.redis.Restart() }},
	{"node killed", 38 * time.Second, func(t *testing.T, c *faultCluster) { c.killNode(t, 2) }},
	{"node back", 46 * time.Second, func(t *testing.T, c *faultCluster) { c.restartNodeInPlace(t, 2) }},
}

// runSoakPhases begins each phase at its time after began and returns
// when each did, as seconds into the soak's publishing.
func (c *faultCluster) runSoakPhases(t *testing.T, began time.Time) []float64 {
	marks := make([]float64, len(soakPhases))
	for i, p := range soakPhases {
		time.Sleep(time.Until(began.Add(p.at)))
		marks[i] = time.Since(began).Seconds()
		p.begin(t, c)
		t.Logf("phase %q began at %.1fs, took %v", p.name, marks[i], time.Since(began.Add(p.at)).Round(time.Millisecond))
	}
	return marks
}

// restartNodeInPlace starts node i again on its data dir and on the ports
// it had, so that the soak's list of nodes finds it again.
func (c *faultCluster) restartNodeInPlace(t *testing.T, i int) {
	old, _ := c.node(i)
	n := c.restartNodeWith(t, i, "--http", strings.TrimPrefix(old.url, "http://"), "--stomp", old.stompAddr)
	if n.stompAddr != old.stompAddr {
		t.Fatalf("node %s came back on %s, not %s", n.name, n.stompAddr, old.stompAddr)
	}
}

// buildStompbench builds cmd/stompbench into the test's temporary dir.
func buildStompbench(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "stompbench")
	if out, err := exec.Command("go", "build", "-o", bin, "../stompbench").CombinedOutput(); err != nil {
		t.Fatalf("go build stompbench: %v\n%s", err, out)
	}
	return bin
}

// logRows logs the soak's sample rows (its stderr, with -json) as they
// come, until stderr ends, when logged closes. It returns when publishing
// began: the first row comes one -sample-every (2 s) after it.
func logRows(t *testing.T, stderr io.Reader) (began time.Time, logged chan struct{}) {
	first := make(chan time.Time, 1)
	logged = make(chan struct{})
	go func() {
		defer close(logged)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case first <- time.Now().Add(-2 * time.Second):
			default:
			}
			t.Log(sc.Text())
		}
	}()
	select {
	case began = <-first:
	case <-time.After(time.Minute):
		t.Fatal("the soak printed no sample within a minute")
	}
	return began, logged
}

// soakVerdict is what the test reads of stompbench's JSON summary.
type soakVerdict struct {
	soakCounts
	Lost        uint64 `json:"lost"`
	Unrecovered uint64 `json:"unrecovered"`
	Unconfirmed uint64 `json:"unconfirmed"`
	Excused     uint64 `json:"excused"`
	Due         uint64 `json:"due"`
	FirstError  string `json:"first_error"`
	Valid       bool   `json:"valid"`
	Watch       struct {
		Checks  json.RawMessage `json:"checks"`
		Samples []struct {
			Seconds float64    `json:"seconds"`
			Totals  soakCounts `json:"totals"`
		} `json:"samples"`
	} `json:"watch"`
}

// soakCounts are the soak's cumulative totals.
type soakCounts struct {
	Published, Delivered, Duplicated, Redelivered, Corrupted, Overdue, Reconnects, Refreshes, Errors uint64

	ResumesRecovered   uint64 `json:"resumes_recovered"`
	ResumesUnrecovered uint64 `json:"resumes_unrecovered"`
}

// line is the summary's figures in one line.
func (r *soakVerdict) line() string {
	return fmt.Sprintf("published %d of %d due, delivered %d, lost %d, duplicated %d, redelivered before their ACK was confirmed %d, "+
		"unconfirmed %d (excused %d), resumes %d met and %d not, reconnections %d, refreshes %d, errors %d",
		r.Published, r.Due, r.Delivered, r.Lost, r.Duplicated, r.Redelivered, r.Unconfirmed, r.Excused,
		r.ResumesRecovered, r.ResumesUnrecovered, r.Reconnects, r.Refreshes, r.Errors)
}

// logPhases logs what the soak did in each phase, from its samples: the
// totals' growth between the phase's marks, the last phase running to
// the end of the run (its drain included).
func (r *soakVerdict) logPhases(t *testing.T, marks []float64) {
	t.Logf("%-13s %9s %10s %6s %7s %8s %7s %7s %7s %7s", "phase", "published", "delivered", "dup", "redeliv", "overdue",
		"reconn", "errors", "resumed", "not met")
	for i, p := range soakPhases {
		from, to := r.at(marks[i]), r.soakCounts
		if i+1 < len(marks) {
			to = r.at(marks[i+1])
		}
		t.Logf("%-13s %9d %10d %6d %7d %8d %7d %7d %7d %7d", p.name, to.Published-from.Published, to.Delivered-from.Delivered,
			to.Duplicated-from.Duplicated, to.Redelivered-from.Redelivered, to.Overdue, to.Reconnects-from.Reconnects,
			to.Errors-from.Errors, to.ResumesRecovered-from.ResumesRecovered, to.ResumesUnrecovered-from.ResumesUnrecovered)
	}
}

// at returns the totals of the last sample taken by secs into the run.
func (r *soakVerdict) at(secs float64) soakCounts {
	var c soakCounts
	for _, s := range r.Watch.Samples {
		if s.Seconds <= secs {
			c = s.Totals
		}
	}
	return c
}

// checkResumes fails the test on a resume not met outside the Redis
// outage, as the samples see it: between the last sample before Redis was
// killed and the last one within redisCatchUp of its restart.
func (r *soakVerdict) checkResumes(t *testing.T, marks []float64) {
	from, to := r.at(marks[1]), r.at(marks[2]+redisCatchUp.Seconds())
	if n := r.ResumesUnrecovered - (to.ResumesUnrecovered - from.ResumesUnrecovered); n != 0 {
		t.Errorf("%d resumes not met while Redis was up", n)
	}
}

// redisCatchUp bounds how long after Redis's restart a resume begun
// during the outage may still be answered x-recovered:false.
const redisCatchUp = 5 * time.Second
