package fleet

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failover-dns/failover/internal/k8stest"
	"github.com/failover-dns/failover/internal/testutil"
)

// The fleet measured: replicas of 10,000 endpoints (-endpoints), in blocks
// of a primary and a secondary pool of five addresses each, probed every
// second with a timeout of 500 ms, as the figures are asked for.
// The backends are bench/scale's server on 127.60.0.1 and the addresses
// after it; the replicas listen on 127.0.36.0/24.
const (
	perPool      = 5
	firstBackend = "127.60.0.1"
	namespace    = "bench"
	group        = "edge"
	settleWithin = 2 * time.Minute // the replicas' first rounds of 10,000 probes, on a busy machine
)

var (
	endpoints = flag.Int("endpoints", 10000, "endpoints, a multiple of 10: fewer on a machine whose cores cannot probe 10,000 a second three times over")
	warmup    = flag.Duration("warmup", 15*time.Second, "after the replicas settle, before the window: the probes of moved endpoints and the Lease writes reach their steady state")
	window    = flag.Duration("window", 20*time.Second, "how long each variant is measured")
	rounds    = flag.Int("rounds", 1, "rounds of the variants, one after the other, averaged: the machine's load drifts")
)

// variant is one way of running the replicas.
type variant struct {
	name      string
	what      string
	replicas  int // real CoreDNS processes, replica-0 and on
	simulated int // peers whose Leases the benchmark writes, named after the real replicas
	fleet     bool
	probers   int
}

// others is how many replicas each real one shares with.
func (v variant) others() int { return v.replicas - 1 + v.simulated }

// The variants of three real replicas: (c)-(a) is what the fleet itself
// costs a replica, and (b)/(a) what it saves when each endpoint is probed
// once. The first variant of a set is the one without fleet, that the
// others are compared with.
var threeReplicas = []variant{
	{"a", "no fleet", 3, 0, false, 0},
	{"b", "fleet, probers 1", 3, 0, true, 1},
	{"c", "fleet, probers 3", 3, 0, true, 3},
}

// figures are a variant's measurements, summed over the rounds.
type figures struct {
	cores         float64       // CPU of one replica, the mean of the replicas, in cores
	probes        float64       // probes per second of one replica, the mean: the backends' requests over the replicas
	writes        float64       // Lease writes per second of one replica, the mean, by its status page
	leaseBytes    float64       // the size of one replica's Lease at its last write, the mean, by its status page
	backendProbes float64       // requests per second at the backends, every replica's
	unshared      int           // rounds in which a replica did not share with all at the end
	stop          time.Duration // the longest a replica took to stop after SIGTERM
	killed        int           // replicas killed after the grace period
	n             int           // rounds
}

func (f *figures) mean(x float64) float64 { return x / float64(f.n) }

// BenchmarkFleetReplicaCPU measures the CPU of one CoreDNS replica in
// steady state at 10,000 endpoints, without a fleet and with one:
//
//	go test -run '^$' -bench FleetReplicaCPU -benchtime 1x -v ./bench/fleet [-rounds 2] [-endpoints 2000]
//
// It runs three real CoreDNS processes (POD_NAME replica-0..2) against a
// real API server, bench/scale's backend server and each other, one variant
// after the other; each variant starts its replicas, waits until every one
// serves (and, with a fleet, shares with the two others), a warm-up, then
// measures for a window the CPU of each replica (/proc/PID/stat), the
// requests at the backends (the probes of all the replicas), and each
// replica's Lease writes (its status page, read just before and after the
// window). b.N is ignored: a run takes minutes. -v, as go test cuts a
// benchmark's log, and its table, after ten lines otherwise.
//
// On two shared cores, three replicas cannot probe 10,000 endpoints a second
// each (one takes about a core, docs/performance.md): the replicas then
// share the machine's cores and fall behind, and the figures say so
// (probes/s per replica under 10,000). -endpoints 2000 measures below that
// limit; BenchmarkFleetOneReplicaCPU measures one replica at 10,000.
func BenchmarkFleetReplicaCPU(b *testing.B) { run(b, threeReplicas) }

