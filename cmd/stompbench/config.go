package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The scenarios stompbench runs.
const (
	scenarioP2P      = "p2p"
	scenarioFanout   = "fanout"
	scenarioMesh     = "mesh"
	scenarioQueue    = "queue"
	scenarioConns    = "conns"
	scenarioSendAuth = "sendauth"
	scenarioSoak     = "soak"
)

var scenarios = []string{scenarioP2P, scenarioFanout, scenarioMesh, scenarioQueue, scenarioConns, scenarioSendAuth, scenarioSoak}

// config is everything the command line says about a run.
type config struct {
	TCP      string // host:port, or a comma-separated list of them, or ""
	WS       string // ws:// or wss:// URL, or a comma-separated list of them, or ""
	NATS     string // nats:// URL of a core NATS server, or a comma-separated list of them, or ""
	Headers  []header
	Login    string
	Passcode string
	VHost    string
	Insecure bool
	// targets are the nodes of TCP, WS or NATS (as host:port), in order,
	// as checkTarget split them; see bench.dialerFor for which connection
	// goes where.
	targets []string

	AuthLogin    string // email:password, or ""
	AuthURL      string // comma-separated: tried in order when one fails
	authEmail    string
	authPassword string

	Scenario string
	Subs     int
	Pubs     int
	Conns    int
	PID      int   // the first of PIDs, or 0
	PIDs     []int // every -pid, one per node

	Size     int
	Rate     float64
	Duration time.Duration
	Count    uint64
	Warmup   time.Duration
	Window   int
	Prefetch int
	Drain    time.Duration
	// Persistent marks the queue scenario's SENDs persistent:true.
	Persistent bool

	// The soak's: subscribers per topic, queues, connections churned per
	// second, and how long after its receipt a missing delivery is overdue
	// (of a topic message; of a queue message, QueueOverdue). Vanish is
	// the share of a queue consumer's churns in which it drops its
	// connection holding unacknowledged messages.
	Fanout       int
	Queues       int
	Churn        float64
	Vanish       float64
	Overdue      time.Duration
	QueueOverdue time.Duration
	// WaiveUnrecovered does not count as lost what a resume answered
	// x-recovered:false missed of the messages sent before its RECEIPT.
	WaiveUnrecovered bool

	JSON       bool
	Quiet      bool
	CPUProfile string

	// The soak's sampler (soaksample.go).
	SampleEvery       time.Duration
	MetricsURL        string // comma-separated, one per node; "" for the default
	Settle            time.Duration
	MaxRSSDrift       float64 // percent
	MaxGoroutineDrift float64 // percent
	SamplesOut        string

	// Slow-consumer isolation (stall.go).
	Stall       float64 // the fraction of fanout's subscribers that stop reading
	StallCycles int
}

// header is one extra CONNECT header from -H.
type header struct{ Key, Value string }

// headerList collects repeated -H flags.
type headerList []header

func (h *headerList) String() string {
	parts := make([]string, len(*h))
	for i, x := range *h {
		parts[i] = x.Key + ":" + x.Value
	}
	return strings.Join(parts, ", ")
}

func (h *headerList) Set(s string) error {
	k, v, ok := strings.Cut(s, ":")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return fmt.Errorf("header %q is not of the form Name:value", s)
	}
	*h = append(*h, header{Key: k, Value: strings.TrimLeft(v, " ")})
	return nil
}

// Defaults that depend on the scenario, and the bounds of a run.
const (
	defaultFanoutSubs = 10
	defaultMeshSize   = 4
	defaultQueueSubs  = 2
	defaultConns      = 1000
	defaultDuration   = 10 * time.Second
	defaultAuthURL    = "http://127.0.0.1:8080"
	maxWindow         = 100
	windowBytes       = 2 << 20
	maxMeshSize       = 1000 // subscriptions per connection, stompd's default limit
)

var errUsage = errors.New("usage")

