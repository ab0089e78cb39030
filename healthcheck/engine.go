// Package healthcheck probes endpoints in the background and publishes a verdict
// per endpoint that readers take without a lock.
package healthcheck

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

var log = clog.NewWithPlugin("failover")

// Engine owns the endpoints of one plugin instance and the goroutines probing them.
// Add endpoints, then Start; Stop ends every goroutine it started.
type Engine struct {
	// MaxInFlight bounds the probes running at once; 0 means DefaultMaxInFlight.
	// Set it before Start. A field, not a package variable: the engines of
	// several server blocks, or the two of a reload, have a bound each.
	MaxInFlight int

	// OnProbe, when set, is called from a probe goroutine after every probe
	// (but one cut short by Stop), with its error and duration. Set it before
	// Start.
	OnProbe func(e *Endpoint, err error, took time.Duration)

	onChange func(*Endpoint)

	endpoints map[key]*Endpoint
	order     []*Endpoint

	startOnce, stopOnce sync.Once
	ctx                 context.Context
	cancel              context.CancelFunc
	wg                  sync.WaitGroup

	sched            schedule
	late             lateness
	probes, failures atomic.Uint64
	firstLeft        atomic.Int64  // first probes not yet finished
	firstRound       chan struct{} // closed when firstLeft reaches 0
}

// DefaultMaxInFlight is the bound on the probes of one engine running at once.
// Each holds a connection, a file descriptor, until it ends, and one that
// hangs holds it for its timeout: at 1024, 2048 probes a second can hang for
// 500 ms, 512 for 2 s, before the others wait for a slot. (bench/scale, 10,000
// endpoints every second of which 1,500 hang for a 500 ms timeout: at 1024
// every probe ran, p99 lateness 29 ms; at 256, 36% of them, 2 s late.) It
// stays well under 4096 descriptors, a common hard limit, to which Go raises
// the soft one.
const DefaultMaxInFlight = 1024

// NewEngine returns an engine that calls onChange, from a probe goroutine, each
// time an endpoint's verdict changes. onChange may be nil.
func NewEngine(onChange func(*Endpoint)) *Engine {
	ctx, cancel := context.WithCancel(context.Background())
	return &Engine{onChange: onChange, endpoints: map[key]*Endpoint{}, ctx: ctx, cancel: cancel}
}

// Endpoint returns the endpoint for addr probed with s, creating it on first use:
// the same address probed the same way is probed once, whatever names use it.
// Call it before Start.
func (g *Engine) Endpoint(addr netip.Addr, s Settings) *Endpoint {
	k := s.key(addr)
	if e, ok := g.endpoints[k]; ok {
		return e
	}
	e := newEndpoint(addr, s)
	g.endpoints[k] = e
	g.order = append(g.order, e)
	return e
}

// Endpoints returns every endpoint, in the order they were added.
func (g *Engine) Endpoints() []*Endpoint { return g.order }

// Start begins probing every endpoint and returns once each endpoint has a
// verdict: inherited from an engine still running (the one a reload replaces),
// or from its first probe, which starts at once, as soon as fewer than
// MaxInFlight probes run, and is bounded by its timeout. CoreDNS serves only
// after its startup hooks return, so no answer rests on an endpoint that was
// never probed. Later probes start at each endpoint's phase of its interval
// (see schedule.go); an inherited verdict waits for its phase too.
func (g *Engine) Start() {
	g.startOnce.Do(func() {
		g.inheritVerdicts()
		if len(g.order) == 0 {
			return
		}
		first := g.plan(time.Now())
		g.firstRound = make(chan struct{})
		if g.firstLeft.Store(int64(first)); first == 0 {
			close(g.firstRound)
		}
		workers := min(g.maxInFlight(), len(g.order))
		g.wg.Add(1 + workers)
		go g.dispatch()
		for range workers {
			go g.run()
		}
		select {
		case <-g.firstRound:
		case <-g.ctx.Done(): // stopped before the first round ended
		}
	})
}

// Stop ends probing and returns once every probe goroutine has exited and the
// connections kept between probes are closed. An unfinished probe is
// cancelled. Stop may be called more than once.
func (g *Engine) Stop() {
	g.stopOnce.Do(func() {
		g.forget()
		g.cancel()
		g.wg.Wait()
		// No probe runs any more: close the connections kept between probes.
		for _, e := range g.order {
			if e.closeIdle != nil {
				e.closeIdle()
			}
		}
	})
}

// Probes returns how many probes have finished since Start, and how many of
// them failed. Probes cut short by Stop are not counted.
func (g *Engine) Probes() (total, failed uint64) { return g.probes.Load(), g.failures.Load() }

func (g *Engine) maxInFlight() int {
	if g.MaxInFlight > 0 {
		return g.MaxInFlight
	}
	return DefaultMaxInFlight
}

// probeOnce probes e, its timeout starting now, and records the result.
func (g *Engine) probeOnce(e *Endpoint) {
	ctx, cancel := context.WithTimeout(g.ctx, e.Settings.Timeout)
	start := time.Now()
	err := e.probe(ctx)
	took := time.Since(start)
	cancel()
	if g.ctx.Err() != nil {
		return // stopping: a cancelled probe says nothing about the endpoint
	}
	e.last.Store(&ProbeResult{At: start, Took: took, Passed: err == nil, Reason: Reason(err)})
	if g.OnProbe != nil {
		g.OnProbe(e, err, took)
	}
	g.probes.Add(1)
	if err != nil {
		g.failures.Add(1)
	}
	if !e.record(err == nil) {
		return
	}
	if e.Healthy() {
		log.Infof("endpoint %s is up: %d probes passed", e, e.passes)
	} else {
		log.Warningf("endpoint %s is down: %s", e, Reason(err))
	}
	if g.onChange != nil {
		g.onChange(e)
	}
}
