// Package healthcheck probes endpoints in the background and publishes a verdict
// per endpoint that readers take without a lock.
package healthcheck

import (
	"net/netip"
	"sync"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

var log = clog.NewWithPlugin("failover")

// Engine is the endpoints of one plugin instance. Add endpoints, then Start:
// each is probed from then on, once for the process however many engines use
// it (see registry.go), until the last of them stops. Stop ends what its
// Start began.
type Engine struct {
	// OnProbe, when set, is called from a probe goroutine after every probe
	// of an endpoint of the engine (but one cut short by Stop), with its
	// error and duration; once for the process: when several engines use
	// the endpoint, the oldest of them with an OnProbe. Set it before Start.
	OnProbe func(e *Endpoint, err error, took time.Duration)

	// OnTransition, when set, is called from a probe goroutine each time the
	// verdict of an endpoint of the engine changes, before onChange; once for
	// the process, as OnProbe. Set it before Start.
	OnTransition func(e *Endpoint)

	// OnDoubt, when set, is called from a probe goroutine each time an
	// endpoint of the engine comes into doubt or out of it without a new
	// verdict (Endpoint.Doubtful); once for each engine using it. Set it
	// before Start.
	OnDoubt func(e *Endpoint)

	onChange func(*Endpoint)

	endpoints map[key]*Endpoint
	order     []*Endpoint

	startOnce, stopOnce sync.Once
	stopped             chan struct{} // closed by Stop: Start waits no more
	sched               *scheduler    // the one probing its endpoints, from Start

	// Callbacks run until Stop: it waits for those running, and no other
	// starts after it.
	mu      sync.Mutex
	halted  bool // Stop was called
	started bool // Start acquired the endpoints
	calls   sync.WaitGroup
}

// DefaultMaxInFlight is the bound on the probes of the process running at
// once (see MaxInFlight). Each holds a connection, a file descriptor, until
// it ends, and one that hangs holds it for its timeout: at 1024, 2048 probes
// a second can hang for 500 ms, 512 for 2 s, before the others wait for a
// slot. (bench/scale, 10,000 endpoints every second of which 1,500 hang for a
// 500 ms timeout: at 1024 every probe ran, p99 lateness 29 ms; at 256, 36% of
// them, 2 s late.) It stays well under 4096 descriptors, a common hard limit,
// to which Go raises the soft one.
const DefaultMaxInFlight = 1024

// NewEngine returns an engine that calls onChange, from a probe goroutine, each
// time the verdict of one of its endpoints changes. onChange may be nil.
func NewEngine(onChange func(*Endpoint)) *Engine {
	return &Engine{onChange: onChange, endpoints: map[key]*Endpoint{}, stopped: make(chan struct{})}
}

// Endpoint returns the endpoint for addr probed with s, creating it on first use:
// the same address probed the same way is probed once, whatever names use it.
// Call it before Start. It starts nothing: an engine that never starts, as
// that of a configuration that fails to load, holds nothing.
func (g *Engine) Endpoint(addr netip.Addr, s Settings) *Endpoint {
	k := s.key(addr)
	if e, ok := g.endpoints[k]; ok {
		return e
	}
	e := &Endpoint{Addr: addr, Settings: s, engine: g}
	g.endpoints[k] = e
	g.order = append(g.order, e)
	return e
}

// Endpoints returns every endpoint, in the order they were added.
func (g *Engine) Endpoints() []*Endpoint { return g.order }

// Start has every endpoint probed and returns once each has a verdict: the
// one it already has when another engine probes it, as the one a reload
// replaces, or is inherited (see registry.inherit); else from its first
// probe, which starts at once, as soon as fewer than MaxInFlight probes run,
// and is bounded by its timeout. CoreDNS serves only after its startup hooks
// return, so no answer rests on an endpoint that was never probed. Later
// probes start at each endpoint's phase of its interval (see schedule.go).
func (g *Engine) Start() {
	g.startOnce.Do(func() {
		if len(g.order) == 0 {
			return
		}
		g.mu.Lock()
		if g.halted {
			g.mu.Unlock()
			return
		}
		g.sched = shared.acquire(g)
		g.started = true
		g.mu.Unlock()
		for _, e := range g.order {
			select {
			case <-e.shared.Load().judged:
			case <-g.stopped: // stopped before the first round ended
				return
			}
		}
	})
}

// Stop releases the engine's endpoints and returns once no callback of the
// engine runs; the probes of endpoints no other engine uses have ended, and
// their kept-alive connections are closed, and after the last engine no
// probe goroutine is left. An unfinished probe is cancelled. Stop may be
// called more than once.
func (g *Engine) Stop() {
	g.stopOnce.Do(func() {
		close(g.stopped)
		g.mu.Lock()
		g.halted = true
		started := g.started
		g.mu.Unlock()
		if started {
			shared.release(g)
		}
		g.calls.Wait()
	})
}

// Probes returns how many probes of its endpoints have finished since each
// was first probed in the process, and how many of them failed. Probes cut
// short by Stop are not counted.
func (g *Engine) Probes() (total, failed uint64) {
	for _, e := range g.order {
		if en := e.shared.Load(); en != nil {
			total += en.probes.Load()
			failed += en.failures.Load()
		}
	}
	return total, failed
}

// probed calls OnProbe, unless the engine has stopped, and reports whether it did.
func (g *Engine) probed(e *Endpoint, err error, took time.Duration) bool {
	if !g.enter() {
		return false
	}
	defer g.calls.Done()
	g.OnProbe(e, err, took)
	return true
}

// transitioned calls OnTransition, unless the engine has stopped, and reports whether it did.
func (g *Engine) transitioned(e *Endpoint) bool {
	if !g.enter() {
		return false
	}
	defer g.calls.Done()
	g.OnTransition(e)
	return true
}

// changed calls callback (onChange or OnDoubt), unless the engine has stopped.
func (g *Engine) changed(e *Endpoint, callback func(*Endpoint)) {
	if g.enter() {
		defer g.calls.Done()
		callback(e)
	}
}

// enter counts a callback about to run, unless Stop was called.
func (g *Engine) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.halted {
		return false
	}
	g.calls.Add(1)
	return true
}
