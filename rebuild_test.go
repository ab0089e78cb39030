package failover

import (
	"fmt"
	"runtime"
	"strings"
	"syscall"
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
			shared := next.decision(name) == prev.decision(name)
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

// BenchmarkRebuild measures a rebuild after one endpoint changed, and after
// every primary did, among 10,000 names: one a block, or ten a block.
// Recording the changes, as probe workers do, is in the time; so are the
// metric series the rebuild sets and its log lines (discarded). cpu-ns/op is
// the process's CPU time (getrusage), garbage collection included: on a
// shared machine, wall time also counts the waits for a core.
func BenchmarkRebuild(b *testing.B) {
	for _, layout := range []struct{ blocks, perBlock int }{{10000, 1}, {1000, 10}} {
		// The verdict of primary i (10.1.i/256.i%256) is down[i]: as cheap
		// to read as an endpoint's, where a map would cost more than the rest.
		down := make([]bool, layout.blocks)
		healthy := func(m member) bool {
			a := m.addr.As4()
			return a[1] != 1 || !down[int(a[2])<<8|int(a[3])]
		}
		f, err := parse(caddy.NewTestController("dns", manyBlocks(layout.blocks, layout.perBlock)))
		if err != nil {
			b.Fatal(err)
		}
		f.publishFirst(healthy)
		primaries := make([]*healthcheck.Endpoint, len(f.blocks))
		for i := range f.blocks {
			primaries[i] = primaryOf(f, i)
		}
		for _, changed := range []struct {
			what      string
			endpoints []*healthcheck.Endpoint
		}{{"one endpoint", primaries[:1]}, {"every primary", primaries}} {
			b.Run(fmt.Sprintf("%d names, %d a block, %s changed", layout.blocks*layout.perBlock, layout.perBlock, changed.what), func(b *testing.B) {
				b.ReportAllocs()
				cpu0 := cpuTime()
				for b.Loop() {
					for i, e := range changed.endpoints {
						down[i] = !down[i] // down, then up again: every rebuild moves the names
						f.changes.endpointChanged(e)
					}
					f.rebuild(healthy)
				}
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			})
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
	before := followGoroutines()
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

// TestMassMovesLoggedInSummary checks the log of the moves of a mass
// failure: the first moveLines moves of a period have a line each, the
// others one line for each kind of move, with their number, once the
// period ends.
func TestMassMovesLoggedInSummary(t *testing.T) {
	const blocks = moveLines + 12
	v := verdicts{}
	f := parsedWith(t, manyBlocks(blocks, 1), v)
	logged := captureLog(t)
	for i := range f.blocks[:blocks/2] {
		v[primaryOf(f, i)] = true
		f.changes.endpointChanged(primaryOf(f, i))
	}
	f.rebuild(v.healthy)
	for i := range f.blocks[blocks/2:] {
		v[primaryOf(f, blocks/2+i)] = true
		f.changes.endpointChanged(primaryOf(f, blocks/2+i))
	}
	f.rebuild(v.healthy)
	out := logged.take()
	if n := strings.Count(out, " A fails over from pool primary to secondary (failover)"); n != moveLines || strings.Count(out, "\n") != moveLines {
		t.Errorf("%d lines of a name each, want %d and nothing else:\n%s", n, moveLines, out)
	}
	f.moves.flush() // the period ends
	out = logged.take()
	if !strings.Contains(out, "12 more names A fail over from pool primary to secondary (failover): n") || !strings.HasSuffix(out, " ...\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("not one summary of the 12 other moves:\n%s", out)
	}

	// A new period: the failback of the last names.
	defer func(period time.Duration) { moveLogPeriod = period }(moveLogPeriod)
	moveLogPeriod = 50 * time.Millisecond
	f.following.Add(1)
	go f.follow(v.healthy)
	defer func() { close(f.stopFollowing); f.following.Wait() }()
	for i := range f.blocks[:moveLines+1] {
		v[primaryOf(f, i)] = false
		f.changes.endpointChanged(primaryOf(f, i))
	}
	var summary string
	waitUntil(t, "the summary of the period", func() bool {
		summary += logged.take()
		return strings.Contains(summary, "more name")
	})
	if n := strings.Count(summary, ". A fails back from pool secondary to primary (healthy)"); n != moveLines ||
		!strings.Contains(summary, "1 more name A fails back from pool secondary to primary (healthy): n") || strings.Contains(summary, "...") {
		t.Errorf("not %d lines and a summary of the last failback:\n%s", moveLines, summary)
	}
}

// cpuTime returns the CPU time of this process, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
