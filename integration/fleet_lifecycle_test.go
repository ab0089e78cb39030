package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/test"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failover-dns/failover/internal/k8stest"
)

// TestFleetLeaseLifecycle runs one replica of a fleet in this process
// against a real API server: it publishes its Lease, GROUP-IDENTITY labelled
// with the group, and reports the fleet on its status page; reloads keep the
// very same Lease object and no more goroutines than one group's, and the
// shutdown deletes the Lease and ends them.
func TestFleetLeaseLifecycle(t *testing.T) {
	cluster := k8stest.Start(t)
	cluster.Namespace(t, "dns")
	t.Setenv("POD_NAME", "lifecycle-0")
	backends := startBackends(t, "127.0.50.61", "127.0.50.62")
	status := freeTCPAddr(t, "127.0.50.61")
	kubeconfig := cluster.Kubeconfig(t)
	corefile := func(interval string) string {
		return fmt.Sprintf(`.:0 {
	failover app.fleet.test {
		primary 127.0.50.61
		secondary 127.0.50.62
		check http://:%d/health
		interval %s
		fleet dns/coredns
		kubeconfig %s
		status %s
	}
}
`, backends[0].port, interval, kubeconfig, status)
	}
	inst, udp, _, err := test.CoreDNSServerAndPorts(corefile("1s"))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			inst.Stop()
			inst.ShutdownCallbacks()
		}
	}()
	waitAnswer(t, udp, "app.fleet.test.", "127.0.50.61", 2*time.Second)

	leases := cluster.Client.CoordinationV1().Leases("dns")
	get := func() (uid string, renewed time.Time, err error) {
		l, err := leases.Get(context.Background(), "coredns-lifecycle-0", metav1.GetOptions{})
		if err != nil {
			return "", time.Time{}, err
		}
		if l.Labels["failover.coredns.io/fleet"] != "coredns" || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != "lifecycle-0" ||
			l.Spec.RenewTime == nil || l.Annotations["failover.coredns.io/observations"] == "" {
			return "", time.Time{}, fmt.Errorf("lease %+v: want the group label, holder lifecycle-0, a renewal and observations", l.ObjectMeta)
		}
		return string(l.UID), l.Spec.RenewTime.Time, nil
	}
	var uid string
	k8stest.WaitFor(t, 10*time.Second, "the replica's Lease", func() bool {
		uid, _, err = get()
		return err == nil
	})
	statusWait(t, status, func(r *statusReport) string {
		n := r.name("app.fleet.test.")
		if n == nil || n.Fleet == nil {
			return "no fleet in the status"
		}
		if f := n.Fleet; f.Group != "dns/coredns" || f.Identity != "lifecycle-0" || f.Mode != "shared" || f.Probers != 3 || f.Quorum != 50 {
			return fmt.Sprintf("fleet %+v: want dns/coredns, lifecycle-0, shared, probers 3, quorum 50", f)
		}
		e := n.endpoint("127.0.50.61")
		if e == nil || e.Fleet == nil || e.Fleet.Local != "up" || e.Fleet.Shared != "up" || e.Fleet.Up != 1 || !e.Fleet.Probing {
			return fmt.Sprintf("primary %+v: want probed here, local and shared up on one vote", e)
		}
		return ""
	})

	// Reloads keep the Lease, the same object renewed on, and the group's
	// goroutines: one informer (its reflector), one writer, one decision loop.
	fleetGoroutines := func() int {
		return goroutines("fleet.(*group).decideLoop(") + goroutines("fleet.(*group).publishLoop(") + goroutines("cache.(*Reflector).RunWithContext(")
	}
	waitGoroutines(t, "the fleet started", func() bool { return fleetGoroutines() == 3 })
	for i := range 20 {
		next, err := inst.Restart(test.NewInput(corefile(fmt.Sprintf("%dms", 1000+10*(i%2)))))
		if err != nil {
			t.Fatal(err)
		}
		inst = next
	}
	waitGoroutines(t, "after 20 reloads", func() bool { return fleetGoroutines() == 3 })
	next, err := inst.Restart(test.NewInput(corefile("2s")))
	if err != nil {
		t.Fatal(err)
	}
	inst = next
	reloaded := time.Now()
	k8stest.WaitFor(t, 10*time.Second, "a renewal after the reload", func() bool {
		got, renewed, err := get()
		if err == nil && got != uid {
			t.Fatalf("the reload replaced the Lease (uid %s, then %s)", uid, got)
		}
		return err == nil && renewed.After(reloaded)
	})

	// The shutdown deletes it.
	inst.Stop()
	inst.ShutdownCallbacks()
	stopped = true
	if _, _, err := get(); !apierrors.IsNotFound(err) {
		t.Fatalf("after the shutdown: %v; want the Lease deleted", err)
	}
	waitGoroutines(t, "after the shutdown", func() bool { return fleetGoroutines() == 0 })
}

// TestFleetShutdownWithManyBlocks stops a replica whose 1,000 blocks join
// one fleet: its Lease is deleted. The instance joins and leaves the group
// once, not once a block (TestJoinFleetsOncePerGroup): before, each block
// left on its own, behind a decision round over every endpoint, and a
// replica of 1,000 blocks of ten endpoints on a saturated machine
// (bench/fleet) outlasted the kubelet's 30 s grace period. The time is
// logged, not bounded: it depends on the machine.
func TestFleetShutdownWithManyBlocks(t *testing.T) {
	cluster := k8stest.Start(t)
	cluster.Namespace(t, "dns")
	t.Setenv("POD_NAME", "many-0")
	const blocks = 1000
	kubeconfig := cluster.Kubeconfig(t)
	var b strings.Builder
	b.WriteString(".:0 {\n")
	for i := range blocks {
		// Nothing listens on port 9 of these addresses: every probe is
		// refused at once, cheaply; the verdicts do not matter here.
		fmt.Fprintf(&b, "\tfailover app%d.fleet.test {\n\t\tprimary 127.52.%d.%d\n\t\tsecondary 127.53.%d.%d\n\t\tcheck tcp://:9\n\t\tinterval 1s\n\t\tfleet dns/many\n\t\tkubeconfig %s\n\t}\n",
			i, i/250, i%250+1, i/250, i%250+1, kubeconfig)
	}
	b.WriteString("}\n")
	inst, err := test.CoreDNSServer(b.String())
	if err != nil {
		t.Fatal(err)
	}
	leases := cluster.Client.CoordinationV1().Leases("dns")
	k8stest.WaitFor(t, 30*time.Second, "the replica's Lease", func() bool {
		_, err := leases.Get(context.Background(), "many-many-0", metav1.GetOptions{})
		return err == nil
	})

	start := time.Now()
	inst.Stop()
	inst.ShutdownCallbacks()
	took := time.Since(start)
	t.Logf("shutdown of %d blocks in one fleet took %v", blocks, took)
	if _, err := leases.Get(context.Background(), "many-many-0", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after the shutdown: %v; want the Lease deleted", err)
	}
}
