package failover

import "time"

// ProbeLateness returns how late the probes of f's endpoints started against
// their schedule since the previous call (since startup, the first time),
// and forgets it: the median and 99th percentile, each to within 1/8, and
// the maximum, over n probes. A probe that starts during the call may be
// counted in either period. It is for bench/scale, which measures the
// plugin at scale from outside the package.
func (f *Failover) ProbeLateness() (p50, p99, most time.Duration, n int) {
	p50, p99, most, n = f.engine.Lateness()
	f.engine.ResetLateness()
	return p50, p99, most, n
}
