package healthcheck

import (
	"net/netip"
	"sync"
)

// A reload builds a new engine and starts it while the old one still runs. The
// new engine takes the verdicts the old one reached, so that a reload neither
// serves an endpoint known to be down nor holds back one known to be up.
var running = struct {
	sync.Mutex
	engines map[*Engine]struct{}
}{engines: map[*Engine]struct{}{}}

// lineage identifies an endpoint across configurations: its verdict still
// holds as long as the address and what its probes ask and accept are the
// same, whatever the interval or thresholds.
type lineage struct {
	addr   netip.Addr
	port   uint16
	checks string
	http   string
	tls    string
}

func (e *Endpoint) lineage() lineage {
	k := e.Settings.key(e.Addr)
	return lineage{k.addr, k.port, k.checks, k.http, k.tls}
}

// inheritVerdicts gives each of endpoints the verdict of a probed endpoint of
// the same lineage in a running engine, and registers g as running.
func (g *Engine) inheritVerdicts() {
	running.Lock()
	defer running.Unlock()
	known := map[lineage]*Endpoint{}
	for other := range running.engines {
		for _, e := range other.order {
			if e.Probed() {
				known[e.lineage()] = e
			}
		}
	}
	for _, e := range g.order {
		if old, ok := known[e.lineage()]; ok {
			e.inherit(old)
		}
	}
	running.engines[g] = struct{}{}
}

// forget removes g from the running engines.
func (g *Engine) forget() {
	running.Lock()
	defer running.Unlock()
	delete(running.engines, g)
}

// inherit takes old's verdict, before e's probe goroutine starts. The counts
// towards rise and fall start again: they belong to old's probe goroutine.
func (e *Endpoint) inherit(old *Endpoint) {
	e.since.Store(old.since.Load())
	e.healthy.Store(old.Healthy())
	e.probed.Store(true)
}
