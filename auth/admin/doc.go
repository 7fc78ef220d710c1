// Package admin serves stompd's administration API under /admin/: user
// accounts, live sessions, signing keys and service accounts. Requests and
// answers are JSON; a refusal is {"error": "<code>", "message": "<text>"}
// with its HTTP status, as on /auth/*.
//
// The API is served to two kinds of caller. Handler serves it on the
// public HTTP listener to bearers of an access token with the role admin:
// no valid token is 401, a token without the role 403. Local serves the
// same endpoints on the control socket in the data dir, whose mode (0600,
// owner only) is the check: its callers act as "local". That is how the
// stompd user and client commands reach a running server.
//
// Every request is counted in stompd_admin_requests_total by action and
// result, and every request that reaches an action is logged with who
// made it, the action and its target, never with a password, secret or
// token. An API is safe for concurrent use.
package admin
