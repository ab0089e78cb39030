package failover

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/failover-dns/failover/healthcheck"
)

// manyBlocks returns a Corefile of blocks failover blocks of perBlock names
// each, block i with primary 10.1.x.y and secondary 10.2.x.y.
func manyBlocks(blocks, perBlock int) string {
	var sb strings.Builder
	for i := range blocks {
		sb.WriteString("failover")
		for j := range perBlock {
			fmt.Fprintf(&sb, " n%d-%d.rebuild.example.org", i, j)
		}
		fmt.Fprintf(&sb, " {\nprimary 10.1.%d.%d\nsecondary 10.2.%d.%d\ncheck tcp://:80\n}\n", i/256, i%256, i/256, i%256)
	}
	return sb.String()
}

// verdicts is a health that a test sets per endpoint: healthy unless down.
type verdicts map[*healthcheck.Endpoint]bool

func (v verdicts) healthy(m member) bool { return !v[m.endpoint] }

// parsedWith parses corefile and publishes its first state under v, with its
// metric series, as startup does, but with no probe.
func parsedWith(tb testing.TB, corefile string, v verdicts) *Failover {
	tb.Helper()
	f, err := parse(caddy.NewTestController("dns", corefile))
	if err != nil {
		tb.Fatal(err)
	}
	f.publishFirst(v.healthy)
	return f
}

func primaryOf(f *Failover, block int) *healthcheck.Endpoint {
	return f.blocks[block].pools[0].members[0].endpoint
}

// TestRebuildSharesUnchangedDecisions checks that a rebuild decides again
// the names of the block whose endpoint changed, and only those: the other
// decisions are the previous snapshot's, which stays as it was.
func TestRebuildSharesUnchangedDecisions(t *testing.T) {
	v := verdicts{}
	f := parsedWith(t, manyBlocks(3, 2), v)
	prev := f.state.Load()

	v[primaryOf(f, 1)] = true
	f.changes.endpointChanged(primaryOf(f, 1))
	f.rebuild(v.healthy)
	next := f.state.Load()

	for i, b := range f.blocks {
		for _, name := range b.names {
			shared := next.find(name) == prev.find(name)
			if shared != (i != 1) {
				t.Errorf("%s (block %d): decision shared with the previous snapshot %t", name, i, shared)
			}
			want, was := "primary", "primary"
			if i == 1 {
				want = "secondary"
			}
			if got := next.lookup(name, dns.TypeA).pool; got != want {
				t.Errorf("%s: answered from %s, want %s", name, got, want)
			}
			if got := prev.lookup(name, dns.TypeA).pool; got != was {
				t.Errorf("%s: the previous snapshot changed to %s", name, got)
			}
		}
	}
	if n := f.rebuilds.Load(); n != 1 {
		t.Errorf("%d rebuilds, want 1", n)
	}
	// Nothing recorded since: no rebuild.
	f.rebuild(v.healthy)
	if f.state.Load() != next {
		t.Error("a rebuild without changes published a snapshot")
	}
}

// TestRebuildSetsOnlyChangedSeries checks that a rebuild sets the series of
// the changed endpoint and of the names that moved, and leaves the others
// alone: a value no rebuild would write stays.
func TestRebuildSetsOnlyChangedSeries(t *testing.T) {
	v := verdicts{}
	f := parsedWith(t, manyBlocks(2, 2), v)
	const untouched = 42
	for _, name := range f.blocks[0].names {
		poolUp.WithLabelValues(name, "primary").Set(untouched)
		activePool.WithLabelValues(name, "A", "primary").Set(untouched)
		endpointHealthy.WithLabelValues(name, "primary", "10.1.0.0").Set(untouched)
	}
	moved := f.blocks[1].names
	// Left as they are by a change that does not move the name.
	poolUp.WithLabelValues(moved[0], "secondary").Set(untouched)
	before := testutil.ToFloat64(failovers.WithLabelValues(moved[0], "A"))

	v[primaryOf(f, 1)] = true
	f.changes.endpointChanged(primaryOf(f, 1))
	f.rebuild(v.healthy)

	for _, name := range f.blocks[0].names {
		for _, g := range []float64{
			testutil.ToFloat64(poolUp.WithLabelValues(name, "primary")),
			testutil.ToFloat64(activePool.WithLabelValues(name, "A", "primary")),
			testutil.ToFloat64(endpointHealthy.WithLabelValues(name, "primary", "10.1.0.0")),
		} {
			if g != untouched {
				t.Errorf("%s: a series of an unchanged name was set to %v", name, g)
			}
		}
	}
	for _, name := range moved {
		for _, c := range []struct {
			what      string
			got, want float64
		}{
			{"endpoint_healthy primary", testutil.ToFloat64(endpointHealthy.WithLabelValues(name, "primary", "10.1.0.1")), 0},
			{"pool_up primary", testutil.ToFloat64(poolUp.WithLabelValues(name, "primary")), 0},
			{"active_pool A primary", testutil.ToFloat64(activePool.WithLabelValues(name, "A", "primary")), 0},
			{"active_pool A secondary", testutil.ToFloat64(activePool.WithLabelValues(name, "A", "secondary")), 1},
		} {
			if c.got != c.want {
				t.Errorf("%s: %s %v, want %v", name, c.what, c.got, c.want)
			}
		}
	}
	if got := testutil.ToFloat64(poolUp.WithLabelValues(moved[0], "secondary")); got != untouched {
		t.Errorf("pool_up of a pool that stayed up was set to %v", got)
	}
	if got := testutil.ToFloat64(failovers.WithLabelValues(moved[0], "A")); got != before+1 {
		t.Errorf("failovers_total %v, want %v", got, before+1)
	}
}

