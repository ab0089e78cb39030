package integration

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/test"
	"github.com/miekg/dns"
)

// failbackSetup is a real CoreDNS whose app.example.org fails over from a
// primary backend to a secondary one, with a status page and metrics.
type failbackSetup struct {
	primary, secondary *backend
	status, metrics    string
	dns                string
	overrides          string
	corefile           func(lines string) string
}

func newFailbackSetup(t *testing.T, ips [2]string) *failbackSetup {
	backends := startBackends(t, ips[0], ips[1])
	s := &failbackSetup{
		primary: backends[0], secondary: backends[1],
		status: freeTCPAddr(t, ips[0]), metrics: freeTCPAddr(t, ips[0]),
		overrides: filepath.Join(t.TempDir(), "overrides"),
	}
	s.corefile = func(lines string) string {
		return fmt.Sprintf(`.:0 {
	prometheus %s
	failover app.example.org {
		primary   %s
		secondary %s
		check     http://:%d/health
		interval  200ms
		timeout   100ms
		fall      2
		rise      2
		status    %s
		override  %s
		%s
	}
}
`, s.metrics, ips[0], ips[1], s.primary.port, s.status, s.overrides, lines)
	}
	return s
}

func (s *failbackSetup) start(t *testing.T, lines string) *caddy.Instance {
	inst, udp := startCoreDNS(t, s.corefile(lines))
	s.dns = udp
	waitAnswer(t, s.dns, "app.example.org.", s.primary.ip, 5*time.Second)
	return inst
}

// failOver takes the primary down and waits for the answers to move.
func (s *failbackSetup) failOver(t *testing.T) {
	t.Helper()
	s.primary.set(unavailable)
	waitAnswer(t, s.dns, "app.example.org.", s.secondary.ip, 5*time.Second)
}

// held waits for the status page to show a hold of the A answer on the
// secondary, and returns it.
func (s *failbackSetup) held(t *testing.T) *statusHold {
	t.Helper()
	r := statusWait(t, s.status, func(r *statusReport) string {
		a := r.name("app.example.org.").Answer["A"]
		if a.Hold == nil || a.Pool != "secondary" || a.Hold.Pool != "primary" {
			return fmt.Sprintf("answer %+v, hold %+v: want a hold of primary, answering secondary", a, a.Hold)
		}
		return ""
	})
	return r.name("app.example.org.").Answer["A"].Hold
}

