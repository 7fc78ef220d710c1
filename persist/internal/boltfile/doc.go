// Package boltfile reads the bbolt file format (version 2) directly, with
// ReadAt and bounds checks, so that persist can refuse a damaged file
// before bbolt, which follows offsets in mapped memory without checking
// them, is led outside the file and crashes the process (a fault, which no
// recover can catch).
//
// Preflight checks what bbolt reads on opening a file: that it is a regular
// file, long enough for the meta pages, with a valid meta page (magic,
// version, checksum) whose page size, root, freelist and high-water mark fit
// the file. Walk then checks every page in use: the freelist, and the tree
// of buckets with each page's id, flags, overflow, element bounds and key
// order. Every error either returns says, in a few words fit for an
// operator, why the file is not a sound bbolt store; the caller adds which
// file it is.
//
// # The format
//
// All integers are in native byte order. Every page starts with a 16-byte
// header: page id (8), flags (2), element count (2), overflow page count (4).
// A meta page holds, after the header: magic, version, page size, flags (4
// each), root bucket page and sequence, freelist page, high-water page,
// transaction id (8 each) and an FNV-64a checksum of the fields before it.
// Branch pages hold 16-byte elements (key offset and size, 4 each; child page,
// 8), leaf pages 16-byte elements (flags, key offset, key size, value size, 4
// each); offsets count from the element. A leaf element flagged as a bucket
// has a value of root page and sequence (8 each), and a root page of 0 means
// the bucket's own leaf page follows inline in the value. A freelist page
// holds page ids (8 each); a count of 0xFFFF means the real count is the
// first id slot.
//
// # Limits and concurrency
//
// Walk reads each page once, holds one page (with its overflow) at a time
// plus a set of the page ids seen, so what it allocates is bounded by the
// file's size; buckets and branch pages nest at most 64 deep. Both functions
// only read f, with ReadAt, and are safe to call concurrently; neither
// keeps anything after it returns.
package boltfile
