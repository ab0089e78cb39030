package failover

import (
	"net"
	"time"
)

// After a failover, answers return to an earlier pool as soon as it is up
// again, by default. A primary that comes and goes more slowly than `rise`
// and `fall` can tell then moves the traffic back and forth with it. With
// `failback DURATION`, answers return only once the earlier pool has been up
// for DURATION without one failed probe; with `failback manual`, only once an
// operator releases the hold through the override file. Failing over is
// never held back.

// failbackPolicy is how answers return to an earlier pool once it is up again.
type failbackPolicy struct {
	manual bool
	after  time.Duration // how long the earlier pool must stay clean; 0 and not manual: at once
}

func (p failbackPolicy) immediate() bool { return !p.manual && p.after == 0 }

func (p failbackPolicy) String() string {
	switch {
	case p.manual:
		return "manual"
	case p.after == 0:
		return "immediate"
	}
	return p.after.String()
}

// hold keeps the answers of a name and family on a later pool while an
// earlier one, up again, earns their return. It is never changed once made.
type hold struct {
	from  int       // the pool the answers return to when the hold ends
	since time.Time // when the hold started, to the second: names it in a release line
	clean time.Time // since when that pool has been up without a failed probe
}

// until returns when h ends by itself under policy p; the zero time for a
// manual hold, which waits for its release.
func (h *hold) until(p failbackPolicy) time.Time {
	if p.manual {
		return time.Time{}
	}
	return h.clean.Add(p.after)
}

// releaseLine is the override file line that releases h of name.
func (h *hold) releaseLine(b *block, name string) string {
	return name + "/" + b.pools[h.from].name + " release " + h.since.UTC().Format(time.RFC3339)
}

// holdBack keeps c, the answer of one family that health alone chose, on the
// pool prev answered when c returns to an earlier pool that has not yet
// earned it under the block's failback policy. A hold never makes the
// answer worse than a failback would: when no pool from the held one on is up,
// the earlier pool answers. An override on either pool, or a release line
// for the hold, ends it at once: the operator decides.
//
// When a hold ends, c.unheld says why, for the log.
func (b *block) holdBack(c, prev *choice, name string, ipv4 bool, judge judge, verdicts []poolVerdict, live [][]member, ov *overrideSet, now time.Time) {
	if prev == nil {
		return
	}
	if prev.hold != nil {
		c.unheld = b.unheld(c, prev)
	}
	if b.failback.immediate() || prev.active < 0 || c.active < 0 || c.active >= prev.active {
		return // no failback: nothing to hold back
	}
	if b.overridden(name, c.active, judge, live, ov) || b.overridden(name, prev.active, judge, live, ov) {
		c.unheld = "an override is in force"
		return
	}
	h := prev.hold
	switch {
	case h == nil:
		h = &hold{from: c.active, since: now.Truncate(time.Second), clean: now}
	case h.from != c.active:
		// Another earlier pool is back: it earns the return from now.
		h = &hold{from: c.active, since: h.since, clean: now}
	}
	if failed := b.lastFailure(h.from, live); failed.After(h.clean) {
		h = &hold{from: h.from, since: h.since, clean: failed}
	}
	from := b.pools[h.from].name
	if ov.released(name, from, h.since) {
		c.unheld = "released by the override file"
		return
	}
	if !b.failback.manual && !now.Before(h.until(b.failback)) {
		c.unheld = "pool " + from + " was up for " + b.failback.String() + " without a failed probe"
		return
	}
	ips, i := b.healthyFrom(prev.active, ipv4, judge, verdicts, live)
	if i < 0 {
		ips, i = b.healthyFrom(h.from+1, ipv4, judge, verdicts, live)
	}
	if i < 0 {
		c.unheld = "no pool after " + from + " is up"
		return
	}
	c.ips, c.pool, c.active, c.reason, c.hold, c.unheld = ips, b.pools[i].name, i, "failover", h, ""
}

// unheld says why the hold of prev ends when health alone chose c, unless
// holdBack finds another reason or keeps holding.
func (b *block) unheld(c, prev *choice) string {
	switch {
	case c.active < 0:
		return "every pool is down"
	case b.failback.immediate():
		return "failback is immediate now"
	case c.active >= prev.active:
		return "pool " + b.pools[prev.hold.from].name + " is down again"
	}
	return ""
}

// healthyFrom returns the healthy addresses of one family of the first pool,
// from the one at index first on, that is up and has any, and its index; -1
// when none has.
func (b *block) healthyFrom(first int, ipv4 bool, judge judge, verdicts []poolVerdict, live [][]member) ([]net.IP, int) {
	for i := first; i < len(b.pools); i++ {
		if !verdicts[i].up {
			continue
		}
		var ips []net.IP
		for _, m := range live[i] {
			if m.is4() == ipv4 && judge(&b.pools[i], m).healthy {
				ips = append(ips, m.ip)
			}
		}
		if len(ips) > 0 {
			return ips, i
		}
	}
	return nil, -1
}

// overridden reports whether an override is in force for the pool at index
// i of name, or for one of its members.
func (b *block) overridden(name string, i int, judge judge, live [][]member, ov *overrideSet) bool {
	if ov == nil {
		return false
	}
	p := &b.pools[i]
	if ov.poolOverride(name, p.name) != nil {
		return true
	}
	for _, m := range live[i] {
		if judge(p, m).override != nil {
			return true
		}
	}
	return false
}

// lastFailure returns when a probe of a member of the pool at index i last
// failed; the zero time when none has.
func (b *block) lastFailure(i int, live [][]member) time.Time {
	var last time.Time
	for _, m := range live[i] {
		if m.endpoint == nil {
			continue
		}
		if t := m.endpoint.LastFailure(); t.After(last) {
			last = t
		}
	}
	return last
}

// earliest returns the earlier of two deadlines, the zero time standing for none.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}