// TestFailbackFlappingPrimaryIsHeld: under failback 10s, a primary that
// flaps every 2 s never gets the answers back while it flaps, and gets them
// back once it has been up for 10 s without a failed probe, not before.
func TestFailbackFlappingPrimaryIsHeld(t *testing.T) {
	s := newFailbackSetup(t, [2]string{"127.0.50.101", "127.0.50.102"})
	s.start(t, "failback 10s")
	s.failOver(t)

	// Flap: up and down for 2 s each, three times, then up for good.
	var steady time.Time
	for flap := 0; flap < 7; flap++ {
		mode := healthy
		if flap%2 == 1 {
			mode = unavailable
		}
		s.primary.set(mode)
		steady = time.Now()
		if flap == 0 {
			h := s.held(t)
			if h.Until == "" || h.Until == "waiting for release" {
				t.Errorf("a timed hold shows no end: %+v", h)
			}
			waitSeries(t, s.metrics, `coredns_failover_held_names`, 1)
		}
		for time.Since(steady) < 2*time.Second {
			if got, err := lookup(s.dns, "app.example.org.", dns.TypeA); err == nil && got != s.secondary.ip {
				t.Fatalf("flap %d, %v in: answered %q while the primary flaps", flap, time.Since(steady).Round(time.Millisecond), got)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// The primary has been up since steady (its last failed probe came at
	// most a probe before): the answers return 10 s after that, not before.
	waitAnswer(t, s.dns, "app.example.org.", s.primary.ip, 20*time.Second)
	back := time.Since(steady)
	t.Logf("answers returned to the primary %v after its last flap (failback 10s, interval 200ms, rise 2)", back.Round(time.Millisecond))
	if back < 10*time.Second-200*time.Millisecond || back > 14*time.Second {
		t.Errorf("answers returned %v after the primary came back for good; want 10 s after its last failed probe", back)
	}
	waitSeries(t, s.metrics, `coredns_failover_held_names`, 0)
	statusWait(t, s.status, func(r *statusReport) string {
		if a := r.name("app.example.org.").Answer["A"]; a.Hold != nil || a.Pool != "primary" {
			return fmt.Sprintf("answer %+v, hold %+v after the hold", a, a.Hold)
		}
		return ""
	})
}

// TestFailbackManualWaitsForRelease: under failback manual, the answers stay
// on the secondary until the line the status page gives is in the override
// file; the release line of an earlier incident does nothing.
func TestFailbackManualWaitsForRelease(t *testing.T) {
	s := newFailbackSetup(t, [2]string{"127.0.50.103", "127.0.50.104"})
	s.start(t, "failback manual")
	s.failOver(t)
	s.primary.set(healthy)
	h := s.held(t)
	if h.Until != "waiting for release" || h.Release != "app.example.org./primary release "+h.Since[:19]+"Z" {
		t.Fatalf("manual hold %+v", h)
	}
	// Up for many times rise × interval, and with the release of an
	// earlier incident in the file, the primary still waits.
	since, err := time.Parse(time.RFC3339, h.Since[:19]+"Z")
	if err != nil {
		t.Fatal(err)
	}
	earlier := "app.example.org/primary release " + since.Add(-2*time.Minute).Format(time.RFC3339) + " last incident\n"
	writeFile(t, s.overrides, earlier)
	for wait := time.Now(); time.Since(wait) < 2*time.Second; time.Sleep(50 * time.Millisecond) {
		if got, _ := lookup(s.dns, "app.example.org.", dns.TypeA); got != s.secondary.ip {
			t.Fatalf("answered %q before the release", got)
		}
	}

	writeFile(t, s.overrides, earlier+h.Release+" checked by the on-call\n")
	took := waitAnswer(t, s.dns, "app.example.org.", s.primary.ip, 3*time.Second)
	t.Logf("released: the primary answered %v after the line was written", took.Round(time.Millisecond))
	statusWait(t, s.status, func(r *statusReport) string {
		if a := r.name("app.example.org.").Answer["A"]; a.Hold != nil {
			return fmt.Sprintf("hold %+v after its release", a.Hold)
		}
		return ""
	})
}

// TestFailbackHoldSurvivesReload: a reload that keeps the block keeps its
// hold, with the same start; one that changes its pools starts afresh.
func TestFailbackHoldSurvivesReload(t *testing.T) {
	s := newFailbackSetup(t, [2]string{"127.0.50.105", "127.0.50.106"})
	inst := s.start(t, "failback 1h")
	s.failOver(t)
	s.primary.set(healthy)
	h := s.held(t)
	t.Cleanup(func() { inst.Stop(); inst.ShutdownCallbacks() }) // the last instance: startCoreDNS's cleanup stops the first

	for i, lines := range []string{"failback 1h\nttl 60", "failback 1h\nttl 60 5"} {
		next, err := inst.Restart(test.NewInput(s.corefile(lines)))
		if err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		inst = next
		after := s.held(t)
		if after.Since != h.Since || after.Until != h.Until {
			t.Errorf("reload %d: hold %+v, want the one before the reload %+v", i, after, h)
		}
		if got, _ := lookup(s.dns, "app.example.org.", dns.TypeA); got != s.secondary.ip {
			t.Errorf("reload %d: answered %q during the hold", i, got)
		}
		waitSeries(t, s.metrics, `coredns_failover_held_names`, 1)
	}

	// Another policy is another block: no hold to keep, the primary answers.
	next, err := inst.Restart(test.NewInput(s.corefile("failback 2h")))
	if err != nil {
		t.Fatal(err)
	}
	inst = next
	waitAnswer(t, s.dns, "app.example.org.", s.primary.ip, 3*time.Second)
	waitSeries(t, s.metrics, `coredns_failover_held_names`, 0)
}
