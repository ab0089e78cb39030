package healthcheck

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestEngineSharesIdenticalProbes(t *testing.T) {
	g := NewEngine(nil)
	c1, _ := ParseCheck("tcp://:80")
	c2, _ := ParseCheck("tcp://:80")
	c3, _ := ParseCheck("tcp://:81")
	s := Settings{Checks: []*Check{c1}, Interval: time.Second, Timeout: time.Second / 2, Fall: 3, Rise: 2}
	addr := netip.MustParseAddr("192.0.2.1")

	a := g.Endpoint(addr, s)
	s.Checks = []*Check{c2}
	if b := g.Endpoint(addr, s); b != a {
		t.Error("the same address and check gave two endpoints")
	}
	s.Checks = []*Check{c3}
	if c := g.Endpoint(addr, s); c == a {
		t.Error("another check shared the endpoint")
	}
	s.Checks, s.Fall = []*Check{c1}, 1
	if d := g.Endpoint(addr, s); d == a {
		t.Error("another threshold shared the endpoint")
	}
	s.Fall, s.TLS = 3, &tls.Config{}
	if e := g.Endpoint(addr, s); e == a {
		t.Error("another TLS configuration shared the endpoint")
	} else if g.Endpoint(addr, s) != e {
		t.Error("the same TLS configuration gave two endpoints")
	}
	if n := len(g.Endpoints()); n != 4 {
		t.Errorf("%d endpoints, want 4", n)
	}
}

// TestEngineFollowsEndpoint runs real probes against a real HTTP endpoint whose
// answer the test switches, and checks that the verdict follows within the time
// the thresholds allow and that Stop leaves no goroutine behind.
func TestEngineFollowsEndpoint(t *testing.T) {
	const ip = "127.0.0.25"
	var failing atomic.Bool
	port := serve(t, ip, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	// The endpoint's server is not ours to check; what the engine starts is.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	check, _ := ParseCheck(fmt.Sprintf("http://:%d/", port))
	s := Settings{Checks: []*Check{check}, Interval: 50 * time.Millisecond, Timeout: 40 * time.Millisecond, Fall: 2, Rise: 2}

	changes := make(chan bool, 16)
	g := NewEngine(func(e *Endpoint) { changes <- e.Healthy() })
	e := g.Endpoint(netip.MustParseAddr(ip), s)
	g.Start()
	defer g.Stop()

	waitFor(t, "first probe", func() bool { return e.Probed() })
	if !e.Healthy() {
		t.Fatal("endpoint answering 200 is not healthy")
	}

	limit := time.Duration(s.Fall)*s.Interval + s.Timeout + time.Second
	failing.Store(true)
	expectChange(t, changes, false, limit)
	if total, failed := g.Probes(); failed < uint64(s.Fall) || total <= failed {
		t.Errorf("%d probes, %d failed, once down after %d failures", total, failed, s.Fall)
	}
	failing.Store(false)
	expectChange(t, changes, true, time.Duration(s.Rise)*s.Interval+s.Timeout+time.Second)

	g.Stop()
	g.Stop() // idempotent
}

// TestEngineWithoutEndpoints starts and stops an engine with nothing to probe.
func TestEngineWithoutEndpoints(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	g := NewEngine(nil)
	g.Start()
	if total, failed := g.Probes(); total != 0 || failed != 0 {
		t.Errorf("%d probes, %d failed, without endpoints", total, failed)
	}
	if _, _, _, n := g.Lateness(); n != 0 {
		t.Errorf("lateness of %d probes without endpoints", n)
	}
	g.Stop()
}

func expectChange(t *testing.T, changes <-chan bool, want bool, within time.Duration) {
	t.Helper()
	select {
	case got := <-changes:
		if got != want {
			t.Fatalf("verdict changed to healthy=%v, want %v", got, want)
		}
	case <-time.After(within):
		t.Fatalf("no change to healthy=%v within %v", want, within)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
