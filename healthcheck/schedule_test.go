package healthcheck

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// arrivals answers probes, on as many addresses as it serves, and records
// when each request came and the most it held at once.
type arrivals struct {
	hold   time.Duration   // how long each request is held
	status func(n int) int // the status of the n-th request, from 1; nil: 200
	n      atomic.Int64    // requests

	mu    sync.Mutex
	times map[string][]time.Time // by host and path

	holding, most atomic.Int64 // requests held now, and at most
}

// serve answers on a fresh port of ip until the test ends, and returns the port.
func (a *arrivals) serve(t *testing.T, ip string) (port int) {
	t.Helper()
	a.mu.Lock()
	if a.times == nil {
		a.times = map[string][]time.Time{}
	}
	a.mu.Unlock()
	return serve(t, ip, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		a.mu.Lock()
		a.times[r.Host+r.URL.Path] = append(a.times[r.Host+r.URL.Path], now)
		a.mu.Unlock()
		// Counted while the handler runs, before the response is written:
		// never more than the probes in flight.
		storeMax(&a.most, a.holding.Add(1))
		time.Sleep(a.hold)
		a.holding.Add(-1)
		if n := int(a.n.Add(1)); a.status != nil {
			w.WriteHeader(a.status(n))
		}
	}))
}

// each returns the i-th request, from 0, of every check that has one.
func (a *arrivals) each(i int) []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	var got []time.Time
	for _, times := range a.times {
		if len(times) > i {
			got = append(got, times[i])
		}
	}
	return got
}

// of returns the requests of the check of e.
func (a *arrivals) of(e *Endpoint) []time.Time {
	c := e.Settings.Checks[0]
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.times[fmt.Sprintf("%s:%d%s", e.Addr, c.Port, c.Path)])
}

// endpoints adds n endpoints on ip to g, one check path each: /0, /1, ...
func endpoints(t *testing.T, g *Engine, ip string, port, n int, s Settings) []*Endpoint {
	t.Helper()
	var es []*Endpoint
	for i := range n {
		c, err := ParseCheck(fmt.Sprintf("http://:%d/%d", port, i))
		if err != nil {
			t.Fatal(err)
		}
		s.Checks = []*Check{c}
		es = append(es, g.Endpoint(netip.MustParseAddr(ip), s))
	}
	return es
}

// crowded returns the most of times within any window of width w.
func crowded(times []time.Time, w time.Duration) int {
	times = slices.SortedFunc(slices.Values(times), time.Time.Compare)
	most := 0
	for i, j := 0, 0; j < len(times); j++ {
		for times[j].Sub(times[i]) >= w {
			i++
		}
		most = max(most, j-i+1)
	}
	return most
}

// TestAddSpreadsPhases adds 110 endpoints to a scheduler, 10 of another
// interval among them, 5 with a verdict already.
func TestAddSpreadsPhases(t *testing.T) {
	s := &scheduler{base: time.Now(), wake: make(chan struct{}, 1), joined: map[time.Duration]int{}}
	check, _ := ParseCheck("tcp://:80")
	second := Settings{Checks: []*Check{check}, Interval: time.Second, Timeout: time.Second / 2, Fall: 3, Rise: 2}
	other := second
	other.Interval = 300 * time.Millisecond
	for i := range 110 {
		set := second
		if i%11 == 10 {
			set = other // 10 endpoints of another interval, among the others
		}
		addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		en := newEntry(set.key(addr), addr, set)
		if i < 5 {
			en.probed.Store(true) // as if inherited
		}
		s.add(en)
	}
	added := time.Since(s.base)
	phases := map[time.Duration][]time.Duration{}
	first := 0
	for _, sl := range s.queue {
		interval := sl.en.settings.Interval
		phases[interval] = append(phases[interval], sl.phase)
		if sl.en.probed.Load() && (sl.first || (sl.due-sl.phase)%interval != 0 || sl.due > added+interval) {
			t.Errorf("%v: inherited, due at %v, first %v; want due at its phase %v, within an interval", sl.en, sl.due, sl.first, sl.phase)
		}
		if !sl.en.probed.Load() {
			first++
			if !sl.first || sl.due > added {
				t.Errorf("%v: not probed, due at %v, first %v; want due at once", sl.en, sl.due, sl.first)
			}
		}
	}
	if first != 105 {
		t.Errorf("%d first probes due at once, want 105", first)
	}
	for interval, want := range map[time.Duration]int{time.Second: 100, other.Interval: 10} {
		p := phases[interval]
		if len(p) != want {
			t.Fatalf("interval %v: %d phases, want %d", interval, len(p), want)
		}
		checkSpread(t, fmt.Sprintf("interval %v", interval), interval, p)
	}
	// Any endpoints in a row, as a pool that fails together, are spread too.
	var row []time.Duration
	for i := 40; i < 60; i++ {
		row = append(row, phase(time.Second, i))
	}
	checkSpread(t, "20 endpoints in a row", time.Second, row)
	for _, n := range []int{2, 3, 10, 1000, 10000} {
		p := make([]time.Duration, n)
		for i := range p {
			p[i] = phase(time.Second, i)
		}
		checkSpread(t, fmt.Sprintf("%d endpoints", n), time.Second, p)
	}
}