// parseArgs parses the command line (without the program name). Errors are
// meant for the user; flag's own messages have already gone to out.
func parseArgs(args []string, out io.Writer) (config, error) {
	var c config
	var hs headerList
	fs := newFlagSet(&c, &hs, out)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, errUsage
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.Headers = hs
	if len(c.PIDs) > 0 {
		c.PID = c.PIDs[0]
	}
	durationSet := false
	fs.Visit(func(f *flag.Flag) { durationSet = durationSet || f.Name == "duration" })
	if c.Count > 0 && !durationSet {
		c.Duration = 0
	}
	if c.Scenario == scenarioSoak {
		c.soakDefaults(fs)
	}
	return c, c.check()
}

// newFlagSet defines every flag, into c and hs.
func newFlagSet(c *config, hs *headerList, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("stompbench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { usage(fs) }
	fs.StringVar(&c.TCP, "tcp", "", "STOMP over TCP at `host:port`, or at several nodes of a cluster, comma-separated: publisher i connects to node i, subscriber i to node i+1 (both modulo the count)")
	fs.StringVar(&c.WS, "ws", "", "STOMP over WebSocket at `url` (ws:// or wss://), or several, comma-separated, spread as -tcp's")
	fs.StringVar(&c.NATS, "nats", "", "core NATS at `url` nats://host:port instead of STOMP, to compare (p2p, fanout, mesh; topics become subjects)")
	fs.Var(hs, "H", "extra CONNECT `header` Name:value (repeatable)")
	fs.StringVar(&c.Login, "login", "", "CONNECT login")
	fs.StringVar(&c.Passcode, "passcode", "", "CONNECT passcode")
	fs.StringVar(&c.VHost, "vhost", "", "CONNECT host header (default: the target's host; RabbitMQ wants /)")
	fs.BoolVar(&c.Insecure, "insecure", false, "skip TLS certificate verification for wss://")
	fs.StringVar(&c.AuthLogin, "auth-login", "", "log in to stompd as `email:password` and send the access token")
	fs.StringVar(&c.AuthURL, "auth-url", "", "stompd's HTTP `url` for -auth-login, or several, comma-separated, the next tried when one does not answer or answers 5xx (default: from -ws, else "+defaultAuthURL+")")
	fs.StringVar(&c.Scenario, "scenario", scenarioP2P, "one of "+strings.Join(scenarios, ", "))
	fs.IntVar(&c.Subs, "subs", 0, "subscribers: fanout (default 10), mesh size (default 4), queue consumers (default 2)")
	fs.IntVar(&c.Pubs, "pubs", 0, "queue producers (default 1)")
	fs.IntVar(&c.Conns, "conns", defaultConns, "idle connections for the conns scenario")
	fs.Var((*pidList)(&c.PIDs), "pid", "broker `PID` whose RSS the conns scenario reads from /proc (the soak: several, comma-separated, one per node)")
	fs.IntVar(&c.Size, "size", 128, "message body `bytes`")
	fs.Float64Var(&c.Rate, "rate", 0, "messages per second per publisher (0: as fast as the window allows; soak: in all, default 2000)")
	fs.DurationVar(&c.Duration, "duration", defaultDuration, "how long to publish after the warm-up (conns: how long to hold)")
	fs.Uint64Var(&c.Count, "count", 0, "messages per publisher after the warm-up (then -duration only bounds the run if given)")
	fs.DurationVar(&c.Warmup, "warmup", 0, "publish this long before measuring")
	fs.IntVar(&c.Window, "window", 0, "messages a publisher may have in flight, not yet received everywhere (0: 2 MiB of bodies, at most 100; -1: unbounded)")
	fs.IntVar(&c.Prefetch, "prefetch", 1000, "queue consumers' prefetch-count (0: none sent)")
	fs.BoolVar(&c.Persistent, "persistent", false, "queue: send persistent:true, so that the broker stores each message (stompd: on disk before delivering it)")
	fs.DurationVar(&c.Drain, "drain", 5*time.Second, "after publishing, wait this long without progress for the last messages")
	fs.IntVar(&c.Fanout, "fanout", 10, "soak: subscribers per topic (topics = -conns / -fanout)")
	fs.IntVar(&c.Queues, "queues", 10, "soak: queues, each with 2 consumers and a share of 5% of -rate")
	fs.Float64Var(&c.Churn, "churn", 5, "soak: subscriber connections closed and resumed per second")
	fs.Float64Var(&c.Vanish, "vanish", 0.25, "soak: the `share` of a queue consumer's churns in which it stops acknowledging and drops its connection holding what it got, for the broker to redeliver")
	fs.DurationVar(&c.Overdue, "overdue", 10*time.Second, "soak: a delivery still missing this long after its SEND's receipt counts as lost so far")
	fs.DurationVar(&c.QueueOverdue, "queue-overdue", 0, "soak: the same for a queue message (default: -overdue plus the 30 s within which a cluster redelivers what a dead node's consumers held)")
	fs.BoolVar(&c.WaiveUnrecovered, "waive-unrecovered", false, "soak: do not count as lost what a resume answered x-recovered:false (nothing replayed, SPEC §7; a cluster node while Redis is down) missed of the messages sent before its RECEIPT; those sent after it still count")
	fs.BoolVar(&c.JSON, "json", false, "print the result as JSON")
	fs.BoolVar(&c.Quiet, "quiet", false, "no progress line on stderr")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write stompbench's own CPU profile to `file`, to check it is not the bottleneck")
	fs.DurationVar(&c.SampleEvery, "sample-every", defaultSampleEvery, "soak: take a sample this often")
	fs.StringVar(&c.MetricsURL, "metrics-url", "", "soak: the broker's Prometheus `url`, or several, comma-separated, one per node (default: -auth-url's /metrics, if it answers)")
	fs.DurationVar(&c.Settle, "settle", 0, "soak: when memory has settled, the start of drift checks (default: a sixth of -duration)")
	fs.Float64Var(&c.MaxRSSDrift, "max-rss-drift", 5, "soak: the broker's RSS may grow this many `percent` from -settle to the end")
	fs.Float64Var(&c.MaxGoroutineDrift, "max-goroutine-drift", 5, "soak: the broker's goroutines may grow this many `percent` from -settle to the end")
	fs.StringVar(&c.SamplesOut, "samples-out", "", "soak: write every sample to `file` as JSON lines")
	fs.Float64Var(&c.Stall, "stall", 0, "fanout: this `fraction` of the subscribers stops reading halfway, to measure how the others' latency moves")
	fs.IntVar(&c.StallCycles, "stall-cycles", 1, "fanout with -stall: alternate this many baseline and stall phases, each with fresh stalled subscribers")
	return fs
}

func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, `stompbench drives a STOMP server with a chosen traffic pattern, checks
that every message arrives exactly once and intact, and reports rates and latency.

Usage: stompbench (-tcp host:port | -ws ws://host/path | -nats nats://host:port) [flags]

Flags:
`)
	fs.PrintDefaults()
}

