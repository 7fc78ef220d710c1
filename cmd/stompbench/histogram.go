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
	numBuckets = (64 - subBits + 1) << subBits
)

// histogram is a log-linear histogram of non-negative integers (latencies
// in nanoseconds), in the manner of HdrHistogram. It is not safe for
// concurrent use; each receiver records into its own and they are merged.
type histogram struct {
	counts   []uint64
	total    uint64
	min, max uint64
}

func newHistogram() *histogram {
	return &histogram{counts: make([]uint64, numBuckets), min: math.MaxUint64}
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
	h.counts[bucketOf(u)]++
	h.total++
	h.min = min(h.min, u)
	h.max = max(h.max, u)
}

// merge adds every value recorded in o.
func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
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
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(max(bucketMax(i), h.min), h.max)
		}
	}
	return h.max
}
