package fleet

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failover-dns/failover/internal/k8stest"
)

// TestFleetSharesPushedItems: what a replica's blocks push is in its Lease,
// each item once, and leaves it when nothing is pushed; what another fresh
// replica pushes reaches this one, with a call, and leaves once that
// replica's Lease is no longer renewed; items that cannot be read are not
// taken in, and said once.
func TestFleetSharesPushedItems(t *testing.T) {
	c := k8stest.Start(t)
	cfg := testConfig(t, c, "push", 3, 50)
	bs, port := startBackends(t, 1, 1)
	eps := startEngine(t, bs, port)
	m := join(t, cfg, eps)
	second := join(t, cfg, eps) // another block of the group
	var calls atomic.Int64
	m.OnPushed(func() { calls.Add(1) })
	waitShared(t, m)

	m.Push([]string{"alert-b", "alert-a"})
	second.Push([]string{"alert-a", "alert-c"})
	k8stest.WaitFor(t, 10*time.Second, "the pushed items in this replica's Lease", func() bool {
		l := ownLease(t, c, "push")
		return l != nil && l.Annotations[AnnotationPushed] == `["alert-b","alert-a","alert-c"]`
	})
	m.Push(nil)
	second.Push(nil)
	k8stest.WaitFor(t, 10*time.Second, "no pushed items in this replica's Lease", func() bool {
		l := ownLease(t, c, "push")
		if l == nil {
			return false
		}
		_, has := l.Annotations[AnnotationPushed]
		return !has
	})

	logs := captureLog(t)
	other := newReplica(c, "push", "replica-1", 2*time.Second)
	other.pushed = `["x","y"]`
	stop := other.renewing(t, 500*time.Millisecond)
	k8stest.WaitFor(t, 10*time.Second, "the other replica's items", func() bool {
		return slices.Equal(m.Pushed(), []string{"x", "y"}) && calls.Load() > 0
	})
	other.mu.Lock()
	other.pushed = `not json`
	other.mu.Unlock()
	k8stest.WaitFor(t, 10*time.Second, "unreadable items left out", func() bool { return len(m.Pushed()) == 0 })
	if n := logs.count("cannot be read"); n != 1 {
		t.Errorf("unreadable items logged %d times, want once:\n%s", n, logs)
	}
	other.mu.Lock()
	other.pushed = `["z"]`
	other.mu.Unlock()
	k8stest.WaitFor(t, 10*time.Second, "the other replica's new items", func() bool { return slices.Equal(m.Pushed(), []string{"z"}) })
	stop()
	k8stest.WaitFor(t, 10*time.Second, "the items of a replica no longer renewed to leave", func() bool { return len(m.Pushed()) == 0 })
}
