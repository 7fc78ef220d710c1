package broker

import (
	"math/bits"
	"unsafe"
)

// What a client makes the broker hold in its queues is counted in the heap
// bytes it really costs, not in its wire size, so that MaxQueuedBytes
// bounds the heap: a queued message costs its struct, its copy of the
// frame (destination, headers and body) and its ring slot; a queue costs
// its struct, its name and its entry in the router's map, for as long as it
// exists.
//
// The sizes below come from the structs themselves (unsafe.Sizeof) and the
// Go allocator's rounding (allocSize). The one figure that is not a struct
// size, mapEntryCost, was measured, and TestQueueCostMatchesHeap measures
// all of them again: it fills queues as SENDs do and compares the heap's
// growth, after a collection, with what was accounted, which must be within
// a tenth of it. Measured so with Go 1.26 on amd64: an empty message in a
// queue of its own grows the heap by 579 bytes (accounted 608: 192 for the
// message struct, 176 for the queue struct, 96 for its first four ring
// slots, 64 for its map entry, 80 for two small strings and the frame); in
// a queue that holds others, by 272 bytes (accounted 280). Its wire size,
// which was counted before, is about 110 bytes.
const (
	// mapEntryCost is what a queue's entry in the router's map takes: the
	// key and value (24 bytes) and a control byte, in tables that are at
	// most 7/8 full and grow by doubling, so between 29 and 57 bytes; 35
	// and 53 were measured at 100,000 and 65,536 queues. Maps do not
	// shrink: MaxDestinations bounds what they can keep.
	mapEntryCost = 64

	slotSize = int(unsafe.Sizeof(delivery{}))
)

var (
	messageStructCost = allocSize(int(unsafe.Sizeof(message{})))
	encodingsCost     = allocSize(int(unsafe.Sizeof(encodings{})))
	journaledCost     = allocSize(int(unsafe.Sizeof(journaled{}))) // of a persistent message
	queueStructCost   = allocSize(int(unsafe.Sizeof(queue{})))
)

// allocSize is what the Go allocator takes for an object of n bytes: small
// objects are rounded up to their size class (16-byte steps up to 512
// bytes; above that, classes about an eighth apart, which this takes as
// steps of an eighth of the next power of two, erring by up to an eighth
// either way), large ones to whole 8 KiB pages.
func allocSize(n int) int {
	switch {
	case n <= 0:
		return 0
	case n <= 512:
		return roundUp(n, 16)
	case n <= 32<<10:
		return roundUp(n, 1<<(bits.Len(uint(n-1))-3))
	}
	return roundUp(n, 8<<10)
}

func roundUp(n, step int) int { return (n + step - 1) / step * step }

// messageCost is what message m holds in the heap, fixed once it is made:
// the struct, its destination and the one buffer of its frame.
func messageCost(m *message) int {
	return messageStructCost + allocSize(len(m.dest)) + allocSize(cap(m.frame))
}

// cost is what a delivery waiting in a queue holds: its message and, once
// the message was delivered and put back, the encoding that delivery may
// have made (see message.encodes). It is counted whatever the version of
// the subscriber, so that the cost does not change while the delivery
// waits.
func (d delivery) cost() int {
	if !d.redelivered {
		return d.msg.heap
	}
	return d.msg.heap + d.msg.encodingCost()
}

// encodingCost is what the encoding of m's common part that a delivery may
// make holds (see message.encodes): the one for the subscribers' version,
// if they have but one, and the array that holds it.
func (m *message) encodingCost() int {
	if !m.encodes() {
		return 0
	}
	return encodingsCost + allocSize(m.encodingSize())
}

// queueCost is what the queue named name holds in the heap while it
// exists, apart from its ring: the struct, its name and its entry in the
// router's map.
func queueCost(name string) int {
	return queueStructCost + allocSize(len(name)) + mapEntryCost
}

// slotsCost is what a ring of n slots holds.
func slotsCost(n int) int { return allocSize(n * slotSize) }
