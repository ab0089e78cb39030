package failover

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/coredns/caddy"

	"github.com/failover-dns/failover/healthcheck"
)

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

// cpuTime returns the CPU time of this process, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
