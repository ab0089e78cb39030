package healthcheck

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failover-dns/failover/internal/testutil"
)

// TestStartWaitsForFirstVerdict starts an engine over an endpoint that never
// answers: Start returns with the endpoint judged down, after about one timeout.
func TestStartWaitsForFirstVerdict(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.26:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // accepts into the backlog, never answers
	check, _ := ParseCheck(fmt.Sprintf("http://:%d/", ln.Addr().(*net.TCPAddr).Port))
	s := Settings{Checks: []*Check{check}, Interval: time.Hour, Timeout: 200 * time.Millisecond, Fall: 3, Rise: 2}
	g := NewEngine(nil)
	e := g.Endpoint(netip.MustParseAddr("127.0.0.26"), s)

	start := time.Now()
	g.Start()
	took := time.Since(start)
	defer g.Stop()
	if !e.Probed() || e.Healthy() {
		t.Fatalf("after Start: probed %v, healthy %v; want a down verdict", e.Probed(), e.Healthy())
	}
	if took < s.Timeout || took > s.Timeout+time.Second {
		t.Errorf("Start took %v, want about the timeout %v", took, s.Timeout)
	}
}

// TestReloadInheritsVerdict starts a second engine, as a reload does, while
// the first still runs: the new endpoint starts from the old verdict, down,
// although the endpoint now passes, and comes up after rise passes.
func TestReloadInheritsVerdict(t *testing.T) {
	const ip = "127.0.0.27"
	var failing atomic.Bool
	failing.Store(true)
	port := serve(t, ip, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	check, _ := ParseCheck(fmt.Sprintf("http://:%d/", port))
	addr := netip.MustParseAddr(ip)

	// The old configuration probes once an hour: it keeps its down verdict.
	old := NewEngine(nil)
	oldEndpoint := old.Endpoint(addr, Settings{Checks: []*Check{check}, Interval: time.Hour, Timeout: time.Second, Fall: 3, Rise: 2})
	old.Start()
	defer old.Stop()
	if oldEndpoint.Healthy() {
		t.Fatal("endpoint answering 503 is healthy")
	}

	failing.Store(false)
	s := Settings{Checks: []*Check{check}, Interval: 100 * time.Millisecond, Timeout: 50 * time.Millisecond, Fall: 3, Rise: 3}
	reloaded := NewEngine(nil)
	e := reloaded.Endpoint(addr, s)
	reloaded.Start()
	defer reloaded.Stop()
	if e.Healthy() || e.Since() != oldEndpoint.Since() {
		t.Fatalf("after Start: healthy %v since %v; want the old verdict, down since %v", e.Healthy(), e.Since(), oldEndpoint.Since())
	}
	old.Stop()
	waitFor(t, "rise passes", e.Healthy)

	// An engine started after the old one stopped has nothing to inherit.
	fresh := NewEngine(nil)
	other, _ := ParseCheck(fmt.Sprintf("http://:%d/other", port))
	s.Checks = []*Check{other}
	f := fresh.Endpoint(addr, s)
	fresh.Start()
	defer fresh.Stop()
	if !f.Healthy() {
		t.Error("an endpoint with another check inherited a verdict")
	}
}

// TestEnginesShareProbes starts two engines, as two server blocks, over the
// same endpoint: the backend gets one probe per interval, both engines see
// one verdict and hear of each change, OnProbe runs once per probe and
// OnTransition once per change, and the
// endpoint is probed until the last engine stops.
func TestEnginesShareProbes(t *testing.T) {
	noLeaks(t)
	const ip = "127.0.40.1"
	var failing atomic.Bool
	a := &arrivals{status: func(int) int {
		if failing.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}}
	port := a.serve(t, ip)
	check, _ := ParseCheck(fmt.Sprintf("http://:%d/health", port))
	s := Settings{Checks: []*Check{check}, Interval: 100 * time.Millisecond, Timeout: 80 * time.Millisecond, Fall: 1, Rise: 1}
	addr := netip.MustParseAddr(ip)

	var onProbe, onTransition atomic.Int64
	engines := make([]*Engine, 2)
	endpoints := make([]*Endpoint, 2)
	changes := make([]chan bool, 2)
	for i := range engines {
		changes[i] = make(chan bool, 16)
		engines[i] = NewEngine(func(e *Endpoint) { changes[i] <- e.Healthy() })
		engines[i].OnProbe = func(*Endpoint, error, time.Duration) { onProbe.Add(1) }
		engines[i].OnTransition = func(*Endpoint) { onTransition.Add(1) }
		endpoints[i] = engines[i].Endpoint(addr, s)
		engines[i].Start()
		t.Cleanup(engines[i].Stop)
	}
	if endpoints[0].shared.Load() != endpoints[1].shared.Load() {
		t.Fatal("the two engines probe the endpoint each")
	}
	if n := a.n.Load(); n != 1 {
		t.Errorf("%d probes when both engines had started, want 1: the second engine took the first's verdict", n)
	}

	// Over 10 intervals, about 10 probes (fewer on a loaded machine): one
	// schedule, not two.
	from := a.n.Load()
	time.Sleep(10 * s.Interval) // the span measured, not a wait for an event
	if n := a.n.Load() - from; n < 4 || n > 13 {
		t.Errorf("%d probes in 10 intervals, want about 10", n)
	}
	within(t, time.Second, "OnProbe of every probe", func() bool { return onProbe.Load() == a.n.Load() })

	failing.Store(true)
	for i := range engines {
		expectChange(t, changes[i], false, downWithin(s))
	}
	if endpoints[0].Healthy() || endpoints[1].Healthy() {
		t.Error("an engine still sees the endpoint up")
	}
	for i := range engines {
		select {
		case h := <-changes[i]:
			t.Errorf("engine %d heard of a second change, to healthy=%v", i, h)
		default:
		}
	}
	if n := onTransition.Load(); n != 1 {
		t.Errorf("OnTransition ran %d times for one change", n)
	}

	// The first engine stops; the endpoint is still probed for the second.
	engines[0].Stop()
	failing.Store(false)
	expectChange(t, changes[1], true, upWithin(s))
	if !endpoints[1].Healthy() {
		t.Error("the engine still running does not see the endpoint up")
	}
	select {
	case h := <-changes[0]:
		t.Errorf("a stopped engine heard of a change, to healthy=%v", h)
	default:
	}
	engines[1].Stop()
	stopped := a.n.Load()
	time.Sleep(3 * s.Interval) // the span in which no probe may come
	if n := a.n.Load(); n != stopped {
		t.Errorf("%d probes after the last engine stopped", n-stopped)
	}
}

// TestReloadSharesVerdict starts a new engine with the same endpoint while
// the old one runs, as a reload does: the new engine uses the old one's
// probes and verdict, starts without probing, and the counts towards fall
// go on across the reload.
func TestReloadSharesVerdict(t *testing.T) {
	noLeaks(t)
	const ip = "127.0.40.2"
	var failing atomic.Bool
	a := &arrivals{status: func(int) int {
		if failing.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}}
	check, _ := ParseCheck(fmt.Sprintf("http://:%d/", a.serve(t, ip)))
	s := Settings{Checks: []*Check{check}, Interval: 100 * time.Millisecond, Timeout: 80 * time.Millisecond, Fall: 4, Rise: 1}
	addr := netip.MustParseAddr(ip)

	old := NewEngine(nil)
	oldEndpoint := old.Endpoint(addr, s)
	old.Start()
	t.Cleanup(old.Stop)
	failing.Store(true)
	// Two failures of the four that take it down, under the old configuration.
	within(t, 5*time.Second, "two failures", func() bool { _, failed := old.Probes(); return failed >= 2 })

	// The failures counted when it went down: the callback runs before
	// the endpoint's next probe.
	failedAtDown := make(chan uint64, 4)
	var reloaded *Engine
	reloaded = NewEngine(func(*Endpoint) { _, failed := reloaded.Probes(); failedAtDown <- failed })
	e := reloaded.Endpoint(addr, s)
	before := a.n.Load()
	reloaded.Start()
	t.Cleanup(reloaded.Stop)
	if n := a.n.Load() - before; n > 1 {
		t.Errorf("%d probes while the new engine started over a probed endpoint", n)
	}
	if e.shared.Load() != oldEndpoint.shared.Load() || !e.Healthy() || e.Since() != oldEndpoint.Since() {
		t.Fatalf("the new engine has its own verdict: healthy %v since %v", e.Healthy(), e.Since())
	}
	old.Stop()
	select {
	case failed := <-failedAtDown:
		if failed != uint64(s.Fall) || e.Healthy() {
			t.Errorf("down after %d failures (healthy %v), want %d counted across the reload", failed, e.Healthy(), s.Fall)
		}
	case <-time.After(downWithin(s)):
		t.Fatal("not down")
	}
}

// TestMaxInFlightIsPerProcess starts two engines of 8 slow endpoints each,
// with room for 3 probes at once in the process: never more run, whether
// the loop runs the probes (plain http) or workers do (follow_redirects
// needs one).
func TestMaxInFlightIsPerProcess(t *testing.T) {
	for i, onWorkers := range []bool{false, true} {
		t.Run(fmt.Sprintf("workers %v", onWorkers), func(t *testing.T) {
			noLeaks(t)
			const bound = 3
			setMaxInFlight(t, bound)
			a := &arrivals{hold: 20 * time.Millisecond}
			s := Settings{Interval: 100 * time.Millisecond, Timeout: 90 * time.Millisecond, Fall: 3, Rise: 2}
			s.HTTP.FollowRedirects = onWorkers
			var engines []*Engine
			for j := range 2 {
				ip := fmt.Sprintf("127.0.40.%d", 10+2*i+j)
				g := NewEngine(nil)
				endpoints(t, g, ip, a.serve(t, ip), 8, s)
				g.Start()
				t.Cleanup(g.Stop)
				engines = append(engines, g)
			}
			workers := 0
			if onWorkers {
				workers = bound
			}
			if n := goroutines("(*scheduler).run("); n != workers {
				t.Errorf("%d probe workers for 16 endpoints, want %d", n, workers)
			}
			within(t, 10*time.Second, "100 probes", func() bool { return a.n.Load() >= 100 })
			if most := a.most.Load(); most != bound {
				t.Errorf("at most %d probes in flight at once, want the bound %d", most, bound)
			}
			for _, g := range engines {
				if total, failed := g.Probes(); failed != 0 {
					t.Errorf("%d of %d probes failed", failed, total)
				}
			}
		})
	}
}

// TestWorkersFollowEndpoints stops the larger of two engines: the pool
// shrinks to the endpoints left, and after the last Stop no worker is left.
func TestWorkersFollowEndpoints(t *testing.T) {
	noLeaks(t)
	const ip = "127.0.40.20"
	a := &arrivals{}
	port := a.serve(t, ip)
	s := Settings{Interval: 50 * time.Millisecond, Timeout: 40 * time.Millisecond, Fall: 3, Rise: 2}
	s.HTTP.FollowRedirects = true // a probe that needs a worker: the loop runs plain http ones itself
	big, small := NewEngine(nil), NewEngine(nil)
	endpoints(t, big, ip, port, 20, s)
	endpoints(t, small, ip, port, 2, s) // the same two first paths: shared
	big.Start()
	small.Start()
	t.Cleanup(small.Stop)
	if n := goroutines("(*scheduler).run("); n != 20 {
		t.Errorf("%d probe workers for 20 endpoints", n)
	}
	big.Stop()
	within(t, 5*time.Second, "two workers", func() bool { return goroutines("(*scheduler).run(") == 2 })
	small.Stop()
	if n := goroutines("healthcheck.(*scheduler)"); n != 0 {
		t.Errorf("%d scheduler goroutines after the last engine stopped", n)
	}
}

// goroutines counts the goroutines whose stack mentions frame.
func goroutines(frame string) int { return testutil.Goroutines(frame) }