// check validates c and fills in the defaults that depend on other fields.
func (c *config) check() error {
	if err := c.checkTarget(); err != nil {
		return err
	}
	if err := c.checkScenario(); err != nil {
		return err
	}
	if c.Size < bodyHeaderLen {
		return fmt.Errorf("-size %d is too small: a body needs at least %d bytes for its checks", c.Size, bodyHeaderLen)
	}
	if c.Rate < 0 || c.Duration < 0 || c.Warmup < 0 || c.Drain < 0 || c.Prefetch < 0 || c.Window < -1 {
		return errors.New("-rate, -duration, -warmup, -drain, -prefetch and -window must not be negative (-window may be -1)")
	}
	if c.Count == 0 && c.Duration == 0 {
		return errors.New("a run needs a bound: -duration or -count")
	}
	if c.Window == 0 {
		c.Window = min(maxWindow, max(1, windowBytes/(c.Size+256)))
	}
	if err := c.checkStall(); err != nil {
		return err
	}
	if err := c.checkAuth(); err != nil {
		return err
	}
	return c.checkSample()
}

func (c *config) checkTarget() error {
	given := 0
	for _, t := range []string{c.TCP, c.WS, c.NATS} {
		if t != "" {
			given++
		}
	}
	if given != 1 {
		return errors.New("give exactly one of -tcp host:port, -ws url and -nats url")
	}
	flag, list := "-tcp", c.TCP
	switch {
	case c.WS != "":
		flag, list = "-ws", c.WS
	case c.NATS != "":
		flag, list = "-nats", c.NATS
	}
	c.targets = strings.Split(list, ",")
	for i, t := range c.targets {
		if c.NATS != "" {
			u, err := url.Parse(t)
			if err != nil || u.Scheme != "nats" || u.Host == "" {
				return fmt.Errorf("-nats %q: not a nats:// URL", t)
			}
			c.targets[i] = u.Host
		}
		host, err := targetHostOf(c.targets[i], c.WS != "")
		if err != nil {
			return fmt.Errorf("%s %q: %v", flag, t, err)
		}
		if c.VHost == "" {
			c.VHost = host
		}
	}
	return nil
}

