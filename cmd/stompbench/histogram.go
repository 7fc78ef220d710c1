package main

import (
	"math"
	"math/bits"
)

// subBits sets the histogram's precision: each power of two is split into
// 2^subBits linear buckets, so a reported value is within 1/128 (0.8%) of
// the recorded one, whatever its magnitude.
const (
	subBits    = 7
	subBuckets = 1 << subBits
	numGroups  = 64 - subBits + 1
	numBuckets = numGroups << subBits
)

// histogram is a log-linear histogram of non-negative integers (latencies
// in nanoseconds), in the manner of HdrHistogram. Its buckets come in
// groups of subBuckets, one group per power of two, each allocated when
// first used: the thousands of receivers of the conns scenario record a
// sample or two each. It is not safe for concurrent use; each receiver
// records into its own and they are merged.
type histogram struct {
	groups   [numGroups]*[subBuckets]uint64
	total    uint64
	min, max uint64
}

func newHistogram() *histogram {
	return &histogram{min: math.MaxUint64}
}

// bucket returns the counter of bucket i, allocating its group if need be.
func (h *histogram) bucket(i int) *uint64 {
	g := h.groups[i>>subBits]
	if g == nil {
		g = new([subBuckets]uint64)
		h.groups[i>>subBits] = g
	}
	return &g[i&(subBuckets-1)]
}

// bucketOf returns the index of the bucket that holds v.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return (shift+1)<<subBits + int(v>>shift) - subBuckets
}

// bucketMax returns the largest value bucket i holds.
func bucketMax(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	shift := i>>subBits - 1
	m := uint64(i&(subBuckets-1) + subBuckets)
	return (m+1)<<shift - 1
}

// record adds one value; negative values count as zero.
func (h *histogram) record(v int64) {
	u := uint64(max(v, 0))
	*h.bucket(bucketOf(u))++
	h.total++
	h.min = min(h.min, u)
	h.max = max(h.max, u)
}

// merge adds every value recorded in o.
func (h *histogram) merge(o *histogram) {
	for gi, g := range o.groups {
		if g == nil {
			continue
		}
		for j, c := range g {
			*h.bucket(gi<<subBits + j) += c
		}
	}
	h.total += o.total
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// quantile returns the value below or at which a fraction q (0 to 1) of the
// recorded values lie: the largest value of that bucket, capped at the
// largest value recorded. It returns 0 when nothing was recorded.
func (h *histogram) quantile(q float64) uint64 {
	if h.total == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(h.total))), 1)
	var seen uint64
	for gi, g := range h.groups {
		if g == nil {
			continue
		}
		for j, c := range g {
			seen += c
			if seen >= rank {
				return min(max(bucketMax(gi<<subBits+j), h.min), h.max)
			}
		}
	}
	return h.max
}
