package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/rueidis"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/auth/admin"
	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/metrics"
	"github.com/stompd/stompd/persist"
)

// serveCommand runs the broker until SIGINT or SIGTERM.
func serveCommand(args []string, _, stderr io.Writer) error {
	c, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	s, err := newServer(c, newLogger(c, stderr))
	if err != nil {
		return err
	}
	return s.run(ctx)
}

// server is one running stompd: the store, the auth service, the broker and
// the listeners that feed them; with --redis, the Redis client they share
// with the other nodes.
type server struct {
	cfg     *config
	log     *slog.Logger
	node    string           // this process's id among the nodes of a cluster
	redis   rueidis.Client   // nil without --redis
	cluster *cluster         // nil without --redis
	store   *persist.Store   // nil with --redis
	journal *persist.Journal // persistent queue messages; nil with --redis
	metrics *metrics.Set
	auth    *auth.Service
	admin   *admin.API
	broker  *broker.Broker
	health  health

	httpSrv       *http.Server
	httpL, stompL net.Listener
	sides         []*sideServer // --metrics and --pprof
	control       *controlServer
	stopKeys      context.CancelFunc // ends the refreshing of --jwks-url keys
}

// newServer opens the store and the listeners and builds everything that
// serves them. Nothing serves until run. On error, whatever it opened is
// closed again.
func newServer(c *config, log *slog.Logger) (*server, error) {
	s := &server{cfg: c, log: log, node: newNodeID()}
	if err := s.build(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// build opens the store, wires the auth service, the broker and the HTTP
// server on top of it, and opens the listeners.
func (s *server) build() error {
	c := s.cfg
	reg := prometheus.NewRegistry()
	s.metrics = metrics.New(reg)
	s.metrics.ClusterNodes.Set(1)
	s.health.gauge = s.metrics.Ready
	store, err := s.openAuthStore()
	if err != nil {
		return err
	}
	var keysCtx context.Context
	keysCtx, s.stopKeys = context.WithCancel(context.Background())
	if s.auth, err = newAuth(keysCtx, c, store, s.metrics, s.log, s.logout); err != nil {
		return err
	}
	if err := s.openJournal(); err != nil {
		return err
	}
	o := s.brokerOptions()
	o.Histories = s.takeHistories()
	if s.broker, err = broker.New(o); err != nil {
		return err
	}
	if c.Demo {
		if err := addDemoUsers(s.store, s.log); err != nil {
			return err
		}
	}
	s.admin = admin.New(s.adminOptions())
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	s.httpSrv = &http.Server{
		Handler:           s.routes(metrics),
		ReadHeaderTimeout: c.HeaderTimeout,
		ReadTimeout:       c.HTTPReadTimeout,
		WriteTimeout:      c.HTTPWriteTimeout,
		IdleTimeout:       c.HTTPIdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s.listen(metrics)
}

// openAuthStore opens what keeps auth's state: the bbolt file in the data dir
// or, with --redis, the Redis the nodes of a cluster share, with the
// cluster's engines on it.
func (s *server) openAuthStore() (auth.Store, error) {
	c := s.cfg
	if c.Redis == "" {
		store, err := openStore(c.DataDir, s.health.observeStore(s.log, c.DataDir))
		s.store = store
		return authStore{store}, err
	}
	if c.Demo {
		return nil, errDemoCluster
	}
	rc, err := newRedisClient(c.Redis)
	if err != nil {
		return nil, err
	}
	s.redis = instrumentRedis(rc, s.metrics)
	if s.cluster, err = newCluster(s.redis, s.node, c, s.metrics, s.log); err != nil {
		return nil, err
	}
	return s.cluster.store, nil
}

// logout closes the live STOMP sessions of a login that ended, or that
// hold an access token that was denied: sid is a login's id or a token's.
func (s *server) logout(sid string) {
	var user atomic.Pointer[string] // the broker may match a CONNECT later, on its reader
	n := s.broker.CloseSessions(func(id broker.Identity) bool {
		if id.SessionID != sid && id.TokenID != sid {
			return false
		}
		user.Store(&id.Subject)
		return true
	}, broker.CodeSessionRevoked, "session revoked")
	sub := ""
	if p := user.Load(); p != nil {
		sub = *p
	}
	s.log.Info("login ended", "sid", sid, "user", sub, "sessions_closed", n)
}

// brokerOptions are the broker's settings with what no setting gives: the
// logger, the metrics, and the auth service behind its hooks.
func (s *server) brokerOptions() broker.Options {
	o := s.cfg.Broker
	hooks := brokerAuth{s.auth}
	o.Logger, o.Metrics = s.log, s.metrics
	o.Upgrade, o.Authorizer, o.Refresher = hooks, hooks, hooks
	o.CheckOrigin = s.auth.CheckOrigin
	if s.cluster != nil {
		s.cluster.wire(&o)
	}
	if s.journal != nil {
		o.Journal = s.journal
	}
	return o
}

// adminOptions wire the admin API to the auth service and the broker.
func (s *server) adminOptions() admin.Options {
	return admin.Options{
		Verifier: s.auth, Metrics: s.metrics, Logger: s.log,
		Users: s.userStore(), Unlock: s.auth.Unlock, TakeDenial: s.auth.TakeDenial, MinPasswordLength: s.cfg.MinPasswordLength,
		Clients: s.auth, UnlockClient: s.auth.UnlockClient, Keys: s.auth, Sessions: sessionLister{s}, VerifyOnly: !s.auth.IssuesTokens(),
	}
}

// routes is the HTTP API: /auth/*, the JWKS, /admin/*, /ws (WebSocket and SockJS),
// /healthz, /readyz, metrics at /metrics unless --metrics gives them a
// listener of their own and, with --demo, the demo page at /.
func (s *server) routes(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/auth/", s.auth.Handler())
	mux.Handle("/.well-known/jwks.json", s.auth.Handler())
	mux.Handle("/admin/", s.admin.Handler())
	mux.Handle("/ws", s.broker)
	mux.Handle("/ws/", s.auth.UpgradeCORS(http.StripPrefix("/ws", s.broker.SockJS())))
	if s.cfg.MetricsAddr == "" {
		mux.Handle("GET /metrics", metrics)
	}
	mux.HandleFunc("GET /healthz", s.health.live)
	mux.HandleFunc("GET /readyz", s.health.readiness)
	if s.cfg.Demo {
		mux.Handle("/", demoHandler())
	}
	return mux
}

// listen opens every listener, so that a taken port stops the start before
// anything serves.
func (s *server) listen(metrics http.Handler) (err error) {
	var tlsConf *tls.Config
	if s.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("--tls-cert and --tls-key: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if s.httpL, err = listen("http", s.cfg.HTTPAddr, tlsConf); err != nil {
		return err
	}
	if s.cfg.STOMPAddr != "" {
		if s.stompL, err = listen("stomp", s.cfg.STOMPAddr, tlsConf); err != nil {
			return err
		}
	}
	if err := s.listenSide(metrics); err != nil {
		return err
	}
	if s.store == nil {
		return nil // with --redis, stompd user --redis reaches the cluster's users
	}
	s.control, err = listenControl(s.cfg.DataDir, s.controlRoutes(), s.log)
	if errors.Is(err, errControlPathTooLong) {
		s.log.Warn("control socket off: stompd user commands cannot reach this server", "reason", err)
		return nil
	}
	return err
}

// listen listens on addr, the value of the flag name.
func listen(name, addr string, tlsConf *tls.Config) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", name, err)
	}
	if tlsConf != nil {
		l = tls.NewListener(l, tlsConf)
	}
	return l, nil
}

// run serves until ctx is done, then shuts down gracefully: /readyz turns
// false, the listeners close, clients get an ERROR and pending receipts,
// and the store is closed last.
func (s *server) run(ctx context.Context) error {
	stopBackground := s.background()
	errc := make(chan error, 3+len(s.sides))
	go func() { errc <- serveUntilClosed(s.httpSrv.Serve(s.httpL)) }()
	if s.control != nil {
		go func() { errc <- serveUntilClosed(s.control.serve()) }()
	}
	if s.stompL != nil {
		go func() { errc <- serveUntilClosed(s.broker.Serve(s.stompL)) }()
	}
	for _, side := range s.sides {
		go func() { errc <- serveUntilClosed(side.srv.Serve(side.l)) }()
	}
	s.health.setReady(true)
	s.log.Info("stompd serving", s.addrs()...)

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.health.setReady(false)
	s.log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	s.shutdown(shutCtx)
	stopBackground()
	return errors.Join(err, s.close())
}

// background starts the loops that run beside the listeners: the reload
// of the signing keys from the store, the bbolt
// sweeper and the journal's committer (which commits what is pending
// before it stops) or, with --redis, the Redis watch of /readyz and the cluster's
// engines (started before anything serves, so that a SUBSCRIBE finds the
// bus running); it returns what stops them and waits until they have,
// which run calls once the broker has shut down and given back what its
// consumers held.
func (s *server) background() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if s.store != nil {
		wg.Go(func() {
			s.store.RunSweeper(ctx, persist.SweepOptions{Interval: s.cfg.SweepInterval, OnSweep: s.observeSweep})
		})
		wg.Go(func() { s.journal.Run(ctx) })
	}
	wg.Go(func() { s.auth.RunKeyRing(ctx) })
	if s.redis != nil {
		wg.Go(func() { s.health.watchRedis(ctx, s.redis, s.log) })
		s.cluster.run(ctx, &wg, s.broker, s.auth)
	}
	return func() { cancel(); wg.Wait() }
}

func serveUntilClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, broker.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *server) shutdown(ctx context.Context) {
	if err := s.httpSrv.Shutdown(ctx); err != nil {
		s.log.Warn("http shutdown", "err", err)
	}
	if err := s.broker.Shutdown(ctx); err != nil {
		s.log.Warn("broker shutdown", "err", err)
	}
	s.saveHistories()
	for _, side := range s.sides {
		side.srv.Close()
	}
	if s.control == nil {
		return
	}
	if err := s.control.shutdown(ctx); err != nil {
		s.log.Warn("control socket shutdown", "err", err)
	}
}

// close releases what newServer opened.
func (s *server) close() error {
	for _, l := range []net.Listener{s.httpL, s.stompL} {
		if l != nil {
			l.Close()
		}
	}
	for _, side := range s.sides {
		side.l.Close()
	}
	if s.control != nil {
		s.control.close()
	}
	if s.stopKeys != nil {
		s.stopKeys()
	}
	if s.redis != nil {
		s.redis.Close()
	}
	if s.store == nil {
		return nil
	}
	return s.store.Close()
}

func (s *server) addrs() []any {
	a := []any{"http", s.httpL.Addr().String(), "data", s.cfg.DataDir, "node", s.node}
	if s.cfg.Redis != "" {
		a = append(a, "redis", redactURL(s.cfg.Redis))
	}
	if s.stompL != nil {
		a = append(a, "stomp", s.stompL.Addr().String())
	}
	for _, side := range s.sides {
		for _, flag := range side.flags {
			a = append(a, flag, side.l.Addr().String())
		}
	}
	return a
}

func (s *server) observeSweep(r persist.SweepResult) {
	s.metrics.SweepDeleted.WithLabelValues(metrics.SweptRefreshToken).Add(float64(r.RefreshTokens))
	s.metrics.SweepDeleted.WithLabelValues(metrics.SweptDeniedToken).Add(float64(r.Denied))
	s.metrics.SweepDeleted.WithLabelValues(metrics.SweptFamily).Add(float64(r.Families))
	s.metrics.SweepDuration.Observe(r.Duration.Seconds())
	if n, err := s.store.RefreshCount(); err == nil {
		s.metrics.RefreshTokens.Set(float64(n))
	}
}
