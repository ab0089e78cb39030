// Package healthcheck probes endpoints in the background and publishes a verdict
// per endpoint that readers take without a lock.
package healthcheck

import (
	"context"
	"net/netip"
	"sync"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

var log = clog.NewWithPlugin("failover")

// Engine owns the endpoints of one plugin instance and the goroutines probing them.
// Add endpoints, then Start; Stop ends every goroutine it started.
type Engine struct {
	onChange func(*Endpoint)

	endpoints map[key]*Endpoint
	order     []*Endpoint

	startOnce, stopOnce sync.Once
	ctx                 context.Context
	cancel              context.CancelFunc
	wg                  sync.WaitGroup
}

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
// or from its first probe, which is bounded by its timeout. CoreDNS serves
// only after its startup hooks return, so no answer rests on an endpoint that
// was never probed.
func (g *Engine) Start() {
	g.startOnce.Do(func() {
		g.inheritVerdicts()
		var firstRound sync.WaitGroup
		for _, e := range g.order {
			g.wg.Add(1)
			judged := e.Probed()
			if !judged {
				firstRound.Add(1)
			}
			go g.run(e, func() {
				if !judged {
					firstRound.Done()
				}
			})
		}
		firstRound.Wait()
	})
}

// Stop ends probing and returns once every probe goroutine has exited. An
// unfinished probe is cancelled. Stop may be called more than once.
func (g *Engine) Stop() {
	g.stopOnce.Do(func() {
		g.forget()
		g.cancel()
		g.wg.Wait()
	})
}

// run probes e every interval until the engine stops, and calls firstDone once
// the first probe has finished.
func (g *Engine) run(e *Endpoint, firstDone func()) {
	defer g.wg.Done()
	ticker := time.NewTicker(e.Settings.Interval)
	defer ticker.Stop()
	g.probeOnce(e)
	firstDone()
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-ticker.C:
		}
		g.probeOnce(e)
	}
}

func (g *Engine) probeOnce(e *Endpoint) {
	ctx, cancel := context.WithTimeout(g.ctx, e.Settings.Timeout)
	err := e.probe(ctx)
	cancel()
	if g.ctx.Err() != nil {
		return // stopping: a cancelled probe says nothing about the endpoint
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