// checkSpread fails t unless phases, within the interval, are between 0.44
// and 1.9 times interval/len(phases) apart, around the interval.
func checkSpread(t *testing.T, what string, interval time.Duration, phases []time.Duration) {
	t.Helper()
	p := slices.Sorted(slices.Values(phases))
	if p[0] < 0 || p[len(p)-1] >= interval {
		t.Errorf("%s: phases from %v to %v, outside the interval %v", what, p[0], p[len(p)-1], interval)
	}
	even := float64(interval) / float64(len(p))
	for i := range p {
		gap := float64(interval + p[(i+1)%len(p)] - p[i]) // around the interval at the end
		if i+1 < len(p) {
			gap = float64(p[i+1] - p[i])
		}
		if gap < 0.44*even || gap > 1.9*even {
			t.Errorf("%s: phases %v and %v are %.2f times interval/%d apart", what, p[i], p[(i+1)%len(p)], gap/even, len(p))
			return
		}
	}
}

func TestNextTick(t *testing.T) {
	const phase, interval = 100, 1000
	tests := []struct{ t, want time.Duration }{
		{0, 100}, {100, 100}, {101, 1100}, {1000, 1100}, {1100, 1100}, {1101, 2100},
		{9999, 10100}, // a stall of nine intervals: the next tick to come, not the nine missed
	}
	for _, tc := range tests {
		if got := nextTick(phase, interval, tc.t); got != tc.want {
			t.Errorf("nextTick(%d, %d, %d) = %d, want %d", phase, interval, tc.t, got, tc.want)
		}
	}
}

func TestUntilGrain(t *testing.T) {
	for _, tc := range []struct{ t, want time.Duration }{
		{0, 0}, {1, dispatchEvery - 1}, {dispatchEvery - 1, 1}, {dispatchEvery, 0}, {7*dispatchEvery + 3, dispatchEvery - 3},
	} {
		if got := untilGrain(tc.t); got != tc.want {
			t.Errorf("untilGrain(%v) = %v, want %v", tc.t, got, tc.want)
		}
	}
}

// TestProbesSpreadOverInterval runs 100 endpoints probed every second: after
// the first probes, which Start runs at once, their probes start spread over
// the interval.
func TestProbesSpreadOverInterval(t *testing.T) {
	noLeaks(t)
	const ip, n = "127.0.0.31", 100
	a := &arrivals{}
	port := a.serve(t, ip)
	g := NewEngine(nil)
	endpoints(t, g, ip, port, n, Settings{Interval: time.Second, Timeout: 500 * time.Millisecond, Fall: 3, Rise: 2})
	g.Start()
	t.Cleanup(g.Stop)
	if first := a.each(0); len(first) != n {
		t.Fatalf("%d first probes when Start returned, want %d", len(first), n)
	}
	within(t, 2*time.Second+slack, "second probes", func() bool { return len(a.each(1)) == n })

	second := a.each(1)
	most := crowded(second, time.Second/10)
	span := slices.MaxFunc(second, time.Time.Compare).Sub(slices.MinFunc(second, time.Time.Compare))
	t.Logf("second probes: over %v, at most %d in 100ms", span.Round(time.Millisecond), most)
	if most >= 2*n/3 {
		t.Errorf("%d of %d probes started within 100ms", most, n)
	}
	if span < 800*time.Millisecond {
		t.Errorf("second probes span %v of the 1s interval", span)
	}
}

// TestInheritedVerdictWaitsForPhase starts an engine whose endpoints all
// inherit a verdict: Start returns at once, and each endpoint's first probe
// waits for its phase, counted from the start of the process's scheduler.
func TestInheritedVerdictWaitsForPhase(t *testing.T) {
	noLeaks(t)
	const ip, n = "127.0.0.32", 10
	a := &arrivals{}
	port := a.serve(t, ip)
	old := NewEngine(nil)
	endpoints(t, old, ip, port, n, Settings{Interval: 2 * time.Hour, Timeout: time.Hour, Fall: 3, Rise: 2})
	old.Start()
	t.Cleanup(old.Stop)

	s := Settings{Interval: time.Second, Timeout: 500 * time.Millisecond, Fall: 3, Rise: 2}
	g := NewEngine(nil)
	es := endpoints(t, g, ip, port, n, s)
	start := time.Now()
	g.Start()
	t.Cleanup(g.Stop)
	if took := time.Since(start); took > s.Timeout {
		t.Errorf("Start took %v with every verdict inherited", took)
	}
	within(t, s.Interval+slack, "a probe of each endpoint", func() bool { return len(a.each(1)) == n })
	base := g.sched.base
	for i, e := range es {
		phase := phase(s.Interval, i) // the i-th endpoint probed every second
		due := base.Add(nextTick(phase, s.Interval, start.Sub(base)))
		if early := due.Sub(a.of(e)[1]); early > 0 {
			t.Errorf("endpoint %d (%v): probed %v before its phase %v", i, e, early, phase)
		}
	}
}

