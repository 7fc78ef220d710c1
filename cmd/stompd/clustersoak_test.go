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

	"github.com/stompd/stompd/persist/redistest"
)

// TestClusterSoakShort is the short version of TestClusterSoakUnderFaults
// (faults tag), which says what the soak must tolerate and why, for every
// go test: 60 subscribers over 6 topics on three child nodes and an
// fsynced Redis, 150 messages a second, 10 connections a second churned
// and resumed, 15 s tokens logged in for and renewed at node C first;
// Redis, then node C, are killed -9 and restarted, each down 2 s. It has
// no queues: a dead node's queue messages may take 30 s to come back,
// longer than it runs.
func TestClusterSoakShort(t *testing.T) {
	r := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	flags := []string{"--history-size", "2000", "--access-ttl", "15s"}
	c := startCluster(t, r.URL(), []nodeKind{childProcess, childProcess, childProcess}, flags...)
	node := c.nodes[2]
	restart := func(t *testing.T) {
		proc := startChild(t, node.dataDir, append(append([]string{"--redis", r.URL()}, flags...), portsOf(node)...)...)
		waitStatus(t, proc.url+"/readyz", 200)
	}
	cs := &clusterSoak{nodes: c.nodes, user: c.users["ada"], phases: faultPhases(r, node, restart, 3*time.Second, 9*time.Second, 2*time.Second),
		auth: killedFirst(c.nodes, node),
		load: []string{"-conns", "60", "-rate", "150", "-queues", "0", "-churn", "10", "-duration", "16s", "-drain", "10s", "-settle", "4s", "-waive-unrecovered"}}
	cs.run(t)
}

// clusterSoak is a run of stompbench's soak as the load of a cluster,
// with faults at set times: TestClusterSoakUnderFaults (faults tag) and
// its short version.
type clusterSoak struct {
	nodes  []*clusterNode // where the soak connects, in order
	auth   []*clusterNode // where it logs in and renews its token: the first, and the next when one fails
	user   *testUser
	load   []string // the soak's flags that size its load, -duration among them
	phases []soakPhase
}

// soakPhase is one phase of a clusterSoak: what the driver does at its
// start, a time into the soak's publishing. The phases are steady, Redis
// killed, Redis back, a node killed, the node back, in that order.
type soakPhase struct {
	name  string
	at    time.Duration
	begin func(t *testing.T)
}

// run builds stompbench, runs the soak with the phases, logs its samples
// and its counts by phase, and fails the test unless its verdict is
// clean: exit 0, nothing receipted lost, nothing duplicated or corrupt,
// resumes met except while Redis was down. It returns the verdict.
func (cs *clusterSoak) run(t *testing.T) *soakVerdict {
	p := cs.start(t)
	var began time.Time
	select {
	case began = <-p.first:
	case <-time.After(time.Minute):
		t.Fatal("the soak printed no sample within a minute")
	}
	marks := cs.runPhases(t, began)
	err := p.cmd.Wait()
	p.w.Close()
	<-p.logged
	var r soakVerdict
	if jerr := json.Unmarshal([]byte(p.out.String()), &r); jerr != nil {
		t.Fatalf("stompbench: %v; its summary is not JSON (%v):\n%s", err, jerr, p.out.String())
	}
	r.logPhases(t, cs.phases, marks)
	t.Logf("summary: %s", r.line())
	r.check(t, err, marks)
	return &r
}

// soakProc is a stompbench soak running, its stderr logged.
type soakProc struct {
	cmd    *exec.Cmd
	out    strings.Builder
	w      *io.PipeWriter
	first  <-chan time.Time // when publishing began
	logged <-chan struct{}  // closed once stderr is all logged
}

// start builds stompbench and starts the soak against cs.nodes.
func (cs *clusterSoak) start(t *testing.T) *soakProc {
	addrs, auth := make([]string, len(cs.nodes)), make([]string, len(cs.auth))
	for i, n := range cs.nodes {
		addrs[i] = n.stompAddr
	}
	for i, n := range cs.auth {
		auth[i] = n.url
	}
	args := append([]string{"-scenario", "soak", "-tcp", strings.Join(addrs, ","),
		"-auth-url", strings.Join(auth, ","), "-auth-login", cs.user.email + ":" + cs.user.password,
		"-sample-every", "2s", "-max-rss-drift", "1000", "-max-goroutine-drift", "1000", "-json", "-quiet"}, cs.load...)
	p := &soakProc{cmd: exec.Command(buildStompbench(t), args...)}
	rows, w := io.Pipe()
	p.w = w
	p.cmd.Stdout, p.cmd.Stderr = &p.out, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.first, p.logged = logRows(t, rows)
	t.Cleanup(func() { // a test cut short logs nothing once it is over
		_ = p.cmd.Process.Kill()
		w.Close()
		<-p.logged
	})
	return p
}

