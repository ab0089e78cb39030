package failover

import (
	"sync"

	"github.com/coredns/caddy"
)

// A reload (caddy's Instance.Restart) sets up the new configuration, runs its
// startup hooks one after another, starts its servers, and only then stops the
// old servers and runs the old configuration's shutdown hooks. It can fail:
//
//   - in a startup hook of the new configuration (a status address taken, a
//     plugin after failover that cannot start): the instances whose hooks ran
//     have started, and caddy never runs their shutdown hooks; the old
//     configuration serves on;
//   - in a shutdown hook of the old configuration (pprof's fails when its
//     HTTP server has not drained within 5 s): the new servers serve already, the old ones are
//     stopped, and caddy returns the old instance as if nothing had changed,
//     running the old configuration's restart-failed hooks.
//
// Each failover instance belongs to the generation of its caddy instance.
// A generation is pending from its first startup hook until caddy reports it
// started; when a reload fails, the restart-failed hook tells the two cases
// apart by whether caddy still lists the instance of the generation: caddy
// drops a configuration that failed to start from its list, and the old one
// once it stops its servers. So the hook stops what no server uses any more,
// a pending generation not listed or its own one no longer listed, and never
// the configuration that serves. Probes are shared and counted (see
// healthcheck/registry.go): stopping an instance releases only its references.
var pending = struct {
	sync.Mutex
	generations map[*generation]struct{}
}{generations: map[*generation]struct{}{}}

// generation is the failover instances of one caddy instance, that is of one
// configuration, that have started.
type generation struct {
	mu      sync.Mutex
	started []*Failover
}

// generationKey keys the generation in its caddy instance's storage.
type generationKey struct{}

func init() {
	caddy.RegisterEventHook(pluginName, func(event caddy.EventName, _ any) error {
		if event == caddy.InstanceStartupEvent {
			confirmPending()
		}
		return nil
	})
}

// generationOf returns the generation of the caddy instance being set up.
func generationOf(c *caddy.Controller) *generation {
	if g, ok := c.Get(generationKey{}).(*generation); ok {
		return g
	}
	g := &generation{}
	c.Set(generationKey{}, g)
	return g
}

// startPending records that f is starting, in a configuration not yet serving.
func startPending(f *Failover) {
	f.generation.mu.Lock()
	f.generation.started = append(f.generation.started, f)
	f.generation.mu.Unlock()
	pending.Lock()
	defer pending.Unlock()
	pending.generations[f.generation] = struct{}{}
}

// confirmPending marks the generations started so far as serving.
func confirmPending() {
	pending.Lock()
	defer pending.Unlock()
	clear(pending.generations)
}

// restartFailed is a restart-failed hook of f, in the configuration caddy ran
// the reload from: it shuts down the instances of the configurations that no
// server uses.
func (f *Failover) restartFailed() error {
	listed := listedGenerations()
	pending.Lock()
	var failed []*generation
	for g := range pending.generations {
		if !listed[g] {
			failed = append(failed, g)
		}
	}
	// A pending generation still listed serves: caddy failed after it
	// started its servers.
	clear(pending.generations)
	pending.Unlock()
	for _, g := range failed {
		g.shutdown("reload failed: stopping the failover instance of server block %s that had started")
	}
	if !listed[f.generation] {
		log.Warningf("reload failed after the new configuration started serving: stopping the failover instance of server block %s, which no longer serves", f.server)
		f.OnShutdown()
	}
	return nil
}

// shutdown shuts down every started instance of g, logging why with the
// server block.
func (g *generation) shutdown(why string) {
	g.mu.Lock()
	started := g.started
	g.started = nil
	g.mu.Unlock()
	for _, f := range started {
		log.Warningf(why, f.server)
		f.OnShutdown()
	}
}

// listedGenerations returns the generations of the instances caddy lists:
// those that serve, or are starting.
func listedGenerations() map[*generation]bool {
	listed := map[*generation]bool{}
	for _, inst := range caddy.Instances() {
		inst.StorageMu.RLock()
		g, ok := inst.Storage[generationKey{}].(*generation)
		inst.StorageMu.RUnlock()
		if ok {
			listed[g] = true
		}
	}
	return listed
}
