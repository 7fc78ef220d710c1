package redisbus

import (
	"context"
	"strconv"
	"strings"
	"sync"
)

// A topic that a node listens to while its partition has no connection
// (its first local subscriber came while Redis was down) has no place on
// the node: no offset received, and, its SUBSCRIBE unanswered by Redis,
// none in the broker either. Once the partition catches up, everything its
// stream kept would reach that subscriber, messages stored long before it
// came as well, which a client that resumed from another node had, and
// which SPEC §7 does not replay to a resume not met.
//
// So each partition has a clock in Redis, "stompd:hq:{<partition>}", a
// hash of its life (field e, random, drawn when the clock is created) and
// a number (field n), which appendScript, in the same slot, raises by one
// for each message it keeps and writes into the message's entry ID
// ("<offset>-<number>", so that an entry costs no more room); after each
// run that kept some, it publishes the clock, "\n<life> <number>", on the
// partition's service channel, to which every node's connection of the
// partition subscribes. A node so knows, when it loses the connection, the
// clock of the last message Redis kept in the partition before, with no
// clock of two machines compared: the numbers are Redis's, and the
// connection receives in the order Redis published. That is the
// partition's cut. A catch-up passes over, for a topic without a place,
// the entries whose number is not above the cut's: they were kept before
// the connection was lost, so before its subscriber came; those above it,
// kept since (Redis back, the node's own outbox and the other nodes'
// included), are delivered. That holds while the clock keeps its life,
// which the new connection hears first (readClock).
//
// The cut is exact when Redis itself went down (restarted, killed): nobody
// kept anything between the node's loss and the SUBSCRIBE. When only this
// node lost Redis while the others went on, the messages kept between the
// loss and the SUBSCRIBE come after the cut: the cut errs on the side of
// delivering them, never of losing one kept after the SUBSCRIBE. A clock of
// another life (Redis lost its data), or one the new connection could not
// read, leaves the cut out: every entry is delivered, all of them kept
// after Redis came back in the first case. A Redis back from an append-only
// file that missed its last writes has a clock gone back with them: the
// entries kept since it came back, up to the cut's number, are passed over
// then. A partition that has not yet caught up once since the node started
// has no cut: its topics without a place are caught up in full.

// clockPrefix begins the key of a partition's clock.
const clockPrefix = "stompd:hq:"

// clockKey returns the key of partition i's clock.
func clockKey(i int) string {
	return clockPrefix + "{" + strconv.Itoa(i) + "}"
}

// clock is what a partition knows of its clock in Redis: the latest it
// heard, and the cut, what it was when the partition's last connection
// that had caught up ended.
type clock struct {
	mu       sync.Mutex
	at       position // epoch is the clock's life, offset its number
	heard    bool     // at is known
	heardNow bool     // the current connection heard at
	cut      position
	hasCut   bool
	caughtUp bool // the current connection caught up
}

// parseClock parses a clock as appendScript writes it: "<life> <number>".
func parseClock(s string) (position, bool) {
	life, n, ok := strings.Cut(s, " ")
	number, err := strconv.ParseUint(n, 10, 64)
	return position{epoch: life, offset: number}, ok && err == nil
}

// hear records c, a clock Redis sent: the latest of its life, or one of
// another life (Redis lost its data).
func (k *clock) hear(c position) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.heardNow = true
	if k.heard && c.epoch == k.at.epoch && c.offset <= k.at.offset {
		return
	}
	k.at, k.heard = c, true
}

// caught records that the partition's connection caught up: when it ends,
// the clock heard until then is the cut.
func (k *clock) caught() {
	k.mu.Lock()
	k.caughtUp = true
	k.mu.Unlock()
}

// ended records the end of the partition's connection: the clock heard is
// the cut, when the connection had caught up; otherwise the cut stays the
// one before, since this connection delivered nothing of what it held.
func (k *clock) ended() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.caughtUp && k.heard {
		k.cut, k.hasCut = k.at, true
	}
	k.caughtUp, k.heardNow = false, false
}

// cutOf returns the cut's number, if the partition has a cut and the
// current connection heard the clock in the cut's life.
func (k *clock) cutOf() (uint64, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cut.offset, k.hasCut && k.heardNow && k.at.epoch == k.cut.epoch
}

// passed reports whether r's entry i is to be passed over: kept at or
// below r's cut.
func (r readResult) passed(i int) bool {
	return r.cut != nil && r.clocks[i] <= *r.cut
}

// readClock asks Redis for the partition's clock and records it, once its
// connection subscribed to the service channel (which carries every later
// one): a partition with no message since the node started knows its
// clock so all the same. A clock that does not exist is heard as one of no
// life: every entry kept later is above it. Without history there is no
// clock.
func (p *partition) readClock(ctx context.Context) {
	if !p.b.history.on {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	h, err := p.b.client.Do(ctx, p.b.client.B().Hmget().Key(p.clockKey).Field("e", "n").Build()).ToArray()
	if err != nil || len(h) != 2 {
		return // the pushes still tell it, from the next message on
	}
	life, _ := h[0].ToString()
	n, _ := h[1].ToString()
	if c, ok := parseClock(life + " " + n); ok || life == "" {
		p.clk.hear(c)
	}
}
