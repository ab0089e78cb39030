package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/test"

	"github.com/failover-dns/failover/healthcheck"
	"github.com/failover-dns/failover/internal/testutil"
)

// probedEndpoints counts the endpoints the process probes, once each,
// whatever instances use them. That none is left after a shutdown says that
// no probe runs; the goroutine counts beside it say that none of the
// probes' goroutines (workers, loops, scheduler) is left either.
func probedEndpoints() int { return healthcheck.Probing() }

// followGoroutines counts the goroutines rebuilding the answers of an
// instance after health changes: one per running instance.
func followGoroutines() int { return goroutines("failover.(*Failover).follow(") }

// goroutines counts the goroutines whose stack mentions frame.
func goroutines(frame string) int { return testutil.Goroutines(frame) }

// waitGoroutines polls until cond holds for the goroutine counts, or fails.
func waitGoroutines(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%s: %d goroutines, %d endpoints probed\n%s", what, runtime.NumGoroutine(), probedEndpoints(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReloadLeavesNoGoroutine reloads a real CoreDNS several times with changed
// Corefiles: each new configuration takes effect, a bad one is refused while the
// old one keeps serving, and afterwards the goroutine count is back at its baseline.
func TestReloadLeavesNoGoroutine(t *testing.T) {
	backends := startBackends(t, "127.0.0.41", "127.0.0.42", "127.0.0.43")
	port := backends[0].port
	corefile := func(name, primary, secondary string) string {
		return fmt.Sprintf(".:0 {\nfailover %s {\nprimary %s\nsecondary %s\ncheck http://:%d/health\ninterval 100ms\ntimeout 50ms\n}\n}\n",
			name, primary, secondary, port)
	}

	// Warm up once, so that what CoreDNS starts once per process is in the baseline.
	inst, err := test.CoreDNSServer(corefile("app.example.org", "127.0.0.41", "127.0.0.42"))
	if err != nil {
		t.Fatal(err)
	}
	inst.Stop()
	inst.ShutdownCallbacks()
	waitGoroutines(t, "after warm-up", func() bool { return probedEndpoints() == 0 })
	baseline := runtime.NumGoroutine()

	inst, udp, _, err := test.CoreDNSServerAndPorts(corefile("app.example.org", "127.0.0.41", "127.0.0.42"))
	if err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, udp, "app.example.org.", "127.0.0.41", 2*time.Second)

	reloads := []struct {
		name, primary, secondary, want string
	}{
		{"app.example.org", "127.0.0.42", "127.0.0.41", "127.0.0.42"},
		{"app.example.org", "127.0.0.43", "127.0.0.41 127.0.0.42", "127.0.0.43"},
		{"api.example.org", "127.0.0.41", "127.0.0.43", "127.0.0.41"},
		{"app.example.org", "127.0.0.41 127.0.0.42", "127.0.0.43", "127.0.0.41 127.0.0.42"},
		{"app.example.org", "127.0.0.42", "127.0.0.43", "127.0.0.42"},
	}
	for i, r := range reloads {
		next, err := inst.Restart(test.NewInput(corefile(r.name, r.primary, r.secondary)))
		if err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		inst = next
		waitAnswer(t, udp, r.name+".", r.want, 2*time.Second)
		// Only the new instance's endpoints are probed.
		endpoints := len(strings.Fields(r.primary + " " + r.secondary))
		waitGoroutines(t, fmt.Sprintf("reload %d", i), func() bool { return probedEndpoints() == endpoints && followGoroutines() == 1 })
	}

	// A bad Corefile is refused, and the running one keeps serving.
	if _, err := inst.Restart(test.NewInput(corefile("app.example.org", "not-an-address", "127.0.0.43"))); err == nil {
		t.Fatal("a Corefile with a bad address was accepted on reload")
	} else if !strings.Contains(err.Error(), "'not-an-address' is not an IPv4 or IPv6 address") {
		t.Errorf("reload error %q does not name the problem", err)
	}
	waitAnswer(t, udp, "app.example.org.", "127.0.0.42", 2*time.Second)

	inst.Stop()
	inst.ShutdownCallbacks()
	waitGoroutines(t, "after the last shutdown", func() bool {
		return probedEndpoints() == 0 && followGoroutines() == 0 && runtime.NumGoroutine() <= baseline
	})
}

// TestFailedReloadStopsWhatStarted reloads a real CoreDNS with a Corefile whose
// second server block cannot start (its status address is taken): the first
// server block's new instance had started probing, and must stop, while the
// old configuration keeps serving, probing and reporting its status.
func TestFailedReloadStopsWhatStarted(t *testing.T) {
	backends := startBackends(t, "127.0.0.44", "127.0.0.45")
	statusAddr := freeTCPAddr(t, "127.0.0.44")
	taken, err := net.Listen("tcp", "127.0.0.45:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	block := func(zone, name, status string) string {
		return fmt.Sprintf("%s:0 {\nfailover %s {\nprimary 127.0.0.44\nsecondary 127.0.0.45\ncheck http://:%d/health\ninterval 100ms\ntimeout 50ms\nstatus %s\n}\n}\n",
			zone, name, backends[0].port, status)
	}
	inst, udp, _, err := test.CoreDNSServerAndPorts(block("example.org", "app.example.org", statusAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { inst.Stop(); inst.ShutdownCallbacks() }()
	waitAnswer(t, udp, "app.example.org.", "127.0.0.44", 2*time.Second)
	waitGoroutines(t, "before the reload", func() bool { return probedEndpoints() == 2 })

	bad := block("example.org", "api.example.org", statusAddr) + block("example.net", "api.example.net", taken.Addr().String())
	if _, err := inst.Restart(test.NewInput(bad)); err == nil {
		t.Fatal("a Corefile with a status address already taken was accepted")
	} else if !strings.Contains(err.Error(), "status "+taken.Addr().String()) {
		t.Errorf("reload error %q does not name the status address", err)
	}

	// Only the old instance probes, answers, and is reported.
	waitGoroutines(t, "after the failed reload", func() bool { return probedEndpoints() == 2 && followGoroutines() == 1 })
	waitAnswer(t, udp, "app.example.org.", "127.0.0.44", 2*time.Second)
	resp, err := http.Get("http://" + statusAddr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `"app.example.org."`) || strings.Contains(string(body), "api.example.org") {
		t.Errorf("the status does not report the configuration serving:\n%s", body)
	}
}
