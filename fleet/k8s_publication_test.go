package fleet

import (
	"context"
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failover-dns/failover/healthcheck"
	"github.com/failover-dns/failover/internal/k8stest"
	"github.com/failover-dns/failover/kube"
)

// annotationLimit is what Kubernetes allows all the annotations of an
// object together.
const annotationLimit = 256 << 10

// endpointID names the i-th of many endpoints as a Corefile's would be.
func endpointID(i int) string {
	return fmt.Sprintf("10.%d.%d.%d:8080 (http://:8080/healthz)", i>>16&255, i>>8&255, i&255)
}

// syntheticObservations are n observations, one in ten down.
func syntheticObservations(n int) []observation {
	obs := make([]observation, n)
	for i := range obs {
		obs[i] = observation{idHash(endpointID(i)), i%10 != 0}
	}
	return obs
}

// bigGroup is a group of the cluster's, not started: the tests write its
// Lease themselves.
func bigGroup(tb testing.TB, c *k8stest.Cluster, group string) *group {
	tb.Helper()
	tb.Setenv(EnvPodName, self)
	c.Namespace(tb, testNamespace)
	cfg := Config{Namespace: testNamespace, Group: group, Source: kube.Source{Kubeconfig: c.Kubeconfig(tb)}, Probers: DefaultProbers, Quorum: DefaultQuorum}
	// Unlimited: the figures are the API server's, not client-go's limiter's.
	qps, burst := clientQPS, clientBurst
	clientQPS, clientBurst = -1, 0
	defer func() { clientQPS, clientBurst = qps, burst }()
	g := newGroup(groupKey{cfg.Namespace, cfg.Group, cfg.Source}, cfg)
	if g.leases == nil {
		tb.Fatalf("no client: %s", g.writeErr)
	}
	tb.Cleanup(func() {
		g.http.CloseIdleConnections()
		deleteGroupSeries(g.name)
	})
	return g
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writeMany writes g's Lease n times with obs, one in a hundred of them
// flipped at each write as if they had changed, and returns the time and the
// CPU of this process per write, and the size of the Lease.
func writeMany(tb testing.TB, g *group, obs []observation, n int) (perWrite, cpuPerWrite time.Duration, size int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start, cpu := time.Now(), cpuTime(tb)
	for i := range n {
		for j := i % 100; j < len(obs); j += 100 {
			obs[j].up = !obs[j].up
		}
		l, err := g.put(ctx, encodeObservations(obs), "", 3*time.Second)
		if err != nil {
			tb.Fatalf("write %d of the Lease at %d endpoints: %v", i, len(obs), err)
		}
		size = l.Size()
	}
	return time.Since(start) / time.Duration(n), (cpuTime(tb) - cpu) / time.Duration(n), size
}

// The Lease of a replica observing 10,000 endpoints is accepted by the API
// server, its annotation under Kubernetes' limit, and read back whole. The
// figures of the README come from here and BenchmarkFleetPublication.
func TestFleetLeaseAt10000Endpoints(t *testing.T) {
	c := k8stest.Start(t)
	g := bigGroup(t, c, "big")
	obs := syntheticObservations(10000)
	value := encodeObservations(obs)
	if len(value) >= annotationLimit {
		t.Fatalf("annotation of %d bytes at 10,000 endpoints, over the limit of %d", len(value), annotationLimit)
	}
	perWrite, cpu, size := writeMany(t, g, obs, 30)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := c.Client.CoordinationV1().Leases(testNamespace).Get(ctx, g.lease, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeObservations(l.Annotations[AnnotationObservations])
	if err != nil || len(got) != 10000 {
		t.Fatalf("read back %d observations (%v), want 10,000", len(got), err)
	}
	for _, o := range obs {
		if up, ok := find(got, o.hash); !ok || up != o.up {
			t.Fatalf("observation %x read back %v, %v; want %v", o.hash, up, ok, o.up)
		}
	}
	t.Logf("10,000 endpoints: annotation %d bytes (limit %d), Lease %d bytes (protobuf); a write takes %s, %s of this process's CPU; at most %.0f writes/s back to back",
		len(value), annotationLimit, size, perWrite.Round(time.Microsecond), cpu.Round(time.Microsecond), float64(time.Second)/float64(perWrite))
}

// BenchmarkFleetPublication encodes and writes the Lease of a replica
// observing 10,000 endpoints against a real API server:
//
//	go test -run '^$' -bench FleetPublication -benchtime 50x ./fleet
func BenchmarkFleetPublication(b *testing.B) {
	c := k8stest.Start(b)
	g := bigGroup(b, c, "bench")
	obs := syntheticObservations(10000)
	writeMany(b, g, obs, 1) // created, connected
	b.ResetTimer()
	_, cpu, size := writeMany(b, g, obs, b.N)
	b.ReportMetric(float64(size), "lease-bytes")
	b.ReportMetric(float64(len(encodeObservations(obs))), "annotation-bytes")
	b.ReportMetric(float64(cpu.Microseconds()), "cpu-µs/write")
}

// BenchmarkFleetEncode is the encoding alone of 10,000 observations.
func BenchmarkFleetEncode(b *testing.B) {
	obs := syntheticObservations(10000)
	for b.Loop() {
		encodeObservations(obs)
	}
}

// BenchmarkFleetDecide is one decision round at 10,000 endpoints with two
// other live replicas observing all of them (probers 3): the CPU a replica
// spends each time a Lease of the group changes.
func BenchmarkFleetDecide(b *testing.B) {
	g := &group{name: "bench/decide", identity: self, tracked: map[string]*tracked{}, peers: map[string]*peer{},
		shared: true, renewed: time.Now().Add(time.Hour), duration: 2 * time.Hour}
	g.members = []*Membership{{config: Config{Probers: 3, Quorum: 50}}}
	defer func() {
		for id := range g.tracked {
			deleteEndpointSeries(g.name, id)
		}
		deleteGroupSeries(g.name)
	}()
	eng := healthcheck.NewEngine(nil)
	check, _ := healthcheck.ParseCheck("http://:8080/healthz")
	for i := range 10000 {
		e := eng.Endpoint(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), healthcheck.Settings{Checks: []*healthcheck.Check{check}, Interval: time.Second})
		t := &tracked{id: e.ID(), hash: idHash(e.ID()), eps: []*healthcheck.Endpoint{e}, probing: true, series: newEndpointSeries(g.name, e.ID())}
		g.tracked[t.id] = t
	}
	for _, name := range []string{"replica-1", "replica-2"} {
		var obs []observation
		for _, t := range g.tracked {
			obs = append(obs, observation{t.hash, true})
		}
		encodeObservations(obs) // sorts
		g.peers[name] = &peer{name: name, identity: name, duration: time.Hour, seen: time.Now(), obs: obs}
	}
	for b.Loop() {
		g.decide()
	}
}
