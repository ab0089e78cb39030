package failover

import (
	"net"
	"slices"
	"time"
)

// With `ttl SECONDS MIN`, answers carry SECONDS while nothing suggests a
// change, and MIN while one may come: an answered endpoint is in doubt (a
// probe failed, `fall` is not reached), a failback hold is running, every
// pool is down, or the answer changed less than rise × interval (at least
// MIN + 1 s) ago. A
// resolver then caches long in calm times, and follows the next change
// within MIN seconds of it whenever it last asked in such a time. A resolver
// that cached a calm answer keeps it for up to SECONDS: DNS cannot take an
// answer back.

// Why an answer's TTL is what it is, shown in the status endpoint.
const (
	ttlSteady  = "steady"   // SECONDS: nothing suggests a change
	ttlDoubt   = "doubt"    // MIN: an answered endpoint failed a probe
	ttlHold    = "hold"     // MIN: a failback hold is running
	ttlAllDown = "all_down" // MIN: every pool is down
	ttlChanged = "changed"  // MIN: the answer changed less than rise × interval ago
)

// settleTTL sets when c's answer changed, following prev (nil for the first
// decision, which counts as a change: one probe judged each endpoint), and
// its TTL under the block's ttl line.
func (b *block) settleTTL(c, prev *choice, ipv4 bool, judge judge, live [][]member, now time.Time) {
	c.changed = now
	if prev != nil && sameAnswer(c, prev) {
		c.changed = prev.changed
	}
	if !b.shortTTL {
		return
	}
	switch {
	case c.hold != nil:
		c.ttlWhy = ttlHold
	case c.active < 0:
		c.ttlWhy = ttlAllDown
	case b.doubtful(c.active, ipv4, judge, live):
		c.ttlWhy = ttlDoubt
	case now.Before(c.changed.Add(b.changeWindow())):
		c.ttlWhy = ttlChanged
	default:
		c.ttlWhy = ttlSteady
		return
	}
	c.ttl = min(c.ttl, b.minTTL)
}

// changeWindow is how long after a change answers keep the short TTL: the
// time the endpoint that changed needs to show it was a flap (rise probes),
// and at least MIN + 1 s. A resolver that held the old answer with MIN asks
// again up to MIN (and Unbound a second more) after the change: it must get
// MIN again, or the next change, a flap's failback, reaches it only after
// SECONDS (integration/ttl_test.go, TestTTLFlapThroughUnbound).
func (b *block) changeWindow() time.Duration {
	return max(time.Duration(b.probe.Rise)*b.probe.Interval, time.Duration(b.minTTL)*time.Second+time.Second)
}

// deadline returns when c must be decided again though no health changes:
// its hold ends, or its short TTL after a change runs out. The zero time for
// never.
func (c *choice) deadline(b *block, now time.Time) time.Time {
	var at time.Time
	if c.hold != nil {
		at = c.hold.until(b.failback)
	}
	if b.shortTTL {
		if end := c.changed.Add(b.changeWindow()); now.Before(end) {
			at = earliest(at, end)
		}
	}
	return at
}

// doubtful reports whether an answered member of one family of the pool at
// index i is in doubt.
func (b *block) doubtful(i int, ipv4 bool, judge judge, live [][]member) bool {
	p := &b.pools[i]
	for _, m := range live[i] {
		if m.is4() == ipv4 && m.endpoint != nil && m.endpoint.Doubtful() && judge(p, m).healthy {
			return true
		}
	}
	return false
}

// sameAnswer reports whether a and b answer alike.
func sameAnswer(a, b *choice) bool {
	return a.rcode == b.rcode && a.pool == b.pool && slices.EqualFunc(a.ips, b.ips, net.IP.Equal)
}
