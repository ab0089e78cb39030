package failover

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/failover-dns/failover/healthcheck"
)

// stateSeries are the series of the state of each name of an instance, by
// position in the index of its snapshots. They are looked up once, at
// startup, once the instance owns them (see ownedSeries): a rebuild after a
// mass failure sets tens of thousands of them, and a lookup by label values
// costs ten times the setting.
type stateSeries []nameSeries

type nameSeries struct {
	endpointHealthy [][]prometheus.Gauge  // by pool and member
	poolUp          []prometheus.Gauge    // by pool
	activePool      [2][]prometheus.Gauge // by family (A, AAAA) and pool; nil for a family the name does not govern
	failovers       [2]prometheus.Counter // by family; nil likewise
	failbacks       [2]prometheus.Counter
}

var families = [2]string{"A", "AAAA"}

func lookupStateSeries(blocks []*block) stateSeries {
	var all stateSeries
	for _, b := range blocks {
		for _, name := range b.names {
			s := nameSeries{
				endpointHealthy: make([][]prometheus.Gauge, len(b.pools)),
				poolUp:          make([]prometheus.Gauge, len(b.pools)),
			}
			for i, p := range b.pools {
				for _, m := range p.members {
					s.endpointHealthy[i] = append(s.endpointHealthy[i], endpointHealthy.WithLabelValues(name, p.name, m.addr.String()))
				}
				s.poolUp[i] = poolUp.WithLabelValues(name, p.name)
			}
			// The series of a family no pool has an address of would
			// be 0 for ever: they are not made.
			for f, qtype := range families {
				if !b.hasFamily(f == 0) {
					continue
				}
				for _, p := range b.pools {
					s.activePool[f] = append(s.activePool[f], activePool.WithLabelValues(name, qtype, p.name))
				}
				s.failovers[f] = failovers.WithLabelValues(name, qtype)
				s.failbacks[f] = failbacks.WithLabelValues(name, qtype)
			}
			all = append(all, s)
		}
	}
	return all
}

// hasFamily reports whether some pool of b has an address of the family:
// the names of b govern its queries. A Service may bring either.
func (b *block) hasFamily(ipv4 bool) bool {
	if b.hasServices() {
		return true
	}
	for _, p := range b.pools {
		for _, m := range p.members {
			if m.is4() == ipv4 {
				return true
			}
		}
	}
	return false
}

// of returns the series of the names of block i of snapshots indexed by x.
func (s stateSeries) of(x *nameIndex, i int, b *block) stateSeries {
	return s[x.first[i] : x.first[i]+len(b.names)]
}

// recordState sets every series of blocks under snapshot next and the
// endpoints' verdicts healthy reports, the first state of an instance: not
// a failover.
func (s stateSeries) recordState(blocks []*block, next *snapshot, healthy func(member) bool) {
	for i, b := range blocks {
		names := s.of(next.index, i, b)
		for pi, p := range b.pools {
			for mi, m := range p.members {
				names.setEndpointHealthy(pi, mi, healthy(m))
			}
		}
		first := next.index.first[i]
		for j, name := range b.names {
			names[j].record(b, name, nil, next.decisions[first+j], nil)
		}
	}
}

// recordEndpoints sets the gauges of the verdicts of the members of block b
// whose endpoints changed; names are the series of b's names.
func (names stateSeries) recordEndpoints(b *block, changed map[*healthcheck.Endpoint]struct{}, healthy func(member) bool) {
	for pi, p := range b.pools {
		for mi, m := range p.members {
			if _, ok := changed[m.endpoint]; ok {
				names.setEndpointHealthy(pi, mi, healthy(m))
			}
		}
	}
}

func (names stateSeries) setEndpointHealthy(pool, member int, healthy bool) {
	v := 0.0
	if healthy {
		v = 1
	}
	for _, s := range names {
		s.endpointHealthy[pool][member].Set(v)
	}
}

// record sets the gauges of name in block b that differ between decisions
// prev and next (every one when prev is nil), counts its moves between pools
// and adds them to moves.
func (s nameSeries) record(b *block, name string, prev, next *decision, moves *moveLog) {
	if prev == next {
		return
	}
	for i := range b.pools {
		if prev != nil && prev.pools[i].up == next.pools[i].up {
			continue
		}
		v := 0.0
		if next.pools[i].up {
			v = 1
		}
		s.poolUp[i].Set(v)
	}
	var prevA, prevAAAA *choice
	if prev != nil {
		prevA, prevAAAA = &prev.a, &prev.aaaa
	}
	s.recordPool(b, name, 0, prevA, &next.a, moves)
	s.recordPool(b, name, 1, prevAAAA, &next.aaaa, moves)
}

// recordPool sets the active pool of name for one family, and counts a
// failover or failback from prev.
func (s nameSeries) recordPool(b *block, name string, family int, prev, next *choice, moves *moveLog) {
	if !next.governed || (prev != nil && prev.pool == next.pool) {
		return
	}
	for i, p := range b.pools {
		v := 0.0
		if p.name == next.pool {
			v = 1
		}
		s.activePool[family][i].Set(v)
	}
	if prev == nil {
		return // the counters start at 0, so that increase() sees the first failover after a start
	}
	qtype := families[family]
	switch from, to := b.poolIndex(prev.pool), b.poolIndex(next.pool); {
	case from >= 0 && (to > from || to < 0):
		s.failovers[family].Inc()
		moves.add(move{name: name, qtype: qtype, from: prev.pool, to: poolOrNone(next.pool), reason: next.reason})
	case to >= 0 && (to < from || from < 0):
		s.failbacks[family].Inc()
		moves.add(move{back: true, name: name, qtype: qtype, from: poolOrNone(prev.pool), to: next.pool, reason: next.reason})
	}
}

func poolOrNone(pool string) string {
	if pool == "" {
		return "none"
	}
	return pool
}
