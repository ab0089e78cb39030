package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/coredns/coredns/test"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failover-dns/failover/internal/k8stest"
)

// TestFleetLeaseLifecycle runs one replica of a fleet in this process
// against a real API server: it publishes its Lease, GROUP-IDENTITY labelled
// with the group, and reports the fleet on its status page; a reload keeps
// the very same Lease object, and the shutdown deletes it.
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

	// A reload keeps the Lease: the same object, renewed on.
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
}
