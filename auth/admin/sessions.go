package admin

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Bounds of GET /admin/sessions' limit parameter.
const (
	DefaultSessionLimit = 1000
	MaxSessionLimit     = 10000
)

// SessionLister lists the live STOMP sessions of the server: of every
// node that answered, in a cluster.
type SessionLister interface {
	ListSessions(ctx context.Context, q SessionQuery) (SessionList, error)
}

// SessionQuery selects the sessions GET /admin/sessions lists.
type SessionQuery struct {
	User  string // only this subject's sessions; "" everyone's
	Limit int    // at most this many, 1 to MaxSessionLimit
}

// Session is one live STOMP session.
type Session struct {
	User          string    `json:"user"` // the subject
	Name          string    `json:"name"` // the display name; may be empty
	SID           string    `json:"sid"`  // the login (refresh family) it belongs to
	Transport     string    `json:"transport"`
	TLS           bool      `json:"tls"`
	Remote        string    `json:"remote"` // the client's address, as the trusted proxies tell it
	Node          string    `json:"node"`
	Since         time.Time `json:"since"` // when its CONNECT succeeded
	Subscriptions int       `json:"subscriptions"`
}

// SessionList is the answer of GET /admin/sessions: the sessions, the
// longest connected first, at most the query's limit of them; Total
// counts every session selected, Truncated says that the limit left some
// out; Nodes are the nodes that answered, Missing those alive that did
// not.
type SessionList struct {
	Sessions  []Session `json:"sessions"`
	Total     int       `json:"total"`
	Truncated bool      `json:"truncated"`
	Nodes     []string  `json:"nodes"`
	Missing   []string  `json:"missing"`
}

// registerSessions serves GET /admin/sessions when the server can list
// its sessions.
func (a *API) registerSessions() {
	if a.opts.Sessions == nil {
		return
	}
	a.handle("GET /admin/sessions", "sessions.list", a.listSessions)
}

func (a *API) listSessions(w http.ResponseWriter, r *http.Request) error {
	q, err := sessionQuery(r)
	if err != nil {
		return err
	}
	l, err := a.opts.Sessions.ListSessions(r.Context(), q)
	if err != nil {
		return err
	}
	l.Truncated = l.Total > len(l.Sessions)
	l.Sessions, l.Nodes, l.Missing = orEmpty(l.Sessions), orEmpty(l.Nodes), orEmpty(l.Missing)
	return reply(w, http.StatusOK, l)
}

// orEmpty returns s, or an empty slice for nil, which JSON shows as []
// rather than null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// sessionQuery reads the parameters of GET /admin/sessions: user and
// limit, each at most once, and nothing else.
func sessionQuery(r *http.Request) (SessionQuery, error) {
	q := SessionQuery{Limit: DefaultSessionLimit}
	for key, values := range r.URL.Query() {
		if len(values) > 1 {
			return q, errInvalid(fmt.Sprintf("query parameter %q given %d times: give it once", key, len(values)))
		}
		switch v := values[0]; key {
		case "user":
			q.User = v
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxSessionLimit {
				return q, errInvalid(fmt.Sprintf("invalid limit %q: want a number from 1 to %d", v, MaxSessionLimit))
			}
			q.Limit = n
		default:
			return q, errInvalid(fmt.Sprintf("unknown query parameter %q: GET /admin/sessions takes user and limit", key))
		}
	}
	return q, nil
}