// TestChangesCoalesce records a burst of changes, which returns without any
// rebuild running, then lets the goroutine of the instance take them: one
// rebuild publishes them all.
func TestChangesCoalesce(t *testing.T) {
	v := verdicts{}
	f := parsedWith(t, manyBlocks(200, 1), v)
	for i := range f.blocks {
		v[primaryOf(f, i)] = true
		for range 5 { // the same change reported again counts once
			f.changes.endpointChanged(primaryOf(f, i))
		}
	}
	f.following.Add(1)
	go f.follow(v.healthy)
	waitUntil(t, "a rebuild", func() bool { return f.rebuilds.Load() > 0 })
	close(f.stopFollowing)
	f.following.Wait()
	if n := f.rebuilds.Load(); n != 1 {
		t.Errorf("%d rebuilds, want 1", n)
	}
	if len(f.changes.wake) != 0 || len(f.changes.endpoints) != 0 {
		t.Error("changes left after the rebuild")
	}
	for _, b := range f.blocks {
		if got := f.state.Load().lookup(b.names[0], dns.TypeA).pool; got != "secondary" {
			t.Fatalf("%s answered from %s after the rebuild", b.names[0], got)
		}
	}
}

// followGoroutines counts the goroutines rebuilding answers, of any instance.
func followGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "failover.(*Failover).follow(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// waitUntil polls cond until it holds, or fails the test after 5 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
	}
}

// TestMassFailoverReachesAnswersAndSeries runs an instance over real HTTP
// backends, makes every primary fail at once, then come back: every name
// answers from its secondary, then its primary again, through the goroutine
// that rebuilds the answers, with the series to match; the goroutine ends at
// shutdown.
func TestMassFailoverReachesAnswersAndSeries(t *testing.T) {
	const blocks, perBlock = 8, 3
	var ips []string
	for i := range 2 * blocks {
		ips = append(ips, fmt.Sprintf("127.0.50.%d", i+1))
	}
	port, backends := startSwitchableBackends(t, ips...)
	var sb strings.Builder
	for i := range blocks {
		sb.WriteString("failover")
		for j := range perBlock {
			fmt.Fprintf(&sb, " n%d-%d.mass.example.org", i, j)
		}
		fmt.Fprintf(&sb, " {\nprimary %s\nsecondary %s\ncheck http://:%d/health\ninterval 100ms\ntimeout 80ms\nfall 1\nrise 1\n}\n", ips[i], ips[blocks+i], port)
	}
	f, err := parse(caddy.NewTestController("dns", sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	// An earlier test's goroutine may still be returning after its
	// instance's shutdown waited for it: count from none.
	waitUntil(t, "the goroutines of earlier instances end", func() bool { return followGoroutines() == 0 })
	before := 0
	if err := f.OnStartup(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.OnShutdown() })
	waitUntil(t, "one goroutine rebuilds the answers of the instance", func() bool { return followGoroutines() == before+1 })

	answers := func(pool string) func() bool {
		return func() bool {
			for i, b := range f.blocks {
				want := ips[i]
				if pool == "secondary" {
					want = ips[blocks+i]
				}
				for _, name := range b.names {
					m := serve(t, f, name, dns.TypeA)
					if len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != want {
						return false
					}
				}
			}
			return true
		}
	}
	waitUntil(t, "every name answers from its primary", answers("primary"))
	counter := func(name string, c interface {
		WithLabelValues(...string) prometheus.Counter
	}) float64 {
		return testutil.ToFloat64(c.WithLabelValues(name, "A"))
	}
	failovers0 := counter("n0-0.mass.example.org.", failovers)

	for _, b := range backends[:blocks] {
		b.up.Store(false)
	}
	waitUntil(t, "every name answers from its secondary", answers("secondary"))
	// The series follow the answers, set by the rebuild just after it publishes them.
	var wrong string
	failedOver := func() bool {
		wrong = ""
		for i, b := range f.blocks {
			for _, name := range b.names {
				for _, c := range []struct {
					what      string
					got, want float64
				}{
					{"endpoint_healthy primary", testutil.ToFloat64(endpointHealthy.WithLabelValues(name, "primary", ips[i])), 0},
					{"endpoint_healthy secondary", testutil.ToFloat64(endpointHealthy.WithLabelValues(name, "secondary", ips[blocks+i])), 1},
					{"pool_up primary", testutil.ToFloat64(poolUp.WithLabelValues(name, "primary")), 0},
					{"active_pool A secondary", testutil.ToFloat64(activePool.WithLabelValues(name, "A", "secondary")), 1},
					{"active_pool A primary", testutil.ToFloat64(activePool.WithLabelValues(name, "A", "primary")), 0},
				} {
					if c.got != c.want {
						wrong = fmt.Sprintf("%s: %s %v, want %v", name, c.what, c.got, c.want)
						return false
					}
				}
			}
		}
		return true
	}
	waitUntil(t, "the series of every name show the failover", failedOver)
	if wrong != "" {
		t.Error(wrong)
	}
	if got := counter("n0-0.mass.example.org.", failovers); got != failovers0+1 {
		t.Errorf("failovers_total %v, want %v", got, failovers0+1)
	}

	for _, b := range backends[:blocks] {
		b.up.Store(true)
	}
	waitUntil(t, "every name answers from its primary again", answers("primary"))
	waitUntil(t, "failbacks_total counts the failback", func() bool { return counter("n0-0.mass.example.org.", failbacks) >= 1 })

	f.OnShutdown()
	waitUntil(t, "the goroutine rebuilding answers ends at shutdown", func() bool { return followGoroutines() == before })
}
