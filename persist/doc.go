// Package persist is stompd's store: one bbolt file in the data dir (for
// example data/stompd.db, mode 0600) holding what must survive a restart.
//
// # What is stored
//
//   - Users: a random URL-safe ID (no ':'), an email that is unique regardless
//     of case and indexed, a display name, roles, the password hash the caller
//     computed (persist stores the bytes), and the creation time.
//   - Refresh tokens, known only by the SHA-256 hash of the opaque token the
//     caller hands out: family, user, issue and expiry times, and state (live,
//     rotated, revoked). Rotated tokens stay until they expire, so that a
//     second use is recognised as reuse.
//   - Families, one per login: user, whether revoked, creation time, and the
//     expiry of the last access token issued for it (recorded with its
//     refresh token, in the same transaction), so a denial of the login's
//     sid can end. Revoking a family (RevokeFamily, a detected reuse,
//     DeleteUser, SetPassword) also denies its id until then.
//   - Denied ids (access-token jtis, login sids) and when each denial ends.
//   - Keys: named byte blobs, such as the server's ring of signing keys,
//     replaced only by SwapKey's compare-and-swap.
//   - Clients (service accounts), by the id the operator chose: roles, the
//     hash of the secret the caller computed, the login id that is the sid
//     of their tokens, creation time, and the expiry of the last token
//     issued (RecordClientToken), so that DeleteClient, in the same
//     transaction, denies that login until then. Their bucket is made by
//     the first AddClient.
//   - The journal (Store.Journal): opaque messages kept until removed, a
//     broker's persistent queue messages, under increasing ids.
//   - Topic histories, saved at a graceful shutdown (SaveHistories) and taken
//     at the next start (TakeHistories reads and deletes them in one
//     transaction), kept as the bytes the broker handed over.
//
// Refresh tokens, families and denials are each indexed by when they end, so
// Sweep deletes what has expired in small batches without scanning the rest.
//
// # Guarantees
//
// Every method returns only after the bbolt transaction that makes its answer
// true has committed, and bbolt syncs the file on every commit: whatever a
// method reported done survives a crash right after. The Store keeps nothing
// in memory besides the open file, so there is nothing uncommitted to lose.
// Each check-and-change (rotating a token, adding a user under a unique
// email) runs in a single read-write transaction, and bbolt runs those one at
// a time, so of many concurrent rotations of one token exactly one succeeds.
//
// Open takes an exclusive lock on the file, held until Close, and gives up
// after Options.Timeout with ErrLocked. It never replaces an existing file:
// an empty, truncated, damaged or foreign file (including a bbolt file of
// another program) gives ErrCorrupt with the reason, and is left unchanged.
// Open checks the bbolt meta pages itself first, then opens the file
// read-only, walks every page in use with bounds checks (bbolt follows
// offsets in mapped memory unchecked, and garbage there would crash the
// process), runs bbolt's full consistency check and looks for the stompd
// format marker, turning any bbolt panic on the way into ErrCorrupt, and only
// then opens it for writing. A new store is made only where nothing exists
// yet, built under a temporary name and linked into place when complete.
//
// The Journal is the exception to one commit per call: Append and Remove
// queue their work and a single committer (Journal.Run) commits everything
// queued meanwhile, by every caller, in one transaction, so that one fsync
// serves many messages; each callback is called only once its transaction
// committed, or failed and stored and removed nothing of its batch. Appends
// waiting for a commit are bounded (JournalOptions.MaxPending): Append blocks
// beyond it.
//
// # Concurrency and ownership
//
// A Store is safe for concurrent use by many goroutines. Everything returned
// (users, records, key bytes, maps) is a copy the caller owns. Times are
// stored with nanosecond precision and returned in the local time zone.
// Package persist does not log and imports nothing else from stompd;
// callers report metrics from RefreshCount and SweepOptions.OnSweep.
//
// # Limits and costs
//
// persist adds no limits of its own beyond bbolt's: a key (an email, an id, a
// key name) must be 1 byte to 32 KiB, a value at most about 2 GiB; callers
// bound what they accept from users. Each Open reads the whole file once for
// the consistency check, so opening takes time in proportion to its size.
// Rotated refresh tokens are kept until they expire, so the file grows with
// logins times rotations per refresh lifetime; Sweep deletes at most
// SweepOptions.Batch records of each kind per transaction.
//
// # Errors
//
// Callers branch with errors.Is on ErrLocked, ErrCorrupt, ErrNotFound,
// ErrExists, ErrExpired, ErrRevoked, ErrReused, ErrClosed and ErrWrite.
// Other errors are I/O failures or misuse (an empty email, an expiry in
// the past).
//
// # A full disk
//
// A change whose commit cannot write the file (ENOSPC, EDQUOT, EFBIG under
// a file size limit, EIO) fails with ErrWrite, and Options.OnWrite hears
// of every commit's outcome. bbolt writes a commit's pages to free pages
// or past the end of the data, growing the file first (ftruncate), and
// only then the meta page that makes them current: a write that fails
// before the meta page leaves the last committed state whole, and bbolt
// rolls the transaction back and reloads its free list from that state,
// so the store stays usable with no reopen, and writes succeed again once
// there is room (TestDiskFull shows it on a full tmpfs and under
// RLIMIT_FSIZE). Some writes still succeed on a full disk, those whose
// pages fit in the free pages of the file. One case is left: a meta page
// written to the page cache whose fsync then fails (a device error, or
// ENOSPC reported only at fsync by a file system that allocates late)
// is committed for this process although reported failed.
package persist
