package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/coredns/coredns/test"
)

// TestProbedOncePerProcess runs two server blocks that fail over between the
// same two endpoints, under the same check, and reloads them: each backend
// gets one health check per interval, not one per server block, nor one per
// configuration while a reload runs the old and the new side by side.
func TestProbedOncePerProcess(t *testing.T) {
	backends := startBackends(t, "127.0.40.30", "127.0.40.31")
	const interval = 100 * time.Millisecond
	corefile := func(generation int) string {
		block := func(zone string) string {
			return fmt.Sprintf("%s:0 {\nfailover app%d.%s {\nprimary 127.0.40.30\nsecondary 127.0.40.31\ncheck http://:%d/health\ninterval %v\ntimeout 50ms\n}\n}\n",
				zone, generation, zone, backends[0].port, interval)
		}
		return block("example.org") + block("example.net")
	}
	inst, udp, _, err := test.CoreDNSServerAndPorts(corefile(0))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { inst.Stop(); inst.ShutdownCallbacks() }()
	waitAnswer(t, udp, "app0.example.org.", "127.0.40.30", 2*time.Second)

	// checks counts the health checks each backend gets in 10 intervals.
	checks := func(what string) {
		t.Helper()
		from := []int64{backends[0].hits.Load(), backends[1].hits.Load()}
		time.Sleep(10 * interval) // the span measured, not a wait for an event
		for i, b := range backends {
			// 10 at one probe per interval; 20 if each block probed.
			n := b.hits.Load() - from[i]
			t.Logf("%s: %s got %d health checks in 10 intervals", what, b.ip, n)
			if n < 4 || n > 13 {
				t.Errorf("%s: %s got %d health checks in 10 intervals, want about 10", what, b.ip, n)
			}
		}
	}
	checks("two server blocks")

	for generation := 1; generation <= 3; generation++ {
		before := []int64{backends[0].hits.Load(), backends[1].hits.Load()}
		start := time.Now()
		next, err := inst.Restart(test.NewInput(corefile(generation)))
		due := int64(time.Since(start)/interval) + 1
		if err != nil {
			t.Fatalf("reload %d: %v", generation, err)
		}
		inst = next
		// The new configuration took the verdicts: a reload probes nothing
		// out of turn, only what its interval has due meanwhile.
		for i, b := range backends {
			if n := b.hits.Load() - before[i]; n > due {
				t.Errorf("reload %d: %s got %d health checks during the reload, %d due", generation, b.ip, n, due)
			}
		}
		waitAnswer(t, udp, fmt.Sprintf("app%d.example.org.", generation), "127.0.40.30", 2*time.Second)
		waitGoroutines(t, fmt.Sprintf("reload %d", generation), func() bool { return probedEndpoints() == 2 })
	}
	checks("after three reloads")
}
