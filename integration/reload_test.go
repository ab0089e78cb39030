package integration

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/test"
)

// probeGoroutines counts the goroutines running a probe loop of any instance.
func probeGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "healthcheck.(*Engine).run(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// waitGoroutines polls until cond holds for the goroutine counts, or fails.
func waitGoroutines(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%s: %d goroutines, %d probe loops\n%s", what, runtime.NumGoroutine(), probeGoroutines(), buf[:runtime.Stack(buf, true)])
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
	waitGoroutines(t, "after warm-up", func() bool { return probeGoroutines() == 0 })
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
		// Only the new instance probes: one loop per endpoint.
		endpoints := len(strings.Fields(r.primary + " " + r.secondary))
		waitGoroutines(t, fmt.Sprintf("reload %d", i), func() bool { return probeGoroutines() == endpoints })
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
		return probeGoroutines() == 0 && runtime.NumGoroutine() <= baseline
	})
}
