package healthcheck

import (
	"container/heap"
	"context"
	"math"
	"runtime"
	"sync"
	"time"
)

// When probes run, and on which goroutine.
//
// One scheduler probes every endpoint of the process (see registry.go). Each
// endpoint is probed at fixed times counted from the scheduler's start: its
// phase, then every interval after it. The endpoints of one interval have
// their phases spread over it (see phase), in the order they join, so N
// endpoints probed every interval start about interval/N apart rather than
// together at every tick. The exception is the first probe of an endpoint
// without a verdict, which starts at once: Start waits for it. A probe that
// starts late, or ends after its next time has passed, is not made up for:
// the next one is at the first of the endpoint's times still to come, and at
// least one interval after the time just due. Probes neither drift nor burst
// to catch up.
//
// One goroutine (dispatch) keeps the endpoints waiting for their next probe in
// a heap ordered by when it is due, sleeps until the earliest, and hands each
// due endpoint, with a token (MaxInFlight of them: the bound on probes in
// flight, for the process), to the connection loop that runs its probes by
// itself (connloop.go), or else to a pool of workers (run), min(MaxInFlight,
// such endpoints) of them. The pool grows as endpoints join; when they leave,
// the workers in excess exit after their next probe. An endpoint goes back in
// the heap only once its probe has ended, so it is never probed twice at
// once, and its counts of passes and failures pass from one worker or loop to
// the next under the heap's lock. A probe waiting for a token or a worker is
// late by that wait; its timeout starts when it runs. Dispatch wakes on a
// grain of 10 ms (see dispatchEvery), not for each probe.
//
// Against one goroutine per endpoint, each with its timer, and a semaphore,
// measured with bench/scale (10,000 HTTP endpoints on loopback every second,
// the prober on one core, three alternating rounds of 20 s, both versions
// waking for each probe, before dispatchEvery below): 94-100 µs of
// CPU per probe against 107-113, 50-67 MiB of heap against 86-91, 105 MiB
// peak RSS against 163, 2,600 goroutines against 11,600. The per-endpoint
// version fell behind (88-90% of the probes, median lateness 0.5 s) where
// this one kept up. The probes themselves take nearly all the CPU either way;
// the difference is 10,000 stacks, grown by the HTTP client's calls, and
// their timers.

// slot is an endpoint's place in the schedule; times are offsets from the scheduler's start.
type slot struct {
	en      *entry
	phase   time.Duration // the probes of en are due at phase + k*interval
	due     time.Duration // when its next probe is due
	first   bool          // the probe Start waits for: due at once, never late
	index   int           // in the queue; -1 while its probe is handed out or runs
	removed bool          // en left the schedule while its probe ran
	hurry   bool          // expedited while its probe ran: due at once when it ends
}

// scheduler holds the slots whose probe is not running, earliest due first,
// and the goroutines that probe them.
type scheduler struct {
	base time.Time     // when it started
	wake chan struct{} // a slot went to the head of the queue
	work chan *slot    // to the workers
	// One token for each probe handed out, to a worker or to the loop, until
	// it ends: MaxInFlight of them bound the probes of the process in flight.
	tokens chan struct{}
	done   chan struct{} // closed by stop
	wg     sync.WaitGroup
	late   lateness
	// Run the connections of tcp and plain http probes (connloop.go): one
	// loop, and one more for each loopRate probes a second beyond, up to
	// one per processor the runtime uses. Under the registry's lock. None
	// if ConnLoop is off or the kernel gave none.
	loops []*connLoop

	mu      sync.Mutex
	queue   slots
	workers int // running
	want    int // min(MaxInFlight, endpoints)

	joined map[time.Duration]int // endpoints that joined, by interval: the index of the next one's phase; under the registry's lock
}

func startScheduler() *scheduler {
	s := &scheduler{
		base:   time.Now(),
		wake:   make(chan struct{}, 1),
		work:   make(chan *slot),
		tokens: make(chan struct{}, MaxInFlight),
		done:   make(chan struct{}),
		joined: map[time.Duration]int{},
	}
	s.wg.Add(1)
	go s.dispatch()
	return s
}

