// Package redisstore keeps auth's shared state in Redis, so that several
// stompd nodes on one Redis (or Redis Cluster) behave as one issuer: a
// client may log in on one node, get its ticket on a second and connect to
// a third, and a logout on any node ends the login's sessions on all.
//
// A Store implements auth.Store (users, refresh tokens and families,
// denials, signing keys), auth.TicketStore and auth.LoginThrottle, so that
// auth.New keeps tickets and login throttle counts here too; and the user
// administration of the admin API and `stompd user --redis` (AddUser,
// Users, ChangeUser, Unlock); and auth.ClientStore, the service accounts.
// Wiring, in cmd/stompd:
//
//	store := redisstore.New(client, redisstore.Options{Logger: log})
//	keys, err := auth.LoadEd25519Keys(store)
//	svc, err := auth.New(auth.Options{Keys: keys, Store: store, OnLogout: ...})
//	go store.WatchDenials(ctx, svc.TakeDenial)
//
// # Atomicity
//
// Every method is one Redis command or one Lua script, so a check and what
// it records are one step on every node at once: of concurrent rotations of
// one refresh token, on any number of nodes, one succeeds and a later use
// of the rotated token revokes the family; a ticket is spent once; a
// login's and a user's ticket limits and the throttle's counts hold across
// nodes; nodes that start together store one ring of signing keys (SET NX GET),
// and a key rotation replaces the ring only if it is the one it was made
// from (a script), so that concurrent rotations on any nodes all land.
//
// # Keys, expiry and Redis Cluster
//
// Keys start with stompd:auth:. Redis sweeps them itself: a refresh token
// expires with the token (PEXPIREAT), a family with the last of its tokens
// and access tokens, a ticket with the ticket, failed-login counts a window
// after the last failure; the denials, one sorted set scored by when each
// ends, drop ended ones on every write and expire with the last. Users,
// signing keys and clients do not expire. Nothing is ever SCANned or
// listed with KEYS.
//
// A Lua script may only use keys of one hash slot on a Redis Cluster, so
// the keys a script uses together share a hash tag:
//
//   - {auth}: users, the email index, refresh tokens, families, each
//     user's set of families, clients and their set, and the denials.
//     Rotating a token reads its family and may revoke it and deny its
//     sid; deleting or disabling a user or changing its password or roles
//     ends all its families. These touch keys that only the script knows
//     (the family of a token), so they must be in one slot.
//   - {tickets}: tickets and the sorted sets of each login's, each user's
//     and all outstanding tickets, checked and updated together.
//   - {throttle}: the failed-login counts per pair, address and account,
//     checked and counted together.
//
// Each group thus lives on one shard of a cluster. Auth's traffic (a few
// commands per login, refresh, ticket and logout) is small next to the
// broker's messages, which spread over the cluster; one shard serves it.
// Signing keys are single keys and need no tag.
//
// # Revocation across nodes
//
// Every new or extended denial (logout, refresh-token reuse, a revoked
// family, a user deleted, disabled, or given a new password or roles) is published on the channel
// stompd:auth:denials by the script that records it. WatchDenials
// subscribes and hands each to auth.Service.TakeDenial, which denies it in
// memory and closes its sessions; after each (re)subscription it reads
// every denial in force, so none made while a node was cut off is missed.
// A denial reaches the other nodes in about a Redis round trip.
//
// # Failures
//
// Each call is bounded by Options.Timeout (2 s). A Redis that cannot be
// reached, or that answers LOADING, CLUSTERDOWN or TRYAGAIN, gives errors
// wrapping auth.ErrUnavailable, which auth's HTTP API answers 503
// {"error":"unavailable"}. Access tokens still verify meanwhile, from the
// keys and the denials each node holds in memory. WatchDenials retries
// every 100 ms to 2 s and holds nothing that grows while Redis is down.
// Whatever a Store reports done, Redis acknowledged; how durable that is
// depends on Redis's persistence settings (appendonly, appendfsync).
//
// # Concurrency, ownership and limits
//
// A Store is safe for concurrent use. It does not own the rueidis.Client,
// which the caller closes after the Store's last use (and after
// WatchDenials returned). Returned values are copies. Times are kept in
// milliseconds, and expiries are compared with Options.Now, so the nodes'
// clocks should agree (NTP). Redis bounds nothing here but by memory:
// tickets by auth's limits (100,000 in all), failed-login counts by the
// logins one window sees (at most the limit per key), denials by the
// logouts one access-token lifetime sees. Users are listed with one HGETALL
// of the email index, so `stompd user list` reads every user.
package redisstore
