package failover

import (
	"sync"
	"time"

	"github.com/failover-dns/failover/healthcheck"
)

// Health changes reach the answers through one goroutine per instance. A
// probe worker that sees a verdict change only records the endpoint and wakes
// that goroutine; it never waits for a rebuild, so a mass failure does not
// hold up the probes that detect it. The goroutine takes every change
// recorded since its last rebuild and rebuilds once: new decisions for the
// blocks whose endpoints or override files changed, the other decisions
// shared with the previous snapshot, and only the metric series of what
// changed.

// changes are the endpoints and override files that changed since the last
// rebuild took them.
type changes struct {
	mu        sync.Mutex
	endpoints map[*healthcheck.Endpoint]struct{}
	overrides map[*overrideSource]struct{}
	blocks    map[int]struct{} // whose Services changed, by position
	wake      chan struct{}    // holds a token while changes wait
}

func newChanges() *changes {
	return &changes{
		endpoints: map[*healthcheck.Endpoint]struct{}{},
		overrides: map[*overrideSource]struct{}{},
		blocks:    map[int]struct{}{},
		wake:      make(chan struct{}, 1),
	}
}

// blockChanged records that a Service of block i changed, or the verdict of
// one of its addresses. It never blocks on a rebuild.
func (c *changes) blockChanged(i int) {
	c.mu.Lock()
	c.blocks[i] = struct{}{}
	c.mu.Unlock()
	c.signal()
}

// endpointChanged records that e's verdict changed. It never blocks on a rebuild.
func (c *changes) endpointChanged(e *healthcheck.Endpoint) {
	c.mu.Lock()
	c.endpoints[e] = struct{}{}
	c.mu.Unlock()
	c.signal()
}

// overridesChanged records that the overrides of s changed.
func (c *changes) overridesChanged(s *overrideSource) {
	c.mu.Lock()
	c.overrides[s] = struct{}{}
	c.mu.Unlock()
	c.signal()
}

func (c *changes) signal() {
	select {
	case c.wake <- struct{}{}:
	default: // a rebuild is due already, and will take this change
	}
}

// take returns the changes recorded so far and forgets them. A change
// recorded after take wakes the next rebuild.
func (c *changes) take() (endpoints map[*healthcheck.Endpoint]struct{}, sources map[*overrideSource]struct{}, blocks map[int]struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	endpoints, sources, blocks = c.endpoints, c.overrides, c.blocks
	c.endpoints = map[*healthcheck.Endpoint]struct{}{}
	c.overrides = map[*overrideSource]struct{}{}
	c.blocks = map[int]struct{}{}
	return endpoints, sources, blocks
}

// dependents are the blocks whose decisions each endpoint and override file
// affects, by position in Failover.blocks. Fixed once the instance is parsed.
type dependents struct {
	blocks      int
	ofEndpoint  map[*healthcheck.Endpoint][]int
	ofOverrides map[*overrideSource][]int
}

func newDependents(blocks []*block) *dependents {
	d := &dependents{
		blocks:      len(blocks),
		ofEndpoint:  map[*healthcheck.Endpoint][]int{},
		ofOverrides: map[*overrideSource][]int{},
	}
	for i, b := range blocks {
		for _, p := range b.pools {
			for _, m := range p.members {
				if uses := d.ofEndpoint[m.endpoint]; len(uses) == 0 || uses[len(uses)-1] != i {
					d.ofEndpoint[m.endpoint] = append(uses, i)
				}
			}
		}
		if b.overrides != nil {
			d.ofOverrides[b.overrides] = append(d.ofOverrides[b.overrides], i)
		}
	}
	return d
}

// affected returns the positions of the blocks that endpoints and sources
// affect, in order, each once.
func (d *dependents) affected(endpoints map[*healthcheck.Endpoint]struct{}, sources map[*overrideSource]struct{}, blocks map[int]struct{}) []int {
	hit := make([]bool, d.blocks)
	n := 0
	mark := func(positions []int) {
		for _, i := range positions {
			if !hit[i] {
				hit[i] = true
				n++
			}
		}
	}
	for e := range endpoints {
		mark(d.ofEndpoint[e])
	}
	for s := range sources {
		mark(d.ofOverrides[s])
	}
	for i := range blocks {
		mark([]int{i})
	}
	affected := make([]int, 0, n)
	for i, h := range hit {
		if h {
			affected = append(affected, i)
		}
	}
	return affected
}