// add puts en in the queue, at the next of its phase's times if it has a
// verdict, else due at once. Called under the registry's lock.
func (s *scheduler) add(en *entry) {
	interval := en.settings.Interval
	sl := &slot{en: en, phase: phase(interval, s.joined[interval])}
	s.joined[interval]++
	now := time.Since(s.base)
	if en.probed.Load() {
		sl.due = nextTick(sl.phase, interval, now)
	} else {
		sl.due, sl.first = now, true
	}
	en.slot, en.sched = sl, s
	if l := s.loopFor(en); l != nil {
		en.loop.Store(l)
	}
	s.mu.Lock()
	heap.Push(&s.queue, sl)
	s.mu.Unlock()
	s.nudge()
}

// loopRate is how many probes a second a loop is given before another
// starts. One loop costs the least CPU a probe: it wakes once for more
// probes at a time (at 10,000 a second, 1.00-1.02 of the server's CPU a
// request against 1.13-1.15 with two loops, bench/scale, alternated). But
// it is one goroutine, which one core bounds: at 60-90 µs of CPU a probe,
// 10,000 a second take most of a core.
const loopRate = 10_000

// loopFor returns the loop of en's probes: the one given the fewest probes
// a second, or a new one if that one would pass loopRate and the runtime
// has a processor to spare. Called under the registry's lock.
func (s *scheduler) loopFor(en *entry) *connLoop {
	if !ConnLoop {
		return nil
	}
	var least *connLoop
	for _, l := range s.loops {
		if least == nil || l.rate < least.rate {
			least = l
		}
	}
	rate := en.directRate()
	if least == nil || least.rate+rate > loopRate && len(s.loops) < runtime.GOMAXPROCS(0) {
		if l := startConnLoop(s); l != nil {
			s.loops = append(s.loops, l)
			least = l
		}
	}
	if least != nil {
		least.rate += rate
	}
	return least
}

// directRate is the probes a second en gives its loop to run from start to
// end: none if the loop does not run them (directProbe), or for an
// interval that is not one.
func (en *entry) directRate() float64 {
	if en.direct == nil || en.settings.Interval <= 0 {
		return 0
	}
	return float64(time.Second) / float64(en.settings.Interval)
}

// removeAll takes entries out of the schedule and returns once no probe of
// theirs runs and their connections are closed. Every probe is cut short
// before any is waited for: waiting for each in turn let the others run on,
// and dispatched new ones, so a shutdown of thousands of endpoints under
// load took seconds.
func removeAll(entries []*entry) {
	loops := map[*connLoop]bool{}
	for _, en := range entries {
		en.sched.unschedule(en)
		en.cancel()
		if l := en.loop.Load(); l != nil {
			loops[l] = true
		}
	}
	for l := range loops {
		l.removed() // the probes it runs of these end
	}
	for _, en := range entries {
		en.probing.Wait()
		// No probe of it runs any more: close the connections kept between probes.
		if en.closeIdle != nil {
			en.closeIdle()
		}
	}
}

// unschedule takes en out of the queue, or marks it removed while its probe runs.
func (s *scheduler) unschedule(en *entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sl := en.slot; sl.index >= 0 {
		heap.Remove(&s.queue, sl.index)
	} else {
		sl.removed = true
	}
}

// resize sets the pool to min(MaxInFlight, endpoints) workers, for the
// endpoints whose probes need one (not those the loop runs by itself): it
// starts those missing; those in excess exit after their probe.
func (s *scheduler) resize(endpoints int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.want = min(MaxInFlight, endpoints)
	for ; s.workers < s.want; s.workers++ {
		s.wg.Add(1)
		go s.run()
	}
}

// stop ends every goroutine of the scheduler, which has no slot left.
func (s *scheduler) stop() {
	close(s.done)
	s.wg.Wait()
	for _, l := range s.loops {
		l.stop()
	}
}

