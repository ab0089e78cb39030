package healthcheck

import (
	"sync/atomic"
	"time"
)

// RTTWindow is how many passed probes an endpoint's round-trip average
// covers: enough to smooth one slow probe, few enough that a backend that
// slows down moves within seconds at the usual intervals. Failed probes are
// not counted: their time is a timeout or a refusal, not a round trip.
const RTTWindow = 10

// rttAverage is the moving average of the round-trip times of an entry's
// passed probes. The worker probing the entry adds to it; readers (answers
// ordered by latency, the status) load one word, without a lock.
type rttAverage struct {
	// Owned by the worker probing the entry, as its passes and fails are.
	ring      [RTTWindow]time.Duration
	next, n   int
	sum       time.Duration
	published atomic.Uint64 // average in nanoseconds << 8 | samples; 0 before the first
}

func (r *rttAverage) add(took time.Duration) {
	took = max(took, 1) // a sample is never 0: the published word would read as none
	if r.n == RTTWindow {
		r.sum -= r.ring[r.next]
	} else {
		r.n++
	}
	r.ring[r.next] = took
	r.sum += took
	r.next = (r.next + 1) % RTTWindow
	avg := uint64(r.sum / time.Duration(r.n))
	r.published.Store(avg<<8 | uint64(r.n))
}

func (r *rttAverage) load() (time.Duration, int) {
	w := r.published.Load()
	return time.Duration(w >> 8), int(w & 0xff)
}

// RTT returns the moving average of the round-trip times of the endpoint's
// last passed probes (at most RTTWindow of them), and how many it covers: 0
// before the first passed probe, and while another replica of a fleet
// probes the endpoint instead of this process.
func (e *Endpoint) RTT() (average time.Duration, samples int) {
	if en := e.shared.Load(); en != nil {
		return en.rtt.load()
	}
	return 0, 0
}
