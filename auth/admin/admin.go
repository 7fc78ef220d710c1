package admin

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stompd/stompd/auth"
	"github.com/stompd/stompd/metrics"
)

// Role is the role an access token must carry to use the API over HTTP.
const Role = "admin"

// LocalActor is who a request on the control socket acts as.
const LocalActor = "local"

// Verifier checks an access token and returns its claims (an
// *auth.Service does).
type Verifier interface {
	VerifyAccess(token string) (auth.Claims, error)
}

// Options configure an API.
type Options struct {
	// Verifier checks the bearer tokens of HTTP callers (required for
	// Handler).
	Verifier Verifier
	Metrics  *metrics.Set // required
	Logger   *slog.Logger // default slog.Default()

	// Clients, when set, serves /admin/clients (see Clients).
	Clients Clients
	// UnlockClient forgets the failed token requests of client id and
	// returns how many (auth.Service.UnlockClient); nil leaves out
	// /admin/clients/{id}/unlock.
	UnlockClient func(id string) (int, error)
	// Keys rotates and lists the signing keys; nil: no key actions.
	Keys KeyRing
	// Users keeps the accounts of /admin/users; nil leaves those
	// endpoints out.
	Users UserStore
	// Unlock forgets the failed logins of the account with this email and
	// returns how many (auth.Service.Unlock); nil leaves out
	// /admin/users/{id}/unlock.
	Unlock func(email string) (int, error)
	// TakeDenial ends on this node, at once, a login a user change ended
	// (auth.Service.TakeDenial); nil when no server runs on the store.
	TakeDenial func(id string, until time.Time)
	// MinPasswordLength is the fewest characters of a password the API
	// sets, default DefaultMinPasswordLength.
	MinPasswordLength int
	// Sessions lists the live sessions (GET /admin/sessions); nil serves
	// no such endpoint.
	Sessions SessionLister
	// VerifyOnly says that tokens are issued elsewhere, so that no local
	// user could log in: POST /admin/users answers 409.
	VerifyOnly bool
}

// API is the administration API. Its actions are registered once, in
// New; Handler and Local serve the same ones.
type API struct {
	opts Options
	mux  *http.ServeMux
	// requests counts requests by action and result (the error code, or
	// "ok").
	requests *prometheus.CounterVec
}

// New returns the API with every action registered.
func New(opts Options) *API {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &API{opts: opts, mux: http.NewServeMux(), requests: opts.Metrics.AdminRequests}
	a.mux.Handle("/", a.action("unknown", a.unknown))
	a.registerClients()
	a.registerKeys()
	a.registerUsers()
	a.registerSessions()
	return a
}

// Handler serves the API to HTTP callers with an access token of role
// admin in their Authorization header.
func (a *API) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, err := a.bearer(r)
		if err != nil {
			a.refuse(w, r, err)
			return
		}
		a.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, actor)))
	})
}

// Local serves the API to callers on the control socket, who act as
// LocalActor with the uid WithPeerUID gave their request's context
// ("local uid 0").
func (a *API) Local() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, localActor(r.Context()))))
	})
}

// bearer returns the subject of the request's admin token, or the error
// that refuses it: 401 without a valid one, 403 without the role.
func (a *API) bearer(r *http.Request) (string, error) {
	if a.opts.Verifier == nil {
		return "", errUnauthorized("the admin API takes no tokens on this server")
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", errUnauthorized("the admin API needs Authorization: Bearer <access token>")
	}
	c, err := a.opts.Verifier.VerifyAccess(strings.TrimSpace(tok))
	if err != nil {
		var e *auth.Error
		if errors.As(err, &e) {
			return "", &Error{Status: http.StatusUnauthorized, Code: e.Name(), Message: e.Error()}
		}
		return "", err
	}
	if !c.HasRole(Role) {
		return "", &Error{Status: http.StatusForbidden, Code: "forbidden", Message: "the admin API needs a token with the role " + Role}
	}
	return c.Subject, nil
}

// refuse answers a request refused before it reached an action.
func (a *API) refuse(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	a.requests.WithLabelValues("refused", e.Code).Inc()
	a.opts.Logger.Warn("admin request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "error", e.Code)
	writeJSON(w, e.Status, e)
}

type actorKey struct{}

// Actor returns who made r: the subject of its admin token, or LocalActor
// and the peer's uid.
func Actor(r *http.Request) string {
	s, _ := r.Context().Value(actorKey{}).(string)
	return s
}

// handle registers h for pattern as the action named name.
func (a *API) handle(pattern, name string, h func(http.ResponseWriter, *http.Request) error) {
	a.mux.Handle(pattern, a.action(name, h))
}

// action runs h, answers its error, counts the request and logs it with
// its actor, target (the path's {id}, or what h created) and what h noted.
func (a *API) action(name string, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, rec := withRecord(r)
		result, level := "ok", slog.LevelInfo
		if err := h(w, r); err != nil {
			e := asError(err)
			if e.Status >= http.StatusInternalServerError {
				level = slog.LevelError
				a.opts.Logger.Error("admin action failed", "action", name, "err", err)
			}
			result = e.Code
			if e.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
			}
			writeJSON(w, e.Status, e)
		}
		a.requests.WithLabelValues(name, result).Inc()
		attrs := []any{"actor", Actor(r), "action", name}
		if rec.target != "" {
			attrs = append(attrs, "target", rec.target)
		}
		attrs = append(append(attrs, rec.attrs...), "result", result)
		a.opts.Logger.Log(r.Context(), level, "admin", attrs...)
	})
}

// methods are the methods an admin path may take.
var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// unknown answers a request no action takes: 405 with the methods its
// path takes in Allow, or 404 for a path no action has.
func (a *API) unknown(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range methods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		return errNotFound("no such admin endpoint: " + r.Method + " " + r.URL.Path)
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	return &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
		Message: r.Method + " " + r.URL.Path + ": this endpoint takes " + strings.Join(allow, ", ")}
}
