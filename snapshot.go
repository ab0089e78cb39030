package failover

import (
	"net"
	"sync/atomic"

	"github.com/miekg/dns"
)

// snapshot is the answer for every governed name under one health state. It is
// never changed once published, so ServeDNS reads it without a lock.
type snapshot struct {
	names     map[string]*decision // by lower-case fully qualified name
	ancestors map[string]*decision // the names between them and their zones: see ent.go
}

// decision is what a governed name answers, per address family, and how its
// pools stood when it was made.
type decision struct {
	a, aaaa choice
	pools   []poolVerdict // by the block's pool index
	block   *block        // that governs the name: its ttl and zone for negative answers
}

// choice is the answer for one name and family.
type choice struct {
	governed bool     // some pool holds an address of this family; if not, the family passes through
	ips      []net.IP // the addresses to answer; empty for NODATA or SERVFAIL
	rcode    int      // dns.RcodeSuccess, or dns.RcodeServerFailure under all_down servfail
	ttl      uint32   // cap on the TTL of the answered records
	pool     string   // the pool answered, "" when none
	reason   string   // why: "healthy", "failover" (a later pool) or "all_down POLICY"
	name     string   // the governed name, lower case: a metric label

	// The answers counter of the last server that answered with this choice:
	// looked up once, not on every query.
	counter *atomic.Pointer[answerCounter]
}

// lookup returns the choice for name and qtype (A or AAAA), or nil when failover
// does not govern them. It does not allocate, whatever the case of name.
func (s *snapshot) lookup(name string, qtype uint16) *choice {
	d := s.find(name)
	if d == nil {
		return nil
	}
	c := &d.a
	if qtype == dns.TypeAAAA {
		c = &d.aaaa
	}
	if !c.governed {
		return nil
	}
	return c
}

// find returns the decision of name, or nil when failover does not govern it.
// It does not allocate, whatever the case of name.
func (s *snapshot) find(name string) *decision { return findFold(s.names, name) }

// findFold returns m's decision for name in lower case, or nil.
func findFold(m map[string]*decision, name string) *decision {
	d, ok := m[name]
	if !ok {
		var buf [256]byte // a longer (escaped) name still works, with an allocation
		lower, changed := lowerASCII(buf[:0], name)
		if !changed {
			return nil
		}
		if d, ok = m[string(lower)]; !ok { // the conversion in a map index does not allocate
			return nil
		}
	}
	return d
}

// lowerASCII appends name in lower case to buf, and reports whether that changed anything.
func lowerASCII(buf []byte, name string) ([]byte, bool) {
	changed := false
	for i := 0; i < len(name); i++ {
		b := name[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
			changed = true
		}
		buf = append(buf, b)
	}
	return buf, changed
}

// buildSnapshot decides every name of blocks under the health that healthy
// reports and the overrides each block reads at this moment.
func buildSnapshot(blocks []*block, healthy func(member) bool) *snapshot {
	s := &snapshot{names: map[string]*decision{}}
	for _, b := range blocks {
		ov := b.overrides.current()
		var shared *decision // of the names that no pool override sets apart
		for _, name := range b.names {
			var d decision
			switch {
			case ov.hasPoolOverride(name):
				d = b.decide(judgeName(name, ov, healthy))
			case shared == nil:
				d = b.decide(judgeName(name, ov, healthy))
				shared = &d
			default:
				d = *shared
			}
			d.a.name, d.a.counter = name, new(atomic.Pointer[answerCounter])
			d.aaaa.name, d.aaaa.counter = name, new(atomic.Pointer[answerCounter])
			s.names[name] = &d
		}
	}
	s.ancestors = ancestorsOf(blocks, s.names)
	return s
}

// decide makes the decision of a name that judge judges.
func (b *block) decide(judge judge) decision {
	d := decision{pools: make([]poolVerdict, len(b.pools)), block: b}
	for i := range b.pools {
		d.pools[i] = b.pools[i].verdict(judge)
	}
	d.a, d.aaaa = b.choose(true, judge, d.pools), b.choose(false, judge, d.pools)
	return d
}

// choose picks the addresses of one family: the healthy ones of the first pool
// that is up and has any, else what the block's all_down policy says. A pool
// without addresses of the family is skipped; so is a drained member, always.
func (b *block) choose(ipv4 bool, judge judge, verdicts []poolVerdict) choice {
	c := choice{rcode: dns.RcodeSuccess, ttl: b.ttl, reason: "healthy"}
	for i := range b.pools {
		p := &b.pools[i]
		for _, m := range p.members {
			if m.is4() != ipv4 {
				continue
			}
			c.governed = true
			if verdicts[i].up && judge(p, m).healthy {
				c.ips = append(c.ips, m.ip)
			}
		}
		if len(c.ips) > 0 {
			c.pool = p.name
			return c
		}
		if c.governed {
			c.reason = "failover" // the pools after one that had addresses of the family
		}
	}
	if !c.governed {
		return c
	}
	c.reason = "all_down " + b.allDown.String()

	switch b.allDown {
	case allDownPrimary:
		// The first pool that has addresses of this family stands in for the primary.
		for i := range b.pools {
			c.ips = b.pools[i].answerable(ipv4, judge)
			if len(c.ips) > 0 {
				c.pool = b.pools[i].name
				break
			}
		}
	case allDownAll:
		for i := range b.pools {
			c.ips = append(c.ips, b.pools[i].answerable(ipv4, judge)...)
		}
		c.pool = "all"
	case allDownServfail:
		c.rcode = dns.RcodeServerFailure
	case allDownNodata:
	}
	return c
}

// answerable returns the pool's addresses of one family that are not drained,
// healthy or not.
func (p *pool) answerable(ipv4 bool, judge judge) []net.IP {
	var ips []net.IP
	for _, m := range p.members {
		if m.is4() == ipv4 && !judge(p, m).drained {
			ips = append(ips, m.ip)
		}
	}
	return ips
}
