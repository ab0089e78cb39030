package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/test"
)

// watchGoroutines counts the goroutines polling an override file.
func watchGoroutines() int { return goroutines("(*overrideSource).watch(") }

// configMap is a directory laid out as Kubernetes lays out a ConfigMap volume:
// NAME is a symlink to ..data/NAME, ..data a symlink to the directory of the
// current version. An update writes a new version and renames a new ..data
// over the old one, then removes the old version.
type configMap struct {
	t       *testing.T
	dir     string
	version int
}

func newConfigMap(t *testing.T, file, content string) *configMap {
	cm := &configMap{t: t, dir: t.TempDir()}
	cm.update(file, content)
	if err := os.Symlink(filepath.Join("..data", file), filepath.Join(cm.dir, file)); err != nil {
		t.Fatal(err)
	}
	return cm
}

func (cm *configMap) update(file, content string) {
	cm.t.Helper()
	cm.version++
	version := fmt.Sprintf("..2026_11_25_10_00_%02d.%d", cm.version, cm.version)
	if err := os.Mkdir(filepath.Join(cm.dir, version), 0o755); err != nil {
		cm.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cm.dir, version, file), []byte(content), 0o644); err != nil {
		cm.t.Fatal(err)
	}
	tmp := filepath.Join(cm.dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		cm.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(cm.dir, "..data")); err != nil {
		cm.t.Fatal(err)
	}
	if cm.version > 1 {
		os.RemoveAll(filepath.Join(cm.dir, fmt.Sprintf("..2026_11_25_10_00_%02d.%d", cm.version-1, cm.version-1)))
	}
}

// TestOverrideFile drives a drill through an override file mounted as a
// ConfigMap, against a real CoreDNS: each change reaches the answers without
// a reload, a bad line leaves the other overrides in force, the metrics show
// the overrides, a drained endpoint is still probed, a reload in the middle
// of the drill answers as the drill says from its first query, and no
// goroutine is left behind.
func TestOverrideFile(t *testing.T) {
	backends := startBackends(t, "127.0.0.61", "127.0.0.62", "127.0.0.63")
	metricsAddr := freeTCPAddr(t, "127.0.0.60")
	cm := newConfigMap(t, "overrides", "# no drill yet\n")
	corefile := func(ttl int) string {
		return fmt.Sprintf(`.:0 {
	prometheus %s
	failover app.example.org {
		primary   127.0.0.61 127.0.0.62
		secondary 127.0.0.63
		check     http://:%d/health
		interval  100ms
		timeout   50ms
		ttl       %d
		override  %s
	}
}`, metricsAddr, backends[0].port, ttl, filepath.Join(cm.dir, "overrides"))
	}
	baseline := runtime.NumGoroutine()
	inst, udp, _, err := test.CoreDNSServerAndPorts(corefile(30))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if inst != nil {
			inst.Stop()
			inst.ShutdownCallbacks()
		}
	}()
	const name = "app.example.org."
	waitAnswer(t, udp, name, "127.0.0.61 127.0.0.62", 2*time.Second)

	// Each change is timed from the rename that publishes it to the first
	// answer that shows it; 5 s is only the test's patience.
	change := func(content, want string) {
		t.Helper()
		cm.update("overrides", content)
		took := waitAnswer(t, udp, name, want, 5*time.Second)
		t.Logf("%q reached the answers in %v", strings.TrimSpace(content), took)
	}
	change("app.example.org/primary down failover drill\n", "127.0.0.63")
	waitSeries(t, metricsAddr, `coredns_failover_override\{address="",name="app.example.org.",pool="primary",state="down"\}`, 1)
	waitSeries(t, metricsAddr, `coredns_failover_pool_up\{name="app.example.org.",pool="primary"\}`, 0)
	waitSeries(t, metricsAddr, `coredns_failover_endpoint_healthy\{address="127.0.0.61",name="app.example.org.",pool="primary"\}`, 1)
	waitSeries(t, metricsAddr, `coredns_failover_failovers_total\{name="app.example.org.",type="A"\}`, 1)

	// A bad line is reported and ignored; the good lines still apply.
	change("app.example.org/primary down failover drill\n127.0.0.63 sideways\n", "127.0.0.63")
	waitSeries(t, metricsAddr, `coredns_failover_override_bad_lines\{file=".*overrides"\}`, 1)
	change("127.0.0.61 drain\n127.0.0.63 sideways\n", "127.0.0.62")
	waitSeries(t, metricsAddr, `coredns_failover_override\{address="",name="app.example.org.",pool="primary",state="down"\}`, -1)
	waitSeries(t, metricsAddr, `coredns_failover_override\{address="127.0.0.61",name="app.example.org.",pool="primary",state="drain"\}`, 1)

	// A drained endpoint is still probed: its health still shows.
	backends[0].set(unavailable)
	waitSeries(t, metricsAddr, `coredns_failover_endpoint_healthy\{address="127.0.0.61",name="app.example.org.",pool="primary"\}`, 0)
	backends[0].set(healthy)
	waitSeries(t, metricsAddr, `coredns_failover_endpoint_healthy\{address="127.0.0.61",name="app.example.org.",pool="primary"\}`, 1)

	// A reload mid-drill: the new instance reads the file before its first answer.
	change("app.example.org/primary drain\n", "127.0.0.63")
	next, err := inst.Restart(test.NewInput(corefile(20)))
	if err != nil {
		t.Fatal(err)
	}
	inst = next
	if got, err := lookup(udp, name, 1); err != nil || got != "127.0.0.63" {
		t.Errorf("first answer after the reload: %q, %v; want the drill's 127.0.0.63", got, err)
	}

	// The drill ends: the file goes, and the primary comes back.
	if err := os.Remove(filepath.Join(cm.dir, "overrides")); err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, udp, name, "127.0.0.61 127.0.0.62", 5*time.Second)
	waitSeries(t, metricsAddr, `coredns_failover_override\{address="",name="app.example.org.",pool="primary",state="drain"\}`, -1)

	inst.Stop()
	inst.ShutdownCallbacks()
	inst = nil
	waitGoroutines(t, "after shutdown", func() bool {
		return watchGoroutines() == 0 && probedEndpoints() == 0 && followGoroutines() == 0 && runtime.NumGoroutine() <= baseline
	})
}
