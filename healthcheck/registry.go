package healthcheck

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// The registry holds every endpoint probed in the process, once, whatever
// engines use it: the engines of several server blocks, and on a reload the
// engines of the old and the new configuration, which run side by side for a
// moment. Each entry counts the engines that use it (as Caddy keeps upstream
// hosts in a usage pool): the first to start creates it and it is scheduled;
// the last to stop removes it, its probes end and its kept-alive connections
// close. A reload that keeps an endpoint keeps its entry, and with it the
// verdict and the counts towards rise and fall, without copying anything.
//
// One scheduler (schedule.go) probes every entry; it runs while the registry
// holds any, so the bound on probes in flight is the process's, and once the
// last engine has stopped no goroutine of this package is left.
//
// It is the package's only mutable state, besides the MaxInFlight and ConnLoop knobs.
var shared = registry{entries: map[key]*entry{}, lineages: map[lineage][]*entry{}}

type registry struct {
	mu       sync.Mutex
	entries  map[key]*entry
	lineages map[lineage][]*entry // the entries of each lineage, to inherit verdicts from
	sched    *scheduler           // nil while there is no entry
}

// entry is one endpoint probed for the whole process: its prober, and the
// verdict that the endpoints of every engine using it read.
type entry struct {
	key      key
	addr     netip.Addr
	settings Settings // of the endpoint that created it: the same probes as the others'

	probe     prober
	closeIdle func()     // closes the connections kept between probes; called once its probes have ended
	loop      loopRef    // of the scheduler probing it, for its probes' connections
	direct    *loopProbe // what the loop needs to run its probes by itself; nil if it cannot

	healthy atomic.Bool  // the verdict served: local's, unless a fleet steers it (steer.go)
	local   atomic.Bool  // the verdict of this process's own probes
	probed  atomic.Bool  // it has a verdict: from its first probe, or inherited
	since   atomic.Int64 // when the verdict was first reached or last changed, in Unix nanoseconds; 0 before
	doubt   atomic.Bool  // healthy, but its last probes failed: fewer than Fall of them (Doubtful)
	failed  atomic.Int64 // when its last failed probe ended, in Unix nanoseconds; 0 for none
	last    atomic.Pointer[ProbeResult]
	rtt     rttAverage    // of its passed probes
	judged  chan struct{} // closed once probed

	probes, failures atomic.Uint64

	// Steering by a fleet (steer.go).
	steerMu     sync.Mutex
	steers      int // Steer calls not undone
	steeredFlag atomic.Bool
	delegated   atomic.Bool // another replica probes it: its probes are skipped
	restart     atomic.Bool // its next result decides the local verdict by itself
	onLocal     atomic.Pointer[func()]

	// Owned by the worker probing it; passed between workers under the
	// schedule's lock.
	passes, fails int

	// Its engines' endpoints, oldest first; replaced, never changed, under
	// the registry's lock, so that a worker reads it without one.
	users atomic.Pointer[[]*Endpoint]
	refs  int // len(*users), under the registry's lock

	ctx     context.Context // cancelled when the last engine using it stops
	cancel  context.CancelFunc
	probing sync.WaitGroup // its probe handed out or running
	slot    *slot
	sched   *scheduler
}

func newEntry(k key, addr netip.Addr, s Settings) *entry {
	en := &entry{key: k, addr: addr, settings: s, judged: make(chan struct{})}
	en.probe, en.closeIdle = newProberCloser(s, addr, &en.loop)
	en.direct = directProbe(s, addr)
	en.healthy.Store(true) // until its first result
	en.local.Store(true)
	en.ctx, en.cancel = context.WithCancel(context.Background())
	return en
}

func (en *entry) String() string { return describe(en.addr, en.settings) }

// acquire gives each endpoint of g the entry of its key, creating and
// scheduling those that do not exist, and subscribes g to their changes. It
// returns the scheduler probing them.
func (r *registry) acquire(g *Engine) *scheduler {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sched == nil {
		r.sched = startScheduler()
	}
	var added []*entry
	for _, e := range g.order {
		k := e.Settings.key(e.Addr)
		en := r.entries[k]
		if en == nil {
			en = newEntry(k, e.Addr, e.Settings)
			r.inherit(en)
			r.entries[k] = en
			l := k.lineage()
			r.lineages[l] = append(r.lineages[l], en)
			added = append(added, en)
		}
		users := []*Endpoint{}
		if old := en.users.Load(); old != nil {
			users = append(users, *old...)
		}
		users = append(users, e)
		en.users.Store(&users)
		en.refs++
		e.shared.Store(en)
	}
	// Scheduled once their users are known: a probe may end at once.
	for _, en := range added {
		r.sched.add(en)
	}
	r.sched.resize(r.needWorkers())
	return r.sched
}

// Probing returns how many endpoints the process probes: each once, however
// many engines use it. Tests read it to see that reloads and shutdowns
// leave none behind.
func Probing() int {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	return len(shared.entries)
}