// check fails the test unless the soak, which ended with err, passed:
// nothing lost, duplicated or corrupt, its load run, and no resume left
// unmet outside the Redis outage. What the resumes left unmet during it
// missed of the messages sent before their RECEIPT is not lost
// (-waive-unrecovered): SPEC §7 replays nothing then.
func (r *soakVerdict) check(t *testing.T, err error, marks []float64) {
	if err != nil || !r.Valid || r.Lost+r.Duplicated+r.Corrupted != 0 {
		t.Errorf("stompbench: %v; lost %d (and %d unrecovered, waived), duplicated %d, corrupted %d; first error %q; checks %s",
			err, r.Lost, r.Unrecovered, r.Duplicated, r.Corrupted, r.FirstError, r.Watch.Checks)
	}
	if r.ResumesRecovered == 0 || r.Refreshes == 0 || r.Reconnects == 0 {
		t.Errorf("%d resumes met, %d in-band refreshes, %d reconnections: the soak did not run its load",
			r.ResumesRecovered, r.Refreshes, r.Reconnects)
	}
	r.checkResumes(t, marks)
}

// runPhases begins each phase at its time after began and returns when
// each did, as seconds into the soak's publishing.
func (cs *clusterSoak) runPhases(t *testing.T, began time.Time) []float64 {
	marks := make([]float64, len(cs.phases))
	for i, p := range cs.phases {
		time.Sleep(time.Until(began.Add(p.at)))
		marks[i] = time.Since(began).Seconds()
		p.begin(t)
		t.Logf("phase %q began at %.1fs, took %v", p.name, marks[i], time.Since(began.Add(p.at)).Round(time.Millisecond))
	}
	return marks
}

// faultPhases are the phases of a clusterSoak that kills r, then node,
// at the times given, each down for down; restart brings the node back
// on its ports.
func faultPhases(r *redistest.Server, node *clusterNode, restart func(t *testing.T), redisAt, nodeAt, down time.Duration) []soakPhase {
	return []soakPhase{
		{"steady", 0, func(*testing.T) {}},
		{"redis killed", redisAt, func(*testing.T) { r.Kill() }},
		{"redis back", redisAt + down, func(*testing.T) { r.Restart() }},
		{"node killed", nodeAt, func(t *testing.T) { node.kill(t) }},
		{"node back", nodeAt + down, restart},
	}
}

// killedFirst is nodes with killed moved first: the soak logs in there,
// and renews its token there until the node dies.
func killedFirst(nodes []*clusterNode, killed *clusterNode) []*clusterNode {
	out := []*clusterNode{killed}
	for _, n := range nodes {
		if n != killed {
			out = append(out, n)
		}
	}
	return out
}

// portsOf are the flags that start a node again on the ports of n.
func portsOf(n *clusterNode) []string {
	return []string{"--http", strings.TrimPrefix(n.url, "http://"), "--stomp", n.stompAddr}
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
// come, until stderr ends, when logged closes. The first row comes one
// -sample-every (2 s) after publishing began: first says when that was.
func logRows(t *testing.T, stderr io.Reader) (first <-chan time.Time, logged <-chan struct{}) {
	began := make(chan time.Time, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case began <- time.Now().Add(-2 * time.Second):
			default:
			}
			t.Log(sc.Text())
		}
	}()
	return began, done
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
	Published, Delivered, Duplicated, Redelivered, Vanished, Corrupted, Overdue, Reconnects, Refreshes, Errors uint64

	ResumesRecovered   uint64 `json:"resumes_recovered"`
	ResumesUnrecovered uint64 `json:"resumes_unrecovered"`
	AuthFailovers      uint64 `json:"auth_failovers"`
}

// line is the summary's figures in one line.
func (r *soakVerdict) line() string {
	return fmt.Sprintf("published %d of %d due, delivered %d, lost %d (and %d missed after resumes not met, waived), duplicated %d, redelivered before their ACK was confirmed %d "+
		"(%d consumers vanished holding some), unconfirmed %d (excused %d), resumes %d met and %d not, reconnections %d, refreshes %d, "+
		"errors %d, logins or renewals passed on to the next -auth-url %d",
		r.Published, r.Due, r.Delivered, r.Lost, r.Unrecovered, r.Duplicated, r.Redelivered, r.Vanished, r.Unconfirmed, r.Excused,
		r.ResumesRecovered, r.ResumesUnrecovered, r.Reconnects, r.Refreshes, r.Errors, r.AuthFailovers)
}

// logPhases logs what the soak did in each phase, from its samples: the
// totals' growth between the phase's marks, the last phase running to
// the end of the run (its drain included).
func (r *soakVerdict) logPhases(t *testing.T, phases []soakPhase, marks []float64) {
	t.Logf("%-13s %9s %10s %6s %7s %8s %7s %7s %7s %7s", "phase", "published", "delivered", "dup", "redeliv", "overdue",
		"reconn", "errors", "resumed", "not met")
	for i, p := range phases {
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
