package integration

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/test"
)

// failShutdown is a plugin whose shutdown hook fails. It stands for what no
// plugin of CoreDNS does on demand: pprof's hook fails when its HTTP server
// has not drained within 5 s, and a reload fails then, after the new servers
// started. It comes last in the directive order.
const failShutdown = "failshutdown"

func init() {
	plugin.Register(failShutdown, func(c *caddy.Controller) error {
		for c.Next() {
		}
		c.OnShutdown(func() error { return errors.New("shutdown refused") })
		return nil
	})
	dnsserver.Directives = append(dnsserver.Directives, failShutdown)
}

// failoverServer is a server block that fails over name from 127.0.40.40 to
// 127.0.40.41, and adds extra, a line or a block.
func failoverServer(zone, name string, port int, extra string) string {
	return fmt.Sprintf("%s:0 {\nfailover %s {\nprimary 127.0.40.40\nsecondary 127.0.40.41\ncheck http://:%d/health\ninterval 100ms\ntimeout 50ms\n}\n%s\n}\n",
		zone, name, port, extra)
}

// TestFailedReloadKeepsProbing reloads a real CoreDNS into configurations that
// fail to start at various points after failover's instances started, over the
// same endpoints as the configuration serving: the failed instances stop,
// releasing the endpoints, and the configuration serving still probes them,
// failing over when the primary goes down and back when it returns. After the
// last shutdown no goroutine is left.
func TestFailedReloadKeepsProbing(t *testing.T) {
	backends := startBackends(t, "127.0.40.40", "127.0.40.41")
	port := backends[0].port
	taken, err := net.Listen("tcp", "127.0.40.42:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tests := []struct {
		name, corefile, wantErr string
	}{
		{"failover status address taken in a later server block",
			failoverServer("example.org", "api.example.org", port, "") +
				failoverServer("example.net", "api.example.net", port, "") +
				fmt.Sprintf("example.com:0 {\nfailover app.example.com {\nprimary 127.0.40.40\ncheck http://:%d/health\nstatus %s\n}\n}\n", port, taken.Addr()),
			"status " + taken.Addr().String()},
		{"plugin after failover fails to start",
			failoverServer("example.org", "api.example.org", port, "k8s_external example.org"),
			"kubernetes plugin not loaded"},
		{"listener taken after the startup hooks",
			failoverServer("example.org", "api.example.org", port, "") +
				fmt.Sprintf("%s {\nwhoami\n}\n", "dns://"+taken.Addr().String()),
			"address already in use"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			baseline := warmUp(t, failoverServer("example.org", "app.example.org", port, ""))
			inst, udp, _, err := test.CoreDNSServerAndPorts(failoverServer("example.org", "app.example.org", port, ""))
			if err != nil {
				t.Fatal(err)
			}
			waitAnswer(t, udp, "app.example.org.", "127.0.40.40", 2*time.Second)

			if _, err := inst.Restart(test.NewInput(tc.corefile)); err == nil {
				t.Fatal("the reload succeeded")
			} else if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("reload error %q, want it to name %q", err, tc.wantErr)
			}
			keepsFailingOver(t, udp, "app.example.org.", backends)

			inst.Stop()
			inst.ShutdownCallbacks()
			noGoroutineLeft(t, baseline)
		})
	}
}

// TestReloadFailingAfterServersStartKeepsNewProbing makes a reload fail after
// caddy started the new servers: a shutdown hook of the old configuration
// fails. Caddy reports the reload failed and runs the old configuration's
// restart-failed hooks, but the new configuration serves: its failover keeps
// probing and failing over, and the old one, which serves no more, stops.
func TestReloadFailingAfterServersStartKeepsNewProbing(t *testing.T) {
	backends := startBackends(t, "127.0.40.40", "127.0.40.41", "127.0.40.43")
	port := backends[0].port
	baseline := warmUp(t, failoverServer("example.org", "app.example.org", port, ""))

	// The old configuration probes a third endpoint of its own.
	old := fmt.Sprintf("example.org:0 {\nfailover app.example.org {\nprimary 127.0.40.40\nsecondary 127.0.40.41 127.0.40.43\ncheck http://:%d/health\ninterval 100ms\ntimeout 50ms\n}\n%s\n}\n", port, failShutdown)
	inst, udp, _, err := test.CoreDNSServerAndPorts(old)
	if err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, udp, "app.example.org.", "127.0.40.40", 2*time.Second)
	waitGoroutines(t, "before the reload", func() bool { return probedEndpoints() == 3 })

	if _, err := inst.Restart(test.NewInput(failoverServer("example.org", "api.example.org", port, ""))); err == nil || !strings.Contains(err.Error(), "shutdown refused") {
		t.Fatalf("reload error %v, want the old shutdown hook's", err)
	}
	// The new configuration serves; the old one's endpoint of its own is
	// released.
	waitAnswer(t, udp, "api.example.org.", "127.0.40.40", 2*time.Second)
	waitGoroutines(t, "after the reload", func() bool { return probedEndpoints() == 2 })
	keepsFailingOver(t, udp, "api.example.org.", backends)

	// Caddy returned the old instance; the one serving is the one it lists.
	for _, i := range caddy.Instances() {
		if i != inst {
			i.Stop()
			i.ShutdownCallbacks()
		}
	}
	inst.Stop()
	inst.ShutdownCallbacks() // its own failover instance stopped already: idempotent
	noGoroutineLeft(t, baseline)
}

// keepsFailingOver takes the primary backend down and up again: name, served
// at udp, follows, as it does only while its endpoints are probed.
func keepsFailingOver(t *testing.T, udp, name string, backends []*backend) {
	t.Helper()
	waitAnswer(t, udp, name, "127.0.40.40", 2*time.Second)
	backends[0].set(unavailable)
	waitAnswer(t, udp, name, "127.0.40.41", 2*time.Second)
	backends[0].set(healthy)
	waitAnswer(t, udp, name, "127.0.40.40", 2*time.Second)
}

// warmUp runs corefile once, so that what CoreDNS starts once per process is
// in the baseline it returns: the goroutines running once it has shut down.
func warmUp(t *testing.T, corefile string) int {
	t.Helper()
	inst, err := test.CoreDNSServer(corefile)
	if err != nil {
		t.Fatal(err)
	}
	inst.Stop()
	inst.ShutdownCallbacks()
	waitGoroutines(t, "after warm-up", func() bool { return probedEndpoints() == 0 })
	return runtime.NumGoroutine()
}

// noGoroutineLeft waits until no probe worker is left and the goroutines are
// back at baseline.
func noGoroutineLeft(t *testing.T, baseline int) {
	t.Helper()
	waitGoroutines(t, "after the last shutdown", func() bool {
		return probedEndpoints() == 0 && runtime.NumGoroutine() <= baseline
	})
}