// needWorkers counts the entries whose probes need a worker: all but those
// the scheduler's loop runs by itself.
func (r *registry) needWorkers() int {
	n := 0
	for _, en := range r.entries {
		if en.direct == nil || en.loop.Load() == nil {
			n++
		}
	}
	return n
}

// release unsubscribes the endpoints of g from their entries, and removes the
// entries no other engine uses: it returns once their probes have ended and
// their connections are closed, and, after the last entry, once the
// scheduler has stopped.
func (r *registry) release(g *Engine) {
	var gone []*entry
	r.mu.Lock()
	for _, e := range g.order {
		en := e.shared.Load()
		if en == nil {
			continue
		}
		users := []*Endpoint{}
		for _, u := range *en.users.Load() {
			if u != e {
				users = append(users, u)
			}
		}
		en.users.Store(&users)
		if en.refs--; en.refs > 0 {
			continue
		}
		delete(r.entries, en.key)
		r.forgetLineage(en)
		if l := en.loop.Load(); l != nil {
			l.rate -= en.directRate()
		}
		gone = append(gone, en)
	}
	var stopping *scheduler
	if len(r.entries) == 0 {
		stopping, r.sched = r.sched, nil
	} else if r.sched != nil {
		r.sched.resize(r.needWorkers())
	}
	r.mu.Unlock()

	// Outside the lock: a probe of another entry may be running a
	// subscriber's callback, which must not wait for this.
	removeAll(gone)
	if stopping != nil {
		stopping.stop()
	}
}

// lineage identifies an endpoint across configurations: its verdict still
// holds as long as the address and what its probes ask and accept are the
// same, whatever the interval, timeout or thresholds.
type lineage struct {
	addr   netip.Addr
	port   uint16
	checks string
	http   string
	tls    string
}

func (k key) lineage() lineage { return lineage{k.addr, k.port, k.checks, k.http, k.tls} }

// inherit gives en, new, the verdict of an entry of its lineage that has one:
// a reload that changes only how often or how strictly an endpoint is probed
// neither serves an endpoint known to be down nor holds back one known to be
// up. Its counts towards rise and fall start again: they belong to the other
// entry's probes.
func (r *registry) inherit(en *entry) {
	for _, old := range r.lineages[en.key.lineage()] {
		if old.probed.Load() {
			en.since.Store(old.since.Load())
			en.healthy.Store(old.healthy.Load())
			en.local.Store(old.local.Load())
			en.probed.Store(true)
			close(en.judged)
			return
		}
	}
}

func (r *registry) forgetLineage(en *entry) {
	l := en.key.lineage()
	same := r.lineages[l]
	for i, other := range same {
		if other == en {
			same = append(same[:i:i], same[i+1:]...)
			break
		}
	}
	if len(same) == 0 {
		delete(r.lineages, l)
	} else {
		r.lineages[l] = same
	}
}

// result records one finished probe of en and tells its engines: OnProbe once
// for the process; when the verdict changed, OnTransition once for the process
// and onChange once for each engine.
func (en *entry) result(start time.Time, took time.Duration, err error) {
	en.last.Store(&ProbeResult{At: start, Took: took, Passed: err == nil, Reason: Reason(err)})
	en.probes.Add(1)
	if err != nil {
		en.failures.Add(1)
	}
	first := !en.probed.Load()
	if err != nil {
		en.failed.Store(time.Now().UnixNano())
	} else {
		en.rtt.add(took)
	}
	changed, localChanged := en.record(err == nil)
	doubtChanged := en.settleDoubt()
	if first {
		close(en.judged)
	}
	users := *en.users.Load()
	for _, e := range users {
		if e.engine.OnProbe != nil && e.engine.probed(e, err, took) {
			break
		}
	}
	if localChanged {
		en.localChanged(err)
	}
	if !changed {
		if doubtChanged {
			en.notifyDoubt()
		}
		return
	}
	if en.healthy.Load() {
		log.Infof("endpoint %s is up: %d probes passed", en, en.passes)
	} else {
		log.Warningf("endpoint %s is down: %s", en, Reason(err))
	}
	en.notify()
}

// notify tells the engines using en that its served verdict changed:
// OnTransition once for the process, onChange once for each engine.
func (en *entry) notify() {
	users := *en.users.Load()
	for _, e := range users {
		if e.engine.OnTransition != nil && e.engine.transitioned(e) {
			break
		}
	}
	for _, e := range users {
		if e.engine.onChange != nil {
			e.engine.changed(e, e.engine.onChange)
		}
	}
}

// notifyDoubt tells the engines using en that it came into doubt or out of
// it (Endpoint.Doubtful): OnDoubt once for each engine.
func (en *entry) notifyDoubt() {
	for _, e := range *en.users.Load() {
		if e.engine.OnDoubt != nil {
			e.engine.changed(e, e.engine.OnDoubt)
		}
	}
}
