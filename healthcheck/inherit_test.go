package healthcheck

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// TestStartWaitsForFirstVerdict starts an engine over an endpoint that never
// answers: Start returns with the endpoint judged down, after about one timeout.
func TestStartWaitsForFirstVerdict(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.26:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // accepts into the backlog, never answers
	check, _ := ParseCheck(fmt.Sprintf("http://:%d/", ln.Addr().(*net.TCPAddr).Port))
	s := Settings{Checks: []*Check{check}, Interval: time.Hour, Timeout: 200 * time.Millisecond, Fall: 3, Rise: 2}
	g := NewEngine(nil)
	e := g.Endpoint(netip.MustParseAddr("127.0.0.26"), s)

	start := time.Now()
	g.Start()
	took := time.Since(start)
	defer g.Stop()
	if !e.Probed() || e.Healthy() {
		t.Fatalf("after Start: probed %v, healthy %v; want a down verdict", e.Probed(), e.Healthy())
	}
	if took < s.Timeout || took > s.Timeout+time.Second {
		t.Errorf("Start took %v, want about the timeout %v", took, s.Timeout)
	}
}

// TestReloadInheritsVerdict starts a second engine, as a reload does, while
// the first still runs: the new endpoint starts from the old verdict, down,
// although the endpoint now passes, and comes up after rise passes.
func TestReloadInheritsVerdict(t *testing.T) {
	const ip = "127.0.0.27"
	var failing atomic.Bool
	failing.Store(true)
	port := serve(t, ip, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	check, _ := ParseCheck(fmt.Sprintf("http://:%d/", port))
	addr := netip.MustParseAddr(ip)

	// The old configuration probes once an hour: it keeps its down verdict.
	old := NewEngine(nil)
	oldEndpoint := old.Endpoint(addr, Settings{Checks: []*Check{check}, Interval: time.Hour, Timeout: time.Second, Fall: 3, Rise: 2})
	old.Start()
	defer old.Stop()
	if oldEndpoint.Healthy() {
		t.Fatal("endpoint answering 503 is healthy")
	}

	failing.Store(false)
	s := Settings{Checks: []*Check{check}, Interval: 100 * time.Millisecond, Timeout: 50 * time.Millisecond, Fall: 3, Rise: 3}
	reloaded := NewEngine(nil)
	e := reloaded.Endpoint(addr, s)
	reloaded.Start()
	defer reloaded.Stop()
	if e.Healthy() || e.Since() != oldEndpoint.Since() {
		t.Fatalf("after Start: healthy %v since %v; want the old verdict, down since %v", e.Healthy(), e.Since(), oldEndpoint.Since())
	}
	old.Stop()
	waitFor(t, "rise passes", e.Healthy)

	// An engine started after the old one stopped has nothing to inherit.
	fresh := NewEngine(nil)
	other, _ := ParseCheck(fmt.Sprintf("http://:%d/other", port))
	s.Checks = []*Check{other}
	f := fresh.Endpoint(addr, s)
	fresh.Start()
	defer fresh.Stop()
	if !f.Healthy() {
		t.Error("an endpoint with another check inherited a verdict")
	}
}
