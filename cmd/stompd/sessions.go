package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/stompd/stompd/auth/admin"
	"github.com/stompd/stompd/broker"
	"github.com/stompd/stompd/broker/redissessions"
)

// sessionLister lists the live sessions for the admin API: this node's,
// from its broker, or with --redis every live node's, through the
// cluster's sessions engine.
type sessionLister struct{ s *server }

// errSessionsUnavailable answers a listing whose other nodes cannot be
// asked.
var errSessionsUnavailable = &admin.Error{
	Status: http.StatusServiceUnavailable, Code: "unavailable",
	Message: "Redis is unavailable: the other nodes cannot be asked for their sessions; try again shortly",
}

// ListSessions lists the sessions q selects.
func (l sessionLister) ListSessions(ctx context.Context, q admin.SessionQuery) (admin.SessionList, error) {
	bq := broker.SessionQuery{Subject: q.User, Limit: q.Limit}
	if l.s.cluster == nil {
		own, total := l.s.broker.Sessions(bq)
		rows := make([]redissessions.Row, len(own))
		for i, s := range own {
			rows[i] = redissessions.Row{Node: l.s.node, Session: s}
		}
		return adminSessions(redissessions.Listing{Sessions: rows, Total: total, Nodes: []string{l.s.node}}), nil
	}
	listing, err := l.s.cluster.sessions.List(ctx, l.s.broker, bq)
	if errors.Is(err, redissessions.ErrUnavailable) {
		l.s.log.Warn("listing sessions", "err", err)
		return admin.SessionList{}, errSessionsUnavailable
	}
	return adminSessions(listing), err
}

// adminSessions is a listing as the admin API answers it.
func adminSessions(l redissessions.Listing) admin.SessionList {
	out := admin.SessionList{Total: l.Total, Nodes: l.Nodes, Missing: l.Missing, Sessions: make([]admin.Session, len(l.Sessions))}
	for i, r := range l.Sessions {
		out.Sessions[i] = admin.Session{
			User: r.Subject, Name: r.Name, SID: r.SessionID, Transport: r.Transport, TLS: r.TLS,
			Remote: r.Remote, Node: r.Node, Since: r.Since.UTC(), Subscriptions: r.Subscriptions,
		}
	}
	return out
}