// run measures the variants vs, the first without fleet, -rounds times,
// one after the other, and reports their figures.
func run(b *testing.B, vs []variant) {
	if *endpoints < 2*perPool || *endpoints%(2*perPool) != 0 {
		b.Fatalf("-endpoints %d: want a multiple of %d", *endpoints, 2*perPool)
	}
	dir := b.TempDir()
	coredns := build(b, dir, "coredns", "plugin/coredns")
	backends := startBackendServer(b, build(b, dir, "server", "bench/scale/server"), firstBackend, *endpoints)
	cluster := k8stest.Start(b)
	cluster.Namespace(b, namespace)
	kubeconfig := cluster.Kubeconfig(b)
	b.Logf("machine: %d CPUs, load %s; %d endpoints in %d blocks, interval 1s, timeout 500ms; warm-up %v, window %v, %d round(s)",
		runtime.NumCPU(), loadavg(), *endpoints, blocks(), *warmup, *window, *rounds)

	results := map[string]*figures{}
	for round := range *rounds {
		for _, v := range vs {
			f := results[v.name]
			if f == nil {
				f = &figures{}
				results[v.name] = f
			}
			was := *f
			measure(b, v, coredns, cluster, kubeconfig, backends, f)
			b.Logf("round %d, (%s) %s: %.3f cores per replica, %.0f probes/s at the backends; load %s",
				round+1, v.name, v.what, f.cores-was.cores, f.backendProbes-was.backendProbes, loadavg())
		}
	}
	report(b, vs, results)
}

// measure runs the replicas as v says, and adds the figures of a window in
// steady state to f.
func measure(b *testing.B, v variant, coredns string, cluster *k8stest.Cluster, kubeconfig string, backends *backendServer, f *figures) {
	dir := b.TempDir()
	// The simulated peers write first: the replica shares with them from
	// its first decision, as one that joins a running fleet.
	var peers *simulatedPeers
	if v.simulated > 0 {
		peers = startSimulatedPeers(b, cluster, v, backends.port)
	}
	var rs []*replica
	for i := range v.replicas {
		ip := fmt.Sprintf("127.0.36.%d", 10+i)
		status := fmt.Sprintf("%s:%d", ip, freePort(b, ip))
		dns := testutil.FreeDNSPort(b, ip)
		rs = append(rs, startReplica(b, coredns, dir, fmt.Sprintf("replica-%d", i),
			corefile(v, ip, dns, status, backends.port, kubeconfig), status))
	}
	waitSettled(b, v, rs)
	if peers != nil {
		peers.waitCounted(b, rs)
	}
	// Not a synchronisation: the warm-up is part of what is measured, the
	// steady state after the endpoints have moved to their probers.
	time.Sleep(*warmup)

	// The status pages, for the Lease writes, are read outside the window:
	// small, but what the replicas spend on them is not their steady state.
	before := fleetSnapshots(b, v, rs)
	backends.requests(b) // counts from now on
	cpu0 := make([]time.Duration, len(rs))
	for i, r := range rs {
		cpu0[i] = cpuTime(b, r.cmd.Process.Pid)
	}
	start := time.Now()
	time.Sleep(*window)
	var cpu time.Duration
	for i, r := range rs {
		cpu += cpuTime(b, r.cmd.Process.Pid) - cpu0[i]
	}
	wall := time.Since(start)
	requests := backends.requests(b)
	after := fleetSnapshots(b, v, rs)
	if peers != nil {
		peers.stop(b)
	}
	stopAll(b, v, rs, cluster, f)

	n := float64(len(rs))
	f.n++
	f.cores += cpu.Seconds() / wall.Seconds() / n
	// Every probe is a request at the backends, whichever replica sent it
	// (the simulated peers send none).
	f.backendProbes += float64(requests) / wall.Seconds()
	f.probes += float64(requests) / wall.Seconds() / n
	if !v.fleet {
		return
	}
	for i, r := range rs {
		f.writes += float64(after[i].Lease.Writes-before[i].Lease.Writes) / after[i].at.Sub(before[i].at).Seconds() / n
		f.leaseBytes += float64(after[i].Lease.Bytes) / n
		// A replica that fell back to deciding alone (its Lease not
		// renewed in time on an overloaded machine) probed everything:
		// the figures are then not those of a fleet in steady state.
		if !after[i].shared(v.others()) {
			b.Logf("(%s): %s does not share with every replica at the end of the window: %+v", v.name, r.identity, after[i].groupStatus)
			f.unshared++
		}
	}
}

