package main

import (
	"math"
	"testing"
)

func TestBucketsCoverEveryValue(t *testing.T) {
	values := []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 123456789, math.MaxUint64 >> 1, math.MaxUint64}
	for v := uint64(0); v < 5000; v++ {
		values = append(values, v)
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0,%d)", v, i, numBuckets)
		}
		hi := bucketMax(i)
		if hi < v {
			t.Fatalf("bucketMax(bucketOf(%d)) = %d, below the value", v, hi)
		}
		if i > 0 && bucketMax(i-1) >= v {
			t.Fatalf("%d also fits bucket %d below its own %d", v, i-1, i)
		}
		if v >= subBuckets && float64(hi-v) > float64(v)/subBuckets {
			t.Fatalf("bucket of %d reaches %d: more than 1/%d above", v, hi, subBuckets)
		}
	}
}

func TestQuantiles(t *testing.T) {
	uniform := newHistogram()
	for v := int64(1); v <= 100000; v++ {
		uniform.record(v)
	}
	skewed := newHistogram() // 990 fast, 9 slow, 1 very slow
	for range 990 {
		skewed.record(1000)
	}
	for range 9 {
		skewed.record(50000)
	}
	skewed.record(2000000)
	small := newHistogram()
	for _, v := range []int64{3, 1, 2, -5} { // a negative value counts as 0
		small.record(v)
	}
	tests := []struct {
		name string
		h    *histogram
		q    float64
		want uint64
	}{
		{"uniform p50", uniform, 0.5, 50000},
		{"uniform p99", uniform, 0.99, 99000},
		{"uniform p99.9", uniform, 0.999, 99900},
		{"uniform max", uniform, 1, 100000},
		{"uniform min", uniform, 0, 1},
		{"skewed p50", skewed, 0.5, 1000},
		{"skewed p99", skewed, 0.99, 1000},
		{"skewed p99.9", skewed, 0.999, 50000},
		{"skewed max", skewed, 1, 2000000},
		{"small p50", small, 0.5, 1},
		{"small p75", small, 0.75, 2},
		{"small max", small, 1, 3},
		{"empty", newHistogram(), 0.5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.h.quantile(tt.q)
			if got < tt.want || float64(got-tt.want) > float64(tt.want)/subBuckets {
				t.Errorf("quantile(%v) = %d, want %d within 1/%d above", tt.q, got, tt.want, subBuckets)
			}
		})
	}
	if skewed.max != 2000000 || skewed.min != 1000 || skewed.total != 1000 {
		t.Errorf("skewed: max %d min %d total %d", skewed.max, skewed.min, skewed.total)
	}
}

func TestHistogramMerge(t *testing.T) {
	a, b, all := newHistogram(), newHistogram(), newHistogram()
	for v := int64(0); v < 1000; v++ {
		all.record(v * 997)
		if v%2 == 0 {
			a.record(v * 997)
		} else {
			b.record(v * 997)
		}
	}
	a.merge(b)
	a.merge(newHistogram())
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 1} {
		if a.quantile(q) != all.quantile(q) {
			t.Errorf("merged quantile(%v) = %d, want %d", q, a.quantile(q), all.quantile(q))
		}
	}
	if a.total != all.total || a.min != all.min || a.max != all.max {
		t.Errorf("merged total/min/max %d/%d/%d, want %d/%d/%d", a.total, a.min, a.max, all.total, all.min, all.max)
	}
}

func TestHistogramAllocatesGroupsLazily(t *testing.T) {
	h := newHistogram()
	h.record(1500)
	if n := testing.AllocsPerRun(100, func() { h.record(1501) }); n != 0 {
		t.Errorf("recording into a used group allocates %v times", n)
	}
	used := 0
	for _, g := range h.groups {
		if g != nil {
			used++
		}
	}
	if used != 1 {
		t.Errorf("%d groups allocated for values of one power of two", used)
	}
}