// TestMaxInFlight probes 40 endpoints on 10 addresses, four slow checks each,
// with room for 4 probes at once: never more run, and Start still returns
// with every endpoint judged.
func TestMaxInFlight(t *testing.T) {
	noLeaks(t)
	const bound = 4
	g := NewEngine(nil)
	setMaxInFlight(t, bound)
	a := &arrivals{hold: 20 * time.Millisecond}
	s := Settings{Interval: 200 * time.Millisecond, Timeout: 150 * time.Millisecond, Fall: 3, Rise: 2}
	for i := range 10 {
		ip := fmt.Sprintf("127.0.0.%d", 30+i)
		endpoints(t, g, ip, a.serve(t, ip), 4, s)
	}
	g.Start()
	t.Cleanup(g.Stop)
	for _, e := range g.Endpoints() {
		if !e.Probed() {
			t.Fatalf("%v not judged when Start returned", e)
		}
	}
	within(t, 10*time.Second, "200 probes", func() bool { total, _ := g.Probes(); return total >= 200 })
	if most := a.most.Load(); most != bound {
		t.Errorf("at most %d probes in flight at once, want the bound %d", most, bound)
	}
	if total, failed := g.Probes(); failed != 0 {
		t.Errorf("%d of %d probes failed", failed, total)
	}
}

// TestLateProbeGetsItsTimeout overloads the engine: 20 endpoints whose probes
// take 25 ms, every 300 ms, one at a time. Probes wait for their turn longer
// than the timeout, which starts only when each runs: none fails.
func TestLateProbeGetsItsTimeout(t *testing.T) {
	noLeaks(t)
	const ip = "127.0.0.33"
	a := &arrivals{hold: 25 * time.Millisecond}
	s := Settings{Interval: 300 * time.Millisecond, Timeout: 150 * time.Millisecond, Fall: 1, Rise: 1}
	g := NewEngine(nil)
	setMaxInFlight(t, 1)
	endpoints(t, g, ip, a.serve(t, ip), 20, s)
	g.Start()
	t.Cleanup(g.Stop)
	within(t, 10*time.Second, "60 probes after the first ones", func() bool {
		_, _, _, n := g.Lateness()
		return n >= 60
	})
	p50, p99, most, n := g.Lateness()
	t.Logf("lateness over %d probes: p50 %v p99 %v max %v", n, p50, p99, most)
	if most <= s.Timeout {
		t.Errorf("probes at most %v late: the test did not overload the engine", most)
	}
	if total, failed := g.Probes(); failed != 0 {
		t.Errorf("%d of %d probes failed: a late probe lost its timeout waiting", failed, total)
	}
	if most := a.most.Load(); most != 1 {
		t.Errorf("%d probes in flight at once, bound 1", most)
	}
}