// stopAll stops the replicas, all at once as a Deployment's are deleted,
// and notes how long they took. The Leases of those killed are deleted, so
// that the next variant starts from none.
func stopAll(b *testing.B, v variant, rs []*replica, cluster *k8stest.Cluster, f *figures) {
	type stopped struct {
		took   time.Duration
		killed bool
	}
	results := make(chan stopped, len(rs))
	for _, r := range rs {
		go func() {
			took, killed := r.stop()
			results <- stopped{took, killed}
		}()
	}
	for range rs {
		s := <-results
		f.stop = max(f.stop, s.took)
		if s.killed {
			f.killed++
		}
	}
	if !v.fleet {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cluster.Client.CoordinationV1().Leases(namespace).DeleteCollection(ctx, metav1.DeleteOptions{},
		metav1.ListOptions{LabelSelector: "failover.coredns.io/fleet=" + group})
	if err != nil {
		b.Fatalf("deleting the Leases of (%s): %v", v.name, err)
	}
}

// snapshot is a replica's fleet, and when it was read.
type snapshot struct {
	at time.Time
	groupStatus
}

// fleetSnapshots reads the fleet of each replica (nothing without one).
func fleetSnapshots(b *testing.B, v variant, rs []*replica) []snapshot {
	shots := make([]snapshot, len(rs))
	if !v.fleet {
		return shots
	}
	// A saturated replica may not write its page within the status
	// server's write timeout: it is asked again.
	for i, r := range rs {
		for deadline := time.Now().Add(time.Minute); ; {
			g, err := r.fleetStatus(blockName(0))
			if err == nil && g != nil {
				shots[i] = snapshot{time.Now(), *g}
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("(%s): the fleet of %s: %+v, %v", v.name, r.identity, g, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return shots
}

// waitSettled returns once every replica serves, and, with a fleet, shares
// with every other one.
func waitSettled(b *testing.B, v variant, rs []*replica) {
	deadline := time.Now().Add(settleWithin)
	for _, r := range rs {
		for {
			if r.exited() {
				b.Fatalf("%s exited:\n%s", r.identity, tailFile(r.log, 20))
			}
			g, err := r.fleetStatus(blockName(0))
			if err == nil && (!v.fleet || g != nil && g.shared(v.others())) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("(%s): %s not settled after %v: %+v, %v\n%s", v.name, r.identity, settleWithin, g, err, tailFile(r.log, 20))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// corefile is a replica's: the blocks, the first with the status
// page the benchmark reads.
func corefile(v variant, ip string, dns int, status string, backendPort int, kubeconfig string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, ".:%d {\n\tbind %s\n", dns, ip)
	base := netip.MustParseAddr(firstBackend)
	for i := range blocks() {
		fmt.Fprintf(&sb, "\tfailover %s {\n", blockName(i))
		for _, pool := range []string{"primary", "secondary"} {
			sb.WriteString("\t\t" + pool)
			for range perPool {
				sb.WriteString(" " + base.String())
				base = base.Next()
			}
			sb.WriteString("\n")
		}
		fmt.Fprintf(&sb, "\t\tcheck %s\n\t\tinterval 1s\n\t\ttimeout 500ms\n", checkURL(backendPort))
		if i == 0 {
			fmt.Fprintf(&sb, "\t\tstatus %s\n", status)
		}
		if v.fleet {
			fmt.Fprintf(&sb, "\t\tfleet %s/%s\n\t\tkubeconfig %s\n\t\tprobers %d\n", namespace, group, kubeconfig, v.probers)
		}
		sb.WriteString("\t}\n")
	}
	sb.WriteString("}\n")
	return sb.String()
}

// checkURL is the check of every endpoint.
func checkURL(backendPort int) string { return fmt.Sprintf("http://:%d/health", backendPort) }

// blocks is how many failover blocks the endpoints make.
func blocks() int { return *endpoints / (2 * perPool) }

func blockName(i int) string { return fmt.Sprintf("n%d.fleet.bench", i) }

// report writes the figures as metrics of the benchmark and as a table,
// each variant's CPU compared with the first's.
func report(b *testing.B, vs []variant, results map[string]*figures) {
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-44s %14s %10s %14s %16s %15s %12s %9s %7s %9s\n", "variant", "CPU/replica", "µs/probe", "probes/s/rep.", "probes/s backend",
		"writes/s/rep.", "Lease bytes", "stop", "killed", "unshared")
	for _, v := range vs {
		f := results[v.name]
		cores, probes, writes, backend := f.mean(f.cores), f.mean(f.probes), f.mean(f.writes), f.mean(f.backendProbes)
		fmt.Fprintf(&table, "%-44s %9.3f core %10.1f %14.0f %16.0f %15.2f %12.0f %8.1fs %7d %5d of %d\n",
			"("+v.name+") "+v.what, cores, cores/probes*1e6, probes, backend, writes, f.mean(f.leaseBytes), f.stop.Seconds(), f.killed, f.unshared, f.n)
		b.ReportMetric(cores, v.name+"-cores/replica")
		b.ReportMetric(backend, v.name+"-backend-probes/s")
		if v.fleet {
			b.ReportMetric(writes, v.name+"-lease-writes/s/replica")
			b.ReportMetric(f.mean(f.leaseBytes), v.name+"-lease-bytes")
		}
	}
	base := vs[0].name
	a := results[base].mean(results[base].cores)
	for _, v := range vs[1:] {
		ratio := results[v.name].mean(results[v.name].cores) / a
		fmt.Fprintf(&table, "CPU (%s)/(%s): %.2f\n", v.name, base, ratio)
		b.ReportMetric(ratio, v.name+"/"+base+"-cpu")
	}
	b.Log(table.String())
}
