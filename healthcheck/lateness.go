package healthcheck

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// lateness is a histogram of how late probes start: buckets of 1 µs up to
// 16 µs, then 8 buckets per power of two up to 71 minutes. Recording takes an
// atomic add, and a compare-and-swap on a new maximum; no lock.
type lateness struct {
	counts [latenessBuckets]atomic.Uint64
	most   atomic.Int64
}

const (
	latenessSubBits = 3                                             // 1<<3 buckets per power of two
	latenessBuckets = (32 - latenessSubBits + 1) << latenessSubBits // to 1<<32 µs
)

func (l *lateness) record(d time.Duration) {
	l.counts[latenessBucket(d)].Add(1)
	for most := l.most.Load(); int64(d) > most; most = l.most.Load() {
		if l.most.CompareAndSwap(most, int64(d)) {
			return
		}
	}
}

func (l *lateness) reset() {
	for i := range l.counts {
		l.counts[i].Store(0)
	}
	l.most.Store(0)
}

func (l *lateness) quantiles() (p50, p99, most time.Duration, n int) {
	var counts [latenessBuckets]uint64
	var total uint64
	for i := range counts {
		counts[i] = l.counts[i].Load()
		total += counts[i]
	}
	if total == 0 {
		return 0, 0, 0, 0
	}
	most = time.Duration(l.most.Load())
	quantile := func(q float64) time.Duration {
		rank := uint64(q*float64(total) + 0.999999) // the ceiling, for ranks from 1
		var seen uint64
		for i, c := range counts {
			if seen += c; seen >= rank {
				return min(latenessTop(i), most)
			}
		}
		return most
	}
	return quantile(0.5), quantile(0.99), most, int(total)
}

// latenessBucket returns the bucket of d.
func latenessBucket(d time.Duration) int {
	v := uint64(max(d, 0) / time.Microsecond)
	if v < 2<<latenessSubBits {
		return int(v)
	}
	shift := bits.Len64(v) - latenessSubBits - 1
	return min((shift+1)<<latenessSubBits+int(v>>shift)-1<<latenessSubBits, latenessBuckets-1)
}

// latenessTop returns the least duration above bucket i.
func latenessTop(i int) time.Duration {
	if i < 2<<latenessSubBits {
		return time.Duration(i+1) * time.Microsecond
	}
	shift := i>>latenessSubBits - 1
	mantissa := uint64(i&(1<<latenessSubBits-1) | 1<<latenessSubBits)
	return time.Duration((mantissa+1)<<shift) * time.Microsecond
}
