package healthcheck

import (
	"fmt"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// steeredBackend serves an HTTP check on ip, counting requests; it fails
// while failing is set.
type steeredBackend struct {
	requests atomic.Int64
	failing  atomic.Bool
	check    *Check
}

func newSteeredBackend(t *testing.T, ip string) *steeredBackend {
	b := &steeredBackend{}
	port := serve(t, ip, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		b.requests.Add(1)
		if b.failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	b.check, _ = ParseCheck(fmt.Sprintf("http://:%d/", port))
	return b
}

// TestSteerDecidesServedVerdict: while steered, probes move the local verdict
// only, and what is served is what Decide says; the engine hears each served
// change once. Unsteered, the local verdict is served again at once.
func TestSteerDecidesServedVerdict(t *testing.T) {
	const ip = "127.0.0.37"
	b := newSteeredBackend(t, ip)
	changes := make(chan bool, 16)
	var e *Endpoint
	g := NewEngine(func(ep *Endpoint) { changes <- ep.Healthy() })
	e = g.Endpoint(netip.MustParseAddr(ip), Settings{Checks: []*Check{b.check}, Interval: 50 * time.Millisecond, Timeout: time.Second, Fall: 1, Rise: 1})
	g.Start()
	defer g.Stop()

	var heard atomic.Int64
	e.Steer(func() { heard.Add(1) })
	b.failing.Store(true)
	waitFor(t, "the local verdict to go down", func() bool { healthy, probed := e.Local(); return probed && !healthy })
	waitFor(t, "the steering callback", func() bool { return heard.Load() > 0 })
	if !e.Healthy() {
		t.Fatal("a steered endpoint went down on its own probes; want the fleet's verdict kept")
	}

	e.Decide(false, "the fleet says so")
	expectChange(t, changes, false, time.Second)
	e.Decide(false, "again")
	select {
	case v := <-changes:
		t.Fatalf("a Decide that changes nothing told the engine (%v)", v)
	case <-time.After(100 * time.Millisecond):
	}

	b.failing.Store(false)
	waitFor(t, "the local verdict to come up", func() bool { healthy, _ := e.Local(); return healthy })
	if e.Healthy() {
		t.Fatal("a steered endpoint came up on its own probes")
	}
	e.Unsteer()
	expectChange(t, changes, true, time.Second)
	if e.Steered() {
		t.Fatal("still steered after the only Unsteer")
	}
	e.Decide(false, "not steered")
	if !e.Healthy() {
		t.Fatal("Decide changed an endpoint nobody steers")
	}
}

// TestDelegateStopsProbes: a delegated endpoint gets no probe; when the
// delegation ends, its next probe starts at once, not an interval later, and
// decides the local verdict by itself, whatever fall says.
func TestDelegateStopsProbes(t *testing.T) {
	const ip = "127.0.0.38"
	b := newSteeredBackend(t, ip)
	g := NewEngine(nil)
	e := g.Endpoint(netip.MustParseAddr(ip), Settings{Checks: []*Check{b.check}, Interval: 100 * time.Millisecond, Timeout: time.Second, Fall: 5, Rise: 1})
	g.Start()
	defer g.Stop()

	e.Delegate(true)
	if e.Delegated() {
		t.Fatal("an endpoint nobody steers was delegated")
	}
	e.Steer(nil)
	e.Delegate(true)
	time.Sleep(150 * time.Millisecond) // a probe already handed out may end
	before := b.requests.Load()
	time.Sleep(500 * time.Millisecond) // five intervals: the absence of probes is what is measured
	if got := b.requests.Load() - before; got != 0 {
		t.Fatalf("%d probes of a delegated endpoint in 5 intervals; want none", got)
	}

	// Fall is 5: only a probe that decides by itself takes it down sooner.
	b.failing.Store(true)
	e.Delegate(false)
	waitFor(t, "the probe after the delegation", func() bool { healthy, _ := e.Local(); return !healthy })
	if got := b.requests.Load() - before; got >= 5 {
		t.Errorf("down after %d failed probes; want the first to decide", got)
	}
}

// TestUnsteerEndsDelegation: the last Unsteer of a delegated endpoint has it
// probed again, and it keeps the fleet's verdict until that probe decides.
func TestUnsteerEndsDelegation(t *testing.T) {
	const ip = "127.0.0.39"
	b := newSteeredBackend(t, ip)
	g := NewEngine(nil)
	e := g.Endpoint(netip.MustParseAddr(ip), Settings{Checks: []*Check{b.check}, Interval: time.Hour, Timeout: time.Second, Fall: 3, Rise: 1})
	g.Start()
	defer g.Stop()

	e.Steer(nil)
	e.Steer(nil) // a reload's second instance
	e.Delegate(true)
	e.Decide(false, "the fleet says so")
	b.failing.Store(false)
	before := b.requests.Load()
	e.Unsteer()
	if !e.Delegated() || !e.Steered() {
		t.Fatal("one Unsteer of two ended the steering")
	}
	e.Unsteer()
	if e.Delegated() {
		t.Fatal("delegated after the last Unsteer")
	}
	waitFor(t, "the probe that ends the fleet's verdict", func() bool { return e.Healthy() })
	if got := b.requests.Load() - before; got != 1 {
		t.Errorf("%d probes; want the one expedited", got)
	}
}

// TestIDIsStableAcrossSettings: the ID names what is asked, not how often.
func TestIDIsStableAcrossSettings(t *testing.T) {
	check, _ := ParseCheck("http://:8080/healthz")
	addr := netip.MustParseAddr("192.0.2.1")
	fast := (&Endpoint{Addr: addr, Settings: Settings{Checks: []*Check{check}, Interval: time.Second, Fall: 3}}).ID()
	slow := (&Endpoint{Addr: addr, Settings: Settings{Checks: []*Check{check}, Interval: time.Minute, Fall: 1}}).ID()
	if fast != slow || fast != "192.0.2.1 (http://:8080/healthz)" {
		t.Errorf("IDs %q and %q; want both 192.0.2.1 (http://:8080/healthz)", fast, slow)
	}
	other := (&Endpoint{Addr: addr, Settings: Settings{Checks: []*Check{check}, HTTP: HTTPOptions{Method: "HEAD"}}}).ID()
	if other == fast {
		t.Errorf("an endpoint asked with another method has the same ID %q", other)
	}
}