// targetHostOf checks one node's address, a host:port or, for WebSocket,
// a ws:// or wss:// URL, and returns its host.
func targetHostOf(target string, ws bool) (string, error) {
	if !ws {
		host, _, err := net.SplitHostPort(target)
		return host, err
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return "", errors.New("not a ws:// or wss:// URL")
	}
	return u.Hostname(), nil
}

func (c *config) checkScenario() error {
	switch c.Scenario {
	case scenarioP2P, scenarioSendAuth:
		if c.Subs > 1 || c.Pubs > 1 {
			return fmt.Errorf("%s has one publisher and one subscriber", c.Scenario)
		}
		c.Subs, c.Pubs = 1, 1
	case scenarioFanout:
		c.Subs, c.Pubs = orDefault(c.Subs, defaultFanoutSubs), orDefault(c.Pubs, 1)
		if c.Pubs != 1 {
			return errors.New("fanout has one publisher: use mesh for several")
		}
	case scenarioMesh:
		if c.Pubs != 0 {
			return errors.New("mesh has as many publishers as subscribers: set -subs only")
		}
		c.Subs = orDefault(c.Subs, defaultMeshSize)
		c.Pubs = c.Subs
		if c.Subs > maxMeshSize {
			return fmt.Errorf("mesh -subs %d: a subscriber would hold more than %d subscriptions", c.Subs, maxMeshSize)
		}
	case scenarioQueue:
		c.Subs, c.Pubs = orDefault(c.Subs, defaultQueueSubs), orDefault(c.Pubs, 1)
	case scenarioSoak:
		if err := c.checkSoak(); err != nil {
			return err
		}
	case scenarioConns:
		if c.Conns < 1 {
			return errors.New("conns needs -conns of at least 1")
		}
		c.Subs, c.Pubs = c.Conns, 1
	default:
		return fmt.Errorf("unknown -scenario %q (one of %s)", c.Scenario, strings.Join(scenarios, ", "))
	}
	if c.Subs < 1 || c.Pubs < 1 {
		return errors.New("-subs and -pubs must be positive")
	}
	if c.PID != 0 && c.Scenario != scenarioConns && c.Scenario != scenarioSoak {
		return errors.New("-pid only applies to the conns and soak scenarios")
	}
	if c.Persistent && c.Scenario != scenarioQueue {
		return errors.New("-persistent only applies to the queue scenario")
	}
	return c.checkNATS()
}

// checkNATS refuses what core NATS cannot do: acks, queues, idle
// connection counts and logins.
func (c *config) checkNATS() error {
	if c.NATS == "" {
		return nil
	}
	switch c.Scenario {
	case scenarioP2P, scenarioFanout, scenarioMesh:
	default:
		return fmt.Errorf("-nats runs p2p, fanout and mesh, not %s", c.Scenario)
	}
	if c.Login != "" || c.Passcode != "" || c.AuthLogin != "" || len(c.Headers) > 0 {
		return errors.New("-nats takes no -login, -passcode, -auth-login or -H")
	}
	return nil
}

