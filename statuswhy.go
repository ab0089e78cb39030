package failover

import (
	"fmt"
	"strings"
)

// why explains choice c of name for one family in one line, for the status:
// each pool passed over and why, then the pool that answers; or, when no pool
// could, what all_down answers and then each pool.
func (b *block) why(c *choice, ipv4 bool, verdicts []poolVerdict, name string, ov *overrideSet, av *alertView) string {
	allDown := strings.HasPrefix(c.reason, "all_down")
	var parts []string
	if allDown {
		parts = append(parts, b.allDownWhy(c, ipv4, verdicts))
	}
	for i := range b.pools {
		p := &b.pools[i]
		o := ov.poolOverride(name, p.name)
		if !allDown && p.name == c.pool {
			parts = append(parts, p.name+" "+upWhy(p, verdicts[i], o))
			break
		}
		if held := av.poolAlerts(name, p.name); len(held) > 0 && o == nil {
			parts = append(parts, p.name+" "+alertsWhy(held))
			continue
		}
		parts = append(parts, p.name+" "+passedOverWhy(p, verdicts[i], o, ipv4))
	}
	return strings.Join(parts, "; ")
}

// upWhy says why pool p, which answers, is up.
func upWhy(p *pool, v poolVerdict, o *override) string {
	if o != nil && o.state == overrideUp {
		return "is overridden up" + reasonOf(o)
	}
	why := fmt.Sprintf("is up: %d of %d endpoints healthy", v.healthy, p.size())
	if p.minHealthy > 1 {
		why += fmt.Sprintf(" (min_healthy %d)", p.minHealthy)
	}
	return why
}

// passedOverWhy says why pool p does not answer the family: o is its pool override, if any.
func passedOverWhy(p *pool, v poolVerdict, o *override, ipv4 bool) string {
	switch {
	case !p.hasFamily(ipv4):
		return "has no " + family(ipv4) + " address"
	case o != nil && o.state == overrideDown:
		return "is overridden down" + reasonOf(o)
	case o != nil && o.state == overrideDrain:
		return "is drained by override" + reasonOf(o)
	case !v.up:
		return fmt.Sprintf("is down: %d of %d endpoints healthy (min_healthy %d)", v.healthy, p.size(), max(p.minHealthy, 1))
	}
	// Up thanks to its members of the other family.
	return "is up, but none of its " + family(ipv4) + " addresses is healthy"
}

// allDownWhy says what the all_down policy answers when no pool can.
func (b *block) allDownWhy(c *choice, ipv4 bool, verdicts []poolVerdict) string {
	why := "every pool is down"
	for i := range b.pools {
		if verdicts[i].up && b.pools[i].hasFamily(ipv4) {
			why = "no pool has a healthy " + family(ipv4) + " address"
			break
		}
	}
	why += "; " + c.reason + " answers "
	switch {
	case b.allDown == allDownServfail:
		return why + "SERVFAIL"
	case b.allDown == allDownNodata:
		return why + "no address (NODATA)"
	case len(c.ips) == 0:
		return why + "no address: every one is drained"
	case b.allDown == allDownAll:
		return why + "every pool's addresses"
	}
	return why + c.pool + "'s addresses as if healthy"
}

// hasFamily reports whether p has an address of the family now.
func (p *pool) hasFamily(ipv4 bool) bool {
	for _, m := range p.liveMembers() {
		if m.is4() == ipv4 {
			return true
		}
	}
	return false
}

func family(ipv4 bool) string {
	if ipv4 {
		return "IPv4"
	}
	return "IPv6"
}

// reasonOf is the reason of override o, in parentheses, if it gives one.
func reasonOf(o *override) string {
	if o.reason == "" {
		return ""
	}
	return " (" + o.reason + ")"
}