// phase returns the phase of the i-th endpoint, from 0, of those probed every
// interval: the fractional part of i times the golden ratio, of the interval.
// The phases of any n endpoints in a row are between 0.44 and 1.9 times
// interval/n apart (checked up to n = 20,000). Neighbours in the configuration, such as a pool that
// fails together, are spread over the interval as well as all are; and an
// endpoint's phase does not depend on how many follow it.
func phase(interval time.Duration, i int) time.Duration {
	_, frac := math.Modf(float64(i) * (math.Phi - 1))
	return min(time.Duration(frac*float64(interval)), interval-1)
}

// dispatch hands each slot to a worker once its probe is due, until the scheduler stops.
func (s *scheduler) dispatch() {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		sl, wait := s.pop()
		if sl != nil {
			select {
			case s.tokens <- struct{}{}: // waits while MaxInFlight probes run
			case <-sl.en.ctx.Done(): // removed meanwhile
				sl.en.probing.Done()
				continue
			}
			if l := sl.en.loop.Load(); l != nil && sl.en.direct != nil {
				l.launch(sl)
				continue
			}
			select {
			case s.work <- sl: // waits while every worker is busy
			case <-sl.en.ctx.Done(): // removed meanwhile
				<-s.tokens
				sl.en.probing.Done()
			}
			continue
		}
		if wait > 0 {
			timer.Reset(wait + untilGrain(time.Since(s.base)+wait))
		} else {
			timer.Stop() // every endpoint is being probed
		}
		select {
		case <-timer.C:
		case <-s.wake:
		case <-s.done:
			return
		}
	}
}

// dispatchEvery is the grain of the schedule: dispatch sleeps until the first
// multiple of it, counted from Start, by which a probe is due, and then hands
// out every probe due. Probes start up to that much late, in batches of those
// due within it: 10 ms is 1% of a 1 s interval. Waking for each probe
// instead, every millisecond or so, took about a fifth more CPU at 10,000
// endpoints a second and half as much again at 1,000 (bench/scale,
// GOMAXPROCS 2): each wake-up of an idle process costs more than a probe.
const dispatchEvery = 10 * time.Millisecond

// untilGrain returns how long from t to the next multiple of dispatchEvery; 0
// if t is one.
func untilGrain(t time.Duration) time.Duration {
	return (dispatchEvery - t%dispatchEvery) % dispatchEvery
}

// run runs the probes dispatch hands out, until the scheduler stops or has
// more workers than it wants.
func (s *scheduler) run() {
	defer s.wg.Done()
	for {
		var sl *slot
		select {
		case sl = <-s.work:
		case <-s.done:
			return
		}
		if sl.en.delegated.Load() {
			// Another replica probes it: its time passes without a probe.
			sl.first = false
			<-s.tokens
			if !s.requeue(sl) {
				return
			}
			continue
		}
		if !sl.first {
			s.late.record(time.Since(s.base) - sl.due)
		}
		sl.en.probeOnce()
		sl.first = false
		<-s.tokens
		if !s.requeue(sl) {
			return
		}
	}
}

// probeOnce probes en, its timeout starting now, and records the result.
func (en *entry) probeOnce() {
	ctx, cancel := context.WithTimeout(en.ctx, en.settings.Timeout)
	start := time.Now()
	err := en.probe(ctx)
	took := time.Since(start)
	cancel()
	if en.ctx.Err() != nil {
		return // removed: a cancelled probe says nothing about the endpoint
	}
	en.result(start, took, err)
}

// pop removes and returns the slot at the head of the queue if it is due;
// otherwise it returns how long until it is, or -1 if the queue is empty.
func (s *scheduler) pop() (*slot, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return nil, -1
	}
	if wait := s.queue[0].due - time.Since(s.base); wait > 0 {
		return nil, wait
	}
	sl := heap.Pop(&s.queue).(*slot)
	sl.en.probing.Add(1) // under the lock: remove waits for it
	return sl, 0
}