func (c *config) checkAuth() error {
	if c.AuthLogin != "" {
		email, password, ok := strings.Cut(c.AuthLogin, ":")
		if !ok || email == "" {
			return errors.New("-auth-login wants email:password")
		}
		c.authEmail, c.authPassword = email, password
		if c.AuthURL == "" {
			c.AuthURL = c.defaultAuthURL()
		}
		if slices.Contains(c.authURLs(), "") {
			return errors.New("-auth-url has an empty URL in its list")
		}
	}
	if c.Scenario == scenarioSendAuth && c.AuthLogin == "" && c.bearer() == "" {
		return errors.New("sendauth needs a token: -auth-login, or -H 'Authorization:Bearer ...'")
	}
	return nil
}

// authURLs is -auth-url's list, or its default.
func (c *config) authURLs() []string {
	if c.AuthURL == "" {
		return []string{c.defaultAuthURL()}
	}
	urls := strings.Split(c.AuthURL, ",")
	for i, u := range urls {
		urls[i] = strings.TrimSpace(u)
	}
	return urls
}

// defaultAuthURL is the HTTP side of the (first) -ws URL, or stompd's
// default.
func (c *config) defaultAuthURL() string {
	if c.WS == "" {
		return defaultAuthURL
	}
	u, _ := url.Parse(c.targets[0]) // checked by checkTarget
	scheme := "http"
	if u.Scheme == "wss" {
		scheme = "https"
	}
	return scheme + "://" + u.Host
}

// bearer returns the token of an Authorization:Bearer header given with -H.
func (c *config) bearer() string {
	for _, h := range c.Headers {
		if strings.EqualFold(h.Key, "Authorization") {
			if tok, ok := strings.CutPrefix(h.Value, "Bearer "); ok {
				return tok
			}
		}
	}
	return ""
}

// target names the server for reports.
func (c *config) target() string {
	switch {
	case c.TCP != "":
		return "tcp://" + c.TCP
	case c.NATS != "":
		return c.NATS
	}
	return c.WS
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// The soak's defaults where they differ from the other scenarios'.
const (
	defaultSoakConns    = 10000
	defaultSoakDuration = 30 * time.Minute
	defaultSoakRate     = 2000
	defaultSoakPubs     = 3
)

// clusterRedelivery is how soon a cluster redelivers the unacknowledged
// messages of a dead node's queue consumers (SPEC §6): until then such a
// queue message is not overdue.
const clusterRedelivery = 30 * time.Second

// soakDefaults gives the soak its own defaults for the flags not set.
func (c *config) soakDefaults(fs *flag.FlagSet) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["conns"] {
		c.Conns = defaultSoakConns
	}
	if !set["duration"] {
		c.Duration = defaultSoakDuration
	}
	if c.Rate == 0 {
		c.Rate = defaultSoakRate
	}
	c.Pubs = orDefault(c.Pubs, defaultSoakPubs)
}

// checkSoak checks the soak's shape: at least one topic, and more topics
// than publishers share them.
func (c *config) checkSoak() error {
	if c.Fanout < 1 || c.Conns < c.Fanout {
		return errors.New("soak needs -fanout of at least 1 and -conns of at least -fanout")
	}
	if c.Queues < 0 || c.Churn < 0 || c.Overdue <= 0 || c.QueueOverdue < 0 {
		return errors.New("soak: -queues, -churn and -queue-overdue must not be negative, -overdue must be positive")
	}
	if c.Vanish < 0 || c.Vanish > 1 {
		return errors.New("soak: -vanish is a share, from 0 to 1")
	}
	if c.QueueOverdue == 0 {
		c.QueueOverdue = c.Overdue + clusterRedelivery
	}
	if c.Count > 0 {
		return errors.New("soak runs for -duration, not -count")
	}
	c.Pubs = min(c.Pubs, c.Conns/c.Fanout)
	c.Subs = c.Conns + 2*c.Queues
	return nil
}