// TestNoBurstAfterStall stalls the only worker for ten intervals, in the
// callback of a verdict change: afterwards the probes resume at the interval,
// without making up for the ticks missed.
func TestNoBurstAfterStall(t *testing.T) {
	noLeaks(t)
	const ip, interval, stall = "127.0.0.34", 50 * time.Millisecond, 500 * time.Millisecond
	a := &arrivals{status: func(n int) int {
		if n == 1 {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable // the second probe takes it down
	}}
	var once sync.Once
	var stallEnd atomic.Pointer[time.Time]
	g := NewEngine(func(*Endpoint) {
		once.Do(func() {
			time.Sleep(stall) // the stall itself, not a wait for anything
			now := time.Now()
			stallEnd.Store(&now)
		})
	})
	setMaxInFlight(t, 1)
	e := endpoints(t, g, ip, a.serve(t, ip), 1, Settings{Interval: interval, Timeout: 40 * time.Millisecond, Fall: 1, Rise: 1})[0]
	g.Start()
	t.Cleanup(g.Stop)

	// Until a probe comes well after the stall, when a burst would be over.
	within(t, stall+10*interval+slack, "probes after the stall", func() bool {
		end := stallEnd.Load()
		times := a.of(e)
		return end != nil && len(times) > 0 && times[len(times)-1].Sub(*end) > 4*interval
	})
	var after []time.Time
	var offsets []time.Duration
	for _, at := range a.of(e) {
		if at.After(*stallEnd.Load()) {
			after = append(after, at)
			offsets = append(offsets, at.Sub(*stallEnd.Load()).Round(time.Millisecond))
		}
	}
	if most := crowded(after, 5*interval/2); most > 4 {
		t.Errorf("%d probes within %v after the stall; probes at %v after it", most, 5*interval/2, offsets)
	}
}

// TestStopDuringFirstRound stops an engine while Start waits for first probes
// that never end: Start returns, and no goroutine is left.
func TestStopDuringFirstRound(t *testing.T) {
	noLeaks(t)
	const ip = "127.0.0.35"
	srv := newFaultServer(t, ip, silent)
	m := srv.set(silent)
	g := NewEngine(nil)
	setMaxInFlight(t, 2)
	check, _ := ParseCheck(fmt.Sprintf("http://:%d/", srv.port))
	for i := range 10 {
		g.Endpoint(netip.AddrFrom4([4]byte{127, 0, 0, 35}), Settings{Checks: []*Check{check}, Interval: 2 * time.Hour, Timeout: time.Hour, Fall: 3 + i, Rise: 2})
	}
	started := make(chan struct{})
	go func() {
		g.Start()
		close(started)
	}()
	within(t, 5*time.Second, "two probes hanging", func() bool { return m.served.Load() == 2 })
	g.Stop()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("Start still waits after Stop")
	}
}

// TestStopEndsEveryGoroutine stops a busy engine: more endpoints than workers,
// probes in flight.
func TestStopEndsEveryGoroutine(t *testing.T) {
	noLeaks(t)
	const ip = "127.0.0.36"
	a := &arrivals{hold: 10 * time.Millisecond}
	g := NewEngine(nil)
	setMaxInFlight(t, 8)
	endpoints(t, g, ip, a.serve(t, ip), 50, Settings{Interval: 100 * time.Millisecond, Timeout: 80 * time.Millisecond, Fall: 3, Rise: 2})
	g.Start()
	within(t, 5*time.Second, "probes in flight", func() bool { return a.holding.Load() > 0 })
	g.Stop()
	g.Stop()
}

func TestLatenessBuckets(t *testing.T) {
	prev := 0
	for d := time.Duration(0); d < 2*time.Hour; d = d*9/8 + time.Microsecond {
		i := latenessBucket(d)
		if i < prev {
			t.Fatalf("%v in bucket %d, below the bucket %d of a shorter one", d, i, prev)
		}
		prev = i
		top := latenessTop(i)
		if i == latenessBuckets-1 {
			continue // the last bucket takes everything longer
		}
		if top <= d || (d >= 16*time.Microsecond && top > d+d/8+time.Microsecond) {
			t.Fatalf("%v in bucket %d, which ends at %v", d, i, top)
		}
		if i > 0 && latenessTop(i-1) > d {
			t.Fatalf("%v in bucket %d, but bucket %d ends at %v", d, i, i-1, latenessTop(i-1))
		}
	}
	if i := latenessBucket(-time.Second); i != 0 {
		t.Errorf("a negative lateness in bucket %d", i)
	}
}

func TestLatenessQuantiles(t *testing.T) {
	var l lateness
	if p50, p99, most, n := l.quantiles(); p50 != 0 || p99 != 0 || most != 0 || n != 0 {
		t.Errorf("empty: %v %v %v %d", p50, p99, most, n)
	}
	for i := 1; i <= 1000; i++ {
		l.record(time.Duration(i) * time.Millisecond)
	}
	l.record(3 * time.Hour) // past the last bucket
	p50, p99, most, n := l.quantiles()
	near := func(got, want time.Duration) bool { return got >= want && got <= want+want/8 }
	if !near(p50, 501*time.Millisecond) || !near(p99, 991*time.Millisecond) || most != 3*time.Hour || n != 1001 {
		t.Errorf("p50 %v p99 %v max %v n %d; want about 501ms, 991ms, exactly 3h and 1001", p50, p99, most, n)
	}
	l.reset()
	l.record(7 * time.Millisecond)
	if p50, p99, most, n := l.quantiles(); !near(p50, 7*time.Millisecond) || p99 != p50 || most != 7*time.Millisecond || n != 1 {
		t.Errorf("after reset and one 7ms: p50 %v p99 %v max %v n %d", p50, p99, most, n)
	}
}

// setMaxInFlight bounds the probes of the process in flight until the test
// ends; the scheduler reads it when endpoints join.
func setMaxInFlight(t *testing.T, n int) {
	prev := MaxInFlight
	MaxInFlight = n
	t.Cleanup(func() { MaxInFlight = prev })
}