// follow rebuilds the answers after each burst of changes, until
// stopFollowing is closed. A rebuild starts at least rebuildSpacing after the
// previous one ended: the changes of that time make one rebuild, whatever
// their number. It ends the periods of the log of moves. The endpoints'
// verdicts are those healthy reports: probedHealthy but in tests.
func (f *Failover) follow(healthy func(member) bool) {
	defer f.following.Done()
	defer f.moves.flush()
	spacing := time.NewTimer(rebuildSpacing)
	defer spacing.Stop()
	period := time.NewTimer(moveLogPeriod)
	period.Stop()
	defer period.Stop()
	due := time.NewTimer(time.Until(f.deadlines.next()))
	defer due.Stop()
	for {
		select {
		case <-f.stopFollowing:
			return
		case <-period.C:
			f.moves.flush()
			continue
		case <-due.C:
			f.deadlines.passed(time.Now(), f.changes.blockChanged)
		case <-f.changes.wake:
		}
		inPeriod := f.moves.pending()
		f.rebuild(healthy)
		if !inPeriod && f.moves.pending() {
			period.Reset(moveLogPeriod)
		}
		resetTimer(due, time.Until(f.deadlines.next()))
		spacing.Reset(rebuildSpacing)
		select {
		case <-f.stopFollowing:
			return
		case <-spacing.C:
		}
	}
}

// rebuild publishes the answers under the changes recorded since the last
// rebuild, and sets the metric series of what changed.
func (f *Failover) rebuild(healthy func(member) bool) {
	endpoints, sources, blocks := f.changes.take()
	if len(endpoints) == 0 && len(sources) == 0 && len(blocks) == 0 {
		return
	}
	prev := f.state.Load()
	affected := f.dependents.affected(endpoints, sources, blocks)
	now := time.Now()
	next := prev.rebuilt(f.blocks, affected, healthy, now)
	f.state.Store(next)
	f.rebuilds.Add(1)
	for _, i := range affected {
		f.deadlines.set(i, next.blockDecisions(i, f.blocks[i]))
		f.holds.follow(f.blocks[i], prev.blockDecisions(i, f.blocks[i]), next.blockDecisions(i, f.blocks[i]), now)
	}

	// Block by block: the series are set in the order they were made,
	// not in the random order of the changes, which costs a cache miss each.
	for _, i := range affected {
		b := f.blocks[i]
		names, first := f.stateSeries.of(next.index, i, b), next.index.first[i]
		names.recordEndpoints(b, endpoints, healthy)
		for j, name := range b.names {
			names[j].record(b, name, prev.decisions[first+j], next.decisions[first+j], f.moves)
		}
	}
	f.recordAlertSeries(next, affected)
	if len(sources) > 0 {
		series := overrideSeries(f.blocks)
		setOverrideSeries(f.overrideSeries, series)
		f.overrideSeries = series
	}
}

// probedHealthy is the verdict of m's endpoint, as its probes found it; for
// a member a Service gives, also what Kubernetes says.
func probedHealthy(m member) bool {
	if m.source != nil {
		return serviceHealthy(m)
	}
	return m.endpoint.Healthy()
}

// rebuildSpacing is the least time from the end of a rebuild to the start of
// the next: at most that is added to the time a change takes to reach the
// answers. It bounds the rebuilds to 200 a second during a mass failure
// whose probes find one endpoint after another, each rebuild copying the
// decisions of every name (80 kB for 10,000 names).
var rebuildSpacing = 5 * time.Millisecond

// deadlines are when the decisions of each block must be made again though
// no health changes (a hold ends, a short TTL runs out), by block position.
// Owned by the goroutine that rebuilds the answers.
type deadlines []time.Time

// set records the deadline of the block whose decisions are ds.
func (d deadlines) set(i int, ds []*decision) {
	var at time.Time
	for j, dec := range ds {
		if j > 0 && dec == ds[j-1] {
			continue
		}
		at = earliest(at, dec.deadline)
	}
	d[i] = at
}

// next returns the earliest deadline; far in the future when there is none.
func (d deadlines) next() time.Time {
	var at time.Time
	for _, t := range d {
		at = earliest(at, t)
	}
	if at.IsZero() {
		return time.Now().Add(24 * time.Hour)
	}
	return at
}

// passed records, through changed, the blocks whose deadline is now or
// before, and clears them.
func (d deadlines) passed(now time.Time, changed func(int)) {
	for i, t := range d {
		if !t.IsZero() && !t.After(now) {
			d[i] = time.Time{}
			changed(i)
		}
	}
}

// resetTimer has t fire after wait, whether or not it fired already.
func resetTimer(t *time.Timer, wait time.Duration) {
	t.Stop()
	t.Reset(max(wait, 0))
}
