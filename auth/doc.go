// Package auth is stompd's authentication and authorisation: it issues and
// verifies JWT access tokens, WebSocket tickets and refresh tokens, serves
// the /auth/* HTTP API and /.well-known/jwks.json, checks browser origins
// (CORS and the WebSocket upgrade, with the allow-list of its sub-package
// edge, the HTTP edge it shares with the broker), throttles logins, and
// authorises the broker's resolved STOMP requests against per-destination
// rules.
//
// # Tokens
//
// Access tokens are JWTs signed with Ed25519 by default (the key is made on
// first start and kept through a KeyStore; its kid is the RFC 7638
// thumbprint). The stored keys are a ring: the current key, which signs,
// and the keys it replaced, each verifying until the last token it signed
// expires. Service.RotateKey adds a new key with one SwapKey, which signs
// only from DefaultKeyPublishDelay later: every Service on the store lists
// it in its JWKS within DefaultKeyReload (RunKeyRing; an unknown kid reads
// the ring again, at most once a second), so that it is published
// everywhere before any token of it exists, and each then switches to it
// by the clock. Tokens can also be signed with HS256 and
// a secret (NewHS256Keys), or be issued elsewhere
// and only verified here (ParsePublicKeyPEM, ParseJWKS, or NewRemoteJWKS
// on an identity provider's JWKS URL, fetched again periodically and on an
// unknown kid at most once per interval; login and refresh then answer 403
// login_disabled). Claims: sub, exp, iat, jti, iss, aud,
// sid (the login, i.e. the refresh-token family), roles and
// token_use:"access". Verification allows only the configured keys'
// algorithms, requires exp, iss, aud and token_use, and picks the key by
// kid among the configured keys only: jku, x5u and jwk headers are never
// followed.
//
// Tickets and refresh tokens are 256 random bits, base64url, opaque (never
// JWTs) and kept only as SHA-256 hashes: tickets in a TicketStore (single
// use, 30 s by default but never beyond the access token they were issued
// for),
// refresh tokens in the RefreshStore (rotated on every use; reusing a
// rotated one revokes its family). A token of one kind is never accepted as
// another. Logout revokes the family and denies its sid (and the token's
// jti) until its last access token expires, which ends every access token,
// ticket and session of that login (Options.OnLogout closes the sessions).
// A User that is Disabled cannot log in (403 account_disabled, said only
// after the right password) and its refresh tokens do not rotate.
//
// # Login throttling
//
// Failed logins are counted per account from one client address, per
// address, and per account from all addresses (5, 30 and 50 within 15
// minutes by default); at its limit, that pair, address or account is
// answered 429 with Retry-After until enough failures are older than the
// window, even for the right password. A login is counted before its
// password is checked and settled after, so a burst of concurrent attempts
// cannot pass the check together; a success takes its attempt back and
// clears its pair. Service.Unlock clears an account. Counts are kept in a
// LoginThrottle.
//
// # Service accounts
//
// Backends publish as clients (OAuth 2.0 client credentials): POST
// /auth/token with grant_type=client_credentials and the client's id and
// secret (form, JSON or HTTP Basic) returns an access token with the
// client's roles, sub "client:<id>" and, as sid, the client's login id; no
// refresh token. A wrong secret and an unknown client get the same 401
// invalid_client after the same work (a constant-time comparison of
// SHA-256 hashes, against a dummy for an unknown client). The secret is
// 256 random bits shown once (NewClient) and kept as its SHA-256: that
// entropy makes a slow hash pointless, so a client's check costs no
// password-check slot. Requests are counted by the login throttle under
// the client id and the address, at the stage "token". Each issued token
// is recorded with its client before it is signed, and deleting the client
// denies its login id until the last one expires, in one step of a
// ClientStore, which the Store may implement (both of stompd's do);
// Service.AddClient, Clients and DeleteClient serve the admin API.
//
// # Stores
//
// auth speaks to storage through one Options.Store, made of small
// interfaces defined here (Users, RefreshStore, Revoker, DenialStore,
// KeyStore), each method one atomic step, so that the bbolt file of one
// node and a Redis shared by many (package auth/redisstore) both fit;
// adapters map the store's errors to ErrUserNotFound, ErrRefreshNotFound,
// ErrRefreshExpired, ErrRefreshRevoked and ErrRefreshReused. A Store that
// is also a TicketStore or a LoginThrottle keeps tickets or throttle counts
// for every node on it; otherwise this process keeps them in memory. A
// store that cannot be reached, or cannot write (a full disk), wraps
// ErrUnavailable in its errors, and the HTTP API (and a ticket's upgrade)
// answers 503 unavailable with Retry-After, having handed out and ended
// nothing: a logout whose login the store could not revoke leaves it
// whole, for the client to try again. Verification goes on from the keys
// and denials held in memory.
//
// A denial made on another node reaches this one through
// Service.TakeDenial (a shared store's watch calls it), which denies the
// id here and ends its sessions through Options.OnLogout.
//
// # STOMP
//
// auth knows no STOMP frames: the broker resolves them and its hooks hand
// auth plain values. AuthenticateUpgrade checks the upgrade request,
// Connect a CONNECT's Credential, Authorize every later Request (the right
// it needs on its resolved destination, and its credential, if any),
// Refresh an in-band refresh, and SessionError tells whether a session
// (until Claims.Expires) must end. Errors meant for a peer are *Error:
// Error for people (an ERROR frame's message header), Status and Name for
// HTTP. auth knows no STOMP ERROR codes: the broker's side maps the kind of
// an *Error (its Name) to one.
//
// # Rules
//
// Of the rule patterns matching a destination, the most specific decides
// (see Rule). Rules are matched against the destination as the broker
// routes it, so a SUBSCRIBE to /user/queue/<name> is checked as
// /user/<sub>/queue/<name>; reading another user's destination is always
// refused. The {sub} pattern segment stands for the session's subject. /user/
// destinations no pattern matches follow built-in rules: their owner may
// read and write them, anybody may send to them. See Rule and DefaultRules.
//
// # Concurrency and limits
//
// Service and Keys are safe for concurrent use. Claims.Roles may
// be shared between callers and must not be modified. Limits: access
// tokens 8 KiB (MaxTokenSize), refresh tokens and tickets 256 bytes as
// received, JSON bodies 64 KiB, 100,000 outstanding tickets, 32 per
// login and 128 per user (Options.MaxTicketsPerLogin and
// MaxTicketsPerUser; past them 429), 10,000 cached
// verified tokens (Options.CacheSize), 100,000 throttled keys in each of
// the three tables (about 330 bytes per key of all three), twice GOMAXPROCS
// password checks at once and half of them for one client address
// (Options.MaxPasswordChecks; others wait up to 5 s, then get 429). Time comes from Options.Now everywhere but in
// that wait. Secrets and tokens are never logged.
package auth
