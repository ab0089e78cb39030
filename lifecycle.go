package failover

import (
	"sync"

	"github.com/coredns/caddy"
)

// A reload runs the startup hooks of the new configuration's instances one
// after another, before it serves with them. When a later hook fails (a port
// taken, say), caddy discards the new configuration and keeps the old one,
// but never runs the shutdown hooks of the instances that had started: their
// probes, override polling and status registrations would live on. So each
// started instance is pending until caddy reports the configuration started,
// and a failed reload shuts down the instances still pending.
var pending = struct {
	sync.Mutex
	instances map[*Failover]struct{}
}{instances: map[*Failover]struct{}{}}

func init() {
	caddy.RegisterEventHook(pluginName, func(event caddy.EventName, _ any) error {
		if event == caddy.InstanceStartupEvent {
			confirmPending()
		}
		return nil
	})
}

// startPending records that f is starting, in a configuration not yet serving.
func startPending(f *Failover) {
	pending.Lock()
	defer pending.Unlock()
	pending.instances[f] = struct{}{}
}

// confirmPending marks the instances started so far as serving.
func confirmPending() {
	pending.Lock()
	defer pending.Unlock()
	clear(pending.instances)
}

// shutdownPending shuts down the instances of a configuration that failed to
// start. It is a restart-failed hook of the running configuration.
func shutdownPending() error {
	pending.Lock()
	failed := make([]*Failover, 0, len(pending.instances))
	for f := range pending.instances {
		failed = append(failed, f)
	}
	clear(pending.instances)
	pending.Unlock()
	for _, f := range failed {
		log.Warningf("reload failed: stopping the failover instance of server block %s that had started", f.server)
		f.OnShutdown()
	}
	return nil
}
