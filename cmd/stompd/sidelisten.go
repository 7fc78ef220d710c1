package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
)

// sideServer serves operators' endpoints, /metrics and net/http/pprof, on
// a listener of its own, away from the public --http listener, so that
// they can be bound to loopback or a private interface.
type sideServer struct {
	addr  string   // as the settings wrote it
	flags []string // the settings that name addr: metrics, pprof or both
	mux   *http.ServeMux
	l     net.Listener
	srv   *http.Server
}

// listenSide opens the listeners of --metrics and --pprof. The two set to
// the same address share one listener, which then serves both.
func (s *server) listenSide(metrics http.Handler) error {
	routes := [...]struct {
		flag, addr string
		add        func(*http.ServeMux)
	}{
		{"metrics", s.cfg.MetricsAddr, func(mux *http.ServeMux) { mux.Handle("GET /metrics", metrics) }},
		{"pprof", s.cfg.PprofAddr, pprofRoutes},
	}
	for _, r := range routes {
		if r.addr == "" {
			continue
		}
		side, err := s.sideAt(r.flag, r.addr)
		if err != nil {
			return err
		}
		side.flags = append(side.flags, r.flag)
		r.add(side.mux)
	}
	for _, side := range s.sides {
		side.srv = s.sideHTTPServer(side)
	}
	return nil
}

// sideAt returns the side listener on addr, opening it for flag when
// there is none yet.
func (s *server) sideAt(flag, addr string) (*sideServer, error) {
	if i := slices.IndexFunc(s.sides, func(side *sideServer) bool { return side.addr == addr }); i >= 0 {
		return s.sides[i], nil
	}
	l, err := listen(flag, addr, nil)
	if err != nil {
		return nil, err
	}
	side := &sideServer{addr: addr, mux: http.NewServeMux(), l: l}
	s.sides = append(s.sides, side)
	return side, nil
}

// sideHTTPServer is the HTTP server of side, with the public listener's
// timeouts except that one serving pprof has no write timeout: a profile
// is written for as long as it was asked for.
func (s *server) sideHTTPServer(side *sideServer) *http.Server {
	c := s.cfg
	srv := &http.Server{
		Handler:           side.mux,
		ReadHeaderTimeout: c.HeaderTimeout,
		ReadTimeout:       c.HTTPReadTimeout,
		IdleTimeout:       c.HTTPIdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if !slices.Contains(side.flags, "pprof") {
		srv.WriteTimeout = c.HTTPWriteTimeout
	}
	return srv
}

// pprofRoutes adds net/http/pprof's endpoints under /debug/pprof/ to mux.
func pprofRoutes(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