// requeue puts sl, whose probe has ended, back in the queue (putBackLocked),
// and reports whether the worker is still wanted.
func (s *scheduler) requeue(sl *slot) (stay bool) {
	s.mu.Lock()
	head := s.putBackLocked(sl)
	if stay = s.workers <= s.want; !stay {
		s.workers--
	}
	s.mu.Unlock()
	if head {
		s.nudge()
	}
	return stay
}

// ended records the result of sl's probe, run by the loop, unless it did
// not run (probed false) or its endpoint has left meanwhile, and puts sl
// back in the queue.
func (s *scheduler) ended(sl *slot, start time.Time, took time.Duration, err error, probed bool) {
	if probed && sl.en.ctx.Err() == nil {
		sl.en.result(start, took, err)
	}
	sl.first = false
	<-s.tokens
	s.mu.Lock()
	head := s.putBackLocked(sl)
	s.mu.Unlock()
	if head {
		s.nudge()
	}
}

// putBackLocked puts sl, whose probe has ended, back in the queue, due at
// the first of its times at least an interval after the one just due and
// not yet past; unless its endpoint has left. It reports whether sl went
// to the head of the queue.
func (s *scheduler) putBackLocked(sl *slot) (head bool) {
	interval := sl.en.settings.Interval
	sl.due = nextTick(sl.phase, interval, max(sl.due+interval, time.Since(s.base)))
	if sl.hurry {
		sl.due, sl.hurry = time.Since(s.base), false
	}
	if !sl.removed {
		heap.Push(&s.queue, sl)
		head = s.queue[0] == sl
	}
	sl.en.probing.Done()
	return head
}

// nudge wakes dispatch: the head of the queue changed.
func (s *scheduler) nudge() {
	select {
	case s.wake <- struct{}{}:
	default: // dispatch is awake, or will be
	}
}

// nextTick returns the first of phase + k*interval, k >= 0, not before t.
func nextTick(phase, interval, t time.Duration) time.Duration {
	if t <= phase {
		return phase
	}
	return phase + (t-phase+interval-1)/interval*interval
}

func heapFix(q *slots, i int) { heap.Fix(q, i) }

// slots is a heap of slots by due time.
type slots []*slot

func (q slots) Len() int           { return len(q) }
func (q slots) Less(i, j int) bool { return q[i].due < q[j].due }
func (q slots) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *slots) Push(x any) {
	sl := x.(*slot)
	sl.index = len(*q)
	*q = append(*q, sl)
}
func (q *slots) Pop() any {
	old := *q
	sl := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	sl.index = -1
	return sl
}

// Lateness returns how late probes started against the time they were due,
// since Start or the last ResetLateness, for the whole process (the probes of
// every engine run on one schedule): the median and the 99th percentile,
// each to within 1/8, and the maximum, over n probes. A probe is late by the
// wait for dispatch to wake and for a worker. The first probes, which Start
// runs at once, do not count.
func (g *Engine) Lateness() (p50, p99, max time.Duration, n int) {
	if g.sched == nil {
		return 0, 0, 0, 0
	}
	return g.sched.late.quantiles()
}

// ResetLateness forgets the lateness recorded so far, so that Lateness covers
// what follows, as a benchmark's measurement after its warm-up. A probe that
// starts meanwhile may be counted or not.
func (g *Engine) ResetLateness() {
	if g.sched != nil {
		g.sched.late.reset()
	}
}

// MaxInFlight bounds the probes of the process running at once; tests and
// benchmarks change it before the engines start.
var MaxInFlight = DefaultMaxInFlight

// ConnLoop runs the connections of tcp probes, and of http probes without
// keepalive or body_contains, on one epoll loop (connloop.go). False gives
// them the net package's path instead, for benchmarks that compare the two
// (bench/scale -loop=false). Read when a scheduler starts.
var ConnLoop = true
