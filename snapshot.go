package failover

import (
	"net"
	"slices"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/failover-dns/failover/healthcheck"
)

// snapshot is the answer for every governed name under one health state. It is
// never changed once published, so ServeDNS reads it without a lock. A health
// change makes the next snapshot from the previous one: a copy of decisions,
// a slice of pointers, with new decisions for the blocks whose endpoints
// changed; the others, and index, are shared.
type snapshot struct {
	index     *nameIndex
	decisions []*decision // by position in index
}

// nameIndex is where each name's decision sits in the snapshots of one
// instance: the names of block i from first[i] on, in the block's order. It
// depends on the configuration alone, and every snapshot of it shares it.
type nameIndex struct {
	position  map[string]int // by lower-case fully qualified name
	first     []int          // by block
	ancestors map[string]int // the names between them and their zones, to a governed name below: see ent.go
}

func newNameIndex(blocks []*block) *nameIndex {
	x := &nameIndex{position: map[string]int{}, first: make([]int, len(blocks))}
	for i, b := range blocks {
		x.first[i] = len(x.position)
		for _, name := range b.names {
			x.position[name] = len(x.position)
		}
	}
	x.ancestors = ancestorsOf(blocks, x.position)
	return x
}

// decision is what a governed name answers, per address family, and how its
// pools stood when it was made.
type decision struct {
	a, aaaa choice
	pools   []poolVerdict // by the block's pool index
	block   *block        // that governs the name: its ttl and zone for negative answers
	alerts  *alertView    // the alerts in force it was made under; nil for none

	// When the decision must be made again though no health changed: a
	// failback hold ends, or a short TTL after a change (ttl SECONDS MIN)
	// runs out. Zero for never.
	deadline time.Time
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
	active   int      // the index of the pool answered for its health, -1 under all_down

	changed time.Time // when the answer (addresses, rcode) last changed
	ttlWhy  string    // why ttl is what it is: see settleTTL
	hold    *hold     // keeping the answers on a later pool: see failback.go; nil for none
	unheld  string    // why the hold of the choice before ended with this one, for the log

	answers   int                     // answers N of the block: at most N of ips a query; 0 for all (weights.go)
	shares    []int                   // the weights of ips, for a draw: under answers N or order random
	order     orderMode               // of the block: how each query orders ips (order.go)
	endpoints []*healthcheck.Endpoint // of ips, under order latency; nil for a member without probes

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
func (s *snapshot) find(name string) *decision {
	if i, ok := findFold(s.index.position, name); ok {
		return s.decisions[i]
	}
	return nil
}

// blockDecisions returns the decisions of the names of b, the block at position i.
func (s *snapshot) blockDecisions(i int, b *block) []*decision {
	first := s.index.first[i]
	return s.decisions[first : first+len(b.names)]
}

// findFold returns m's value for name in lower case.
func findFold(m map[string]int, name string) (int, bool) {
	i, ok := m[name]
	if !ok {
		var buf [256]byte // a longer (escaped) name still works, with an allocation
		lower, changed := lowerASCII(buf[:0], name)
		if !changed {
			return 0, false
		}
		i, ok = m[string(lower)] // the conversion in a map index does not allocate
	}
	return i, ok
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
// reports and the overrides each block reads at this moment, as the first
// decisions of an instance: none came before.
func buildSnapshot(blocks []*block, healthy func(member) bool) *snapshot {
	return buildSnapshotAfter(blocks, healthy, nil, time.Now())
}

// buildSnapshotAfter is buildSnapshot at now, following the decisions that
// carried gives for some blocks (by position; carried may be nil): a reload
// keeps their holds and the times their answers changed.
func buildSnapshotAfter(blocks []*block, healthy func(member) bool, carried [][]*decision, now time.Time) *snapshot {
	index := newNameIndex(blocks)
	s := &snapshot{index: index, decisions: make([]*decision, len(index.position))}
	for i, b := range blocks {
		var prev []*decision
		if i < len(carried) {
			prev = carried[i]
		}
		b.decideNames(s.decisions[index.first[i]:], prev, healthy, now)
	}
	return s
}

// rebuilt returns the snapshot that follows s at now when only the blocks at
// positions changed (of blocks) may decide differently: theirs are decided
// again, the other decisions are s's.
func (s *snapshot) rebuilt(blocks []*block, changed []int, healthy func(member) bool, now time.Time) *snapshot {
	next := &snapshot{index: s.index, decisions: slices.Clone(s.decisions)}
	for _, i := range changed {
		blocks[i].decideNames(next.decisions[s.index.first[i]:], s.blockDecisions(i, blocks[i]), healthy, now)
	}
	return next
}

// decideNames decides each name of b at now, into decisions in the order of
// b.names, under the health that healthy reports and the overrides b reads
// now, following prev, the decisions before (nil for none).
func (b *block) decideNames(decisions, prev []*decision, healthy func(member) bool, now time.Time) {
	ov := b.overrides.current()
	av := b.alertStore.Load().view(b, now)
	// One allocation for the block's decisions, one for their counters.
	made := make([]decision, len(b.names))
	counters := make([]atomic.Pointer[answerCounter], 2*len(b.names))
	shared := -1 // the first of the names that no pool override sets apart
	for j, name := range b.names {
		d := &made[j]
		var before *decision
		if j < len(prev) {
			before = prev[j]
		}
		switch {
		case ov.hasPoolOverride(name) || av.hasPool(name):
			*d = b.decide(name, judgeName(name, ov, av, healthy), before, ov, now)
		case shared < 0:
			*d = b.decide(name, judgeName(name, ov, av, healthy), before, ov, now)
			shared = j
		default:
			*d = made[shared]
		}
		// Made again when the first of its alerts' endsAt passes.
		d.alerts, d.deadline = av, earliest(d.deadline, av.expiry())
		d.a.name, d.a.counter = name, &counters[2*j]
		d.aaaa.name, d.aaaa.counter = name, &counters[2*j+1]
		decisions[j] = d
	}
}

// decide makes the decision of name, which judge judges, at now, following
// prev (nil for none).
func (b *block) decide(name string, judge judge, prev *decision, ov *overrideSet, now time.Time) decision {
	d := decision{pools: make([]poolVerdict, len(b.pools)), block: b}
	live := b.liveMembers()
	for i := range b.pools {
		d.pools[i] = b.pools[i].verdict(live[i], judge)
	}
	var prevA, prevAAAA *choice
	if prev != nil {
		prevA, prevAAAA = &prev.a, &prev.aaaa
	}
	for _, f := range []struct {
		c, prev *choice
		ipv4    bool
	}{{&d.a, prevA, true}, {&d.aaaa, prevAAAA, false}} {
		*f.c = b.choose(f.ipv4, judge, d.pools, live)
		if !f.c.governed {
			continue
		}
		b.holdBack(f.c, f.prev, name, f.ipv4, judge, d.pools, live, ov, now)
		b.arrange(f.c, slices.Concat(live...))
		b.settleTTL(f.c, f.prev, f.ipv4, judge, live, now)
		d.deadline = earliest(d.deadline, f.c.deadline(b, now))
	}
	return d
}

// choose picks the addresses of one family: the healthy ones of the first pool
// that is up and has any, else what the block's all_down policy says. A pool
// without addresses of the family is skipped; so is a drained member, always.
func (b *block) choose(ipv4 bool, judge judge, verdicts []poolVerdict, live [][]member) choice {
	c := choice{rcode: dns.RcodeSuccess, ttl: b.ttl, reason: "healthy", active: -1}
	for i := range b.pools {
		p := &b.pools[i]
		for _, m := range live[i] {
			if m.is4() != ipv4 {
				continue
			}
			c.governed = true
			if verdicts[i].up && judge(p, m).healthy {
				c.ips = append(c.ips, m.ip)
			}
		}
		if len(c.ips) > 0 {
			c.pool, c.active = p.name, i
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
			c.ips = b.pools[i].answerable(live[i], ipv4, judge)
			if len(c.ips) > 0 {
				c.pool = b.pools[i].name
				break
			}
		}
	case allDownAll:
		for i := range b.pools {
			c.ips = append(c.ips, b.pools[i].answerable(live[i], ipv4, judge)...)
		}
		c.pool = "all"
	case allDownServfail:
		c.rcode = dns.RcodeServerFailure
	case allDownNodata:
	}
	return c
}

// answerable returns the pool's addresses of one family that are not drained,
// healthy or not, of its members now.
func (p *pool) answerable(members []member, ipv4 bool, judge judge) []net.IP {
	var ips []net.IP
	for _, m := range members {
		if m.is4() == ipv4 && !judge(p, m).drained {
			ips = append(ips, m.ip)
		}
	}
	return ips
}
