package fleet

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failover-dns/failover/healthcheck"
	"github.com/failover-dns/failover/internal/k8stest"
	goroutines "github.com/failover-dns/failover/internal/testutil"
	"github.com/failover-dns/failover/kube"
)

// Frames of the goroutines a group runs: its own, and its informer's.
var groupFrames = []string{
	"fleet.(*group)",
	"k8s.io/client-go/tools/cache.",
	"k8s.io/apimachinery/pkg/watch.(*StreamWatcher).receive(",
}

func groupGoroutines() int {
	n := 0
	for _, f := range groupFrames {
		n += goroutines.Goroutines(f)
	}
	return n
}

// This replica's Lease carries its local verdicts, and a change of one
// promptly; a reload (a second Join, then the first Leave) keeps the Lease;
// the last Leave deletes it, gives the endpoints back to their own probes,
// and leaves no goroutine.
func TestFleetPublishesAndLeaves(t *testing.T) {
	c := k8stest.Start(t)
	cfg := testConfig(t, c, "pub", 3, 50)
	bs, port := startBackends(t, 1, 3)
	bs[2].failing.Store(true)
	eps := startEngine(t, bs, port)
	if n := groupGoroutines(); n != 0 {
		t.Fatalf("%d goroutines of groups before Join", n)
	}

	m := Join(cfg, eps)
	waitShared(t, m)
	var l = ownLease(t, c, "pub")
	if l == nil {
		t.Fatal("no Lease once shared")
	}
	if l.Labels[LabelGroup] != "pub" || *l.Spec.HolderIdentity != self || *l.Spec.LeaseDurationSeconds != 3 {
		t.Errorf("Lease %s: labels %v, holder %s, duration %d; want the group label, %s, 3 s",
			l.Name, l.Labels, *l.Spec.HolderIdentity, *l.Spec.LeaseDurationSeconds, self)
	}
	observed := func(l *coordinationv1.Lease) map[*healthcheck.Endpoint]string {
		obs, err := decodeObservations(l.Annotations[AnnotationObservations])
		if err != nil {
			t.Fatalf("the Lease's observations: %v", err)
		}
		seen := map[*healthcheck.Endpoint]string{}
		for _, e := range eps {
			if up, ok := find(obs, idHash(e.ID())); ok {
				seen[e] = upDown(up)
			}
		}
		return seen
	}
	if got := observed(l); got[eps[0]] != "up" || got[eps[1]] != "up" || got[eps[2]] != "down" {
		t.Errorf("observations %v, want up, up, down", got)
	}
	if eps[2].Healthy() || !eps[0].Healthy() {
		t.Errorf("served: %v %v %v, want up, up, down (this replica's votes alone)", eps[0].Healthy(), eps[1].Healthy(), eps[2].Healthy())
	}
	st := m.Status()
	if st.Group != "dns/pub" || st.Identity != self || st.Probers != 3 || st.Quorum != 50 || st.Lease.Writes == 0 || st.Lease.Bytes == 0 || st.Lease.Renewed == "" {
		t.Errorf("status %+v", st)
	}
	if v := testutil.ToFloat64(leaseWrites.WithLabelValues("dns/pub")); v < 1 {
		t.Errorf("fleet_lease_writes_total %v once shared", v)
	}
	if es := m.Endpoint(eps[2]); es.Local != "down" || es.Shared != "down" || es.Down != 1 || es.Up != 0 || !es.Probing || !slices.Equal(es.Probers, []string{self}) {
		t.Errorf("endpoint status %+v", es)
	}

	start := time.Now()
	bs[0].failing.Store(true)
	k8stest.WaitFor(t, changeDeadline, "the failure in the Lease", func() bool { return observed(ownLease(t, c, "pub"))[eps[0]] == "down" })
	t.Logf("a local change reached the Lease %s after the backend failed (probes every 250 ms)", time.Since(start).Round(time.Millisecond))

	reloaded := Join(cfg, eps)
	m.Leave()
	if ownLease(t, c, "pub") == nil {
		t.Error("the Lease was deleted by a reload's Leave")
	}
	if !eps[0].Steered() {
		t.Error("endpoints no longer steered after the reload's Leave")
	}
	written := reloaded.Status().Lease.Writes
	k8stest.WaitFor(t, changeDeadline+time.Second, "a renewal after the reload", func() bool { return reloaded.Status().Lease.Writes > written })

	reloaded.Leave()
	if ownLease(t, c, "pub") != nil {
		t.Error("the Lease still exists after the last Leave")
	}
	for _, e := range eps {
		if e.Steered() || e.Delegated() {
			t.Errorf("%s: steered %v, delegated %v after the last Leave", e, e.Steered(), e.Delegated())
		}
	}
	if n := groupGoroutines(); n != 0 {
		t.Errorf("%d goroutines of the group left after the last Leave", n)
	}
	if n := testutil.CollectAndCount(aloneGauge); n != 0 {
		t.Errorf("%d series of fleet_alone after the last Leave", n)
	}
}

// With three live replicas probing each endpoint, one replica that sees an
// endpoint down does not take it down; two do.
func TestFleetQuorum(t *testing.T) {
	c := k8stest.Start(t)
	cfg := testConfig(t, c, "quorum", 3, 50)
	bs, port := startBackends(t, 30, 2)
	bs[0].failing.Store(true) // this replica's path to a is broken
	eps := startEngine(t, bs, port)
	a, b := eps[0], eps[1]
	r1, r2 := newReplica(c, "quorum", "replica-1", time.Minute), newReplica(c, "quorum", "replica-2", time.Minute)
	r1.observe(true, a, b)
	r2.observe(true, a, b)
	r1.write(t)
	r2.write(t)

	m := join(t, cfg, eps)
	waitShared(t, m)
	served := func(e *healthcheck.Endpoint, up bool, votesUp, votesDown int) func() bool {
		return func() bool {
			st := m.Endpoint(e)
			return e.Healthy() == up && st.Up == votesUp && st.Down == votesDown
		}
	}
	k8stest.WaitFor(t, changeDeadline, "a up: 1 of 3 down", served(a, true, 2, 1))
	if st := m.Endpoint(a); st.Local != "down" || !st.Probing || len(st.Probers) != 3 {
		t.Errorf("a: %+v, want seen down here, probed here, by 3", st)
	}
	r1.observe(false, a)
	r1.write(t)
	k8stest.WaitFor(t, changeDeadline, "a down: 2 of 3 down", served(a, false, 1, 2))

	k8stest.WaitFor(t, changeDeadline, "b up: 3 of 3 up", served(b, true, 3, 0))
	r1.observe(false, b)
	r2.observe(false, b)
	r1.write(t)
	r2.write(t)
	k8stest.WaitFor(t, changeDeadline, "b down: 2 of 3 down, this replica sees it up", served(b, false, 1, 2))
	r2.observe(true, b)
	r2.write(t)
	k8stest.WaitFor(t, changeDeadline, "b up again: 1 of 3 down", served(b, true, 2, 1))
	if v := testutil.ToFloat64(votesGauge.WithLabelValues("dns/quorum", b.ID(), "down")); v != 1 {
		t.Errorf("fleet_votes down of b: %v, want 1", v)
	}
	if v := testutil.ToFloat64(localGauge.WithLabelValues("dns/quorum", b.ID())); v != 1 {
		t.Errorf("fleet_local_healthy of b: %v, want 1: this replica sees it up", v)
	}
	if v := testutil.ToFloat64(localGauge.WithLabelValues("dns/quorum", a.ID())); v != 0 {
		t.Errorf("fleet_local_healthy of a: %v, want 0: this replica sees it down", v)
	}
	if st := m.Status(); len(st.Replicas) != 2 || !st.Replicas[0].Fresh || st.Replicas[0].Observations != 2 {
		t.Errorf("replicas %+v, want replica-1 and replica-2, fresh, 2 observations each", st.Replicas)
	}
}

// With probers 1, each endpoint is probed by the one live replica ranked
// first for it, and the others do not probe it; when a replica's Lease is no
// longer renewed, its endpoints are probed here within its duration, and
// the endpoints of the replicas still live stay delegated.
func TestFleetAssignmentFollowsLeases(t *testing.T) {
	c := k8stest.Start(t)
	cfg := testConfig(t, c, "assign", 1, 50)
	bs, port := startBackends(t, 10, 12)
	eps := startEngine(t, bs, port)
	r1, r2 := newReplica(c, "assign", "replica-1", 3*time.Second), newReplica(c, "assign", "replica-2", 3*time.Second)
	r1.observe(true, eps...)
	r2.observe(true, eps...)
	r1.renewing(t, 500*time.Millisecond)
	stop2 := r2.renewing(t, 500*time.Millisecond)

	m := join(t, cfg, eps)
	waitShared(t, m)
	assigned := func(live []string) func() bool {
		return func() bool {
			for _, e := range eps {
				if e.Delegated() == inTop(rankPrefix(e.ID()), self, live, 1) {
					return false
				}
			}
			return true
		}
	}
	three := []string{self, "replica-1", "replica-2"}
	k8stest.WaitFor(t, changeDeadline, "endpoints probed by the replica ranked first", assigned(three))
	mine := 0
	for _, e := range eps {
		if !e.Delegated() {
			mine++
		}
		if got, want := m.Endpoint(e).Probers, top(e.ID(), three, 1); !slices.Equal(got, want) {
			t.Errorf("%s: probers %v, want %v", e, got, want)
		}
	}
	if mine == 0 || mine == len(eps) {
		t.Fatalf("this replica probes %d of %d endpoints: the test needs some of each", mine, len(eps))
	}
	if v := testutil.ToFloat64(replicasGauge.WithLabelValues("dns/assign")); v != 3 {
		t.Errorf("fleet_replicas %v, want 3", v)
	}
	for _, e := range eps {
		want := 1.0
		if e.Delegated() {
			want = 0
		}
		if v := testutil.ToFloat64(probingGauge.WithLabelValues("dns/assign", e.ID())); v != want {
			t.Errorf("fleet_probing of %s: %v, want %v", e, v, want)
		}
	}
	hits := make([]int64, len(bs))
	for i, b := range bs {
		hits[i] = b.hits.Load()
	}

	stop2()
	stopped := time.Now()
	two := []string{self, "replica-1"}
	// All of it at once: on a loaded machine a renewal of replica-2 seen
	// late may have it look expired for a moment before the stop, and its
	// last renewal, seen after the stop, fresh again.
	onlyReplica1 := func() bool {
		for _, r := range m.Status().Replicas {
			if r.Fresh != (r.Identity == "replica-1") {
				return false
			}
		}
		return true
	}
	k8stest.WaitFor(t, 3*time.Second+changeDeadline, "replica-2's endpoints probed here", func() bool {
		return assigned(two)() && onlyReplica1() && testutil.ToFloat64(replicasGauge.WithLabelValues("dns/assign")) == 2
	})
	moved := time.Since(stopped)
	t.Logf("replica-2's endpoints probed here %s after its last write (Lease duration 3 s)", moved.Round(time.Millisecond))
	if moved > 3*time.Second+time.Second {
		t.Errorf("moved after %s, want within the Lease duration (3 s) and a second", moved)
	}
	for i, e := range eps {
		was, is := inTop(rankPrefix(e.ID()), self, three, 1), inTop(rankPrefix(e.ID()), self, two, 1)
		switch {
		case !was && is:
			k8stest.WaitFor(t, changeDeadline, e.String()+" probed here", func() bool { return bs[i].hits.Load() > hits[i] })
		case !was && !is:
			if n := bs[i].hits.Load() - hits[i]; n != 0 {
				t.Errorf("%s, replica-1's: probed %d times by this replica", e, n)
			}
		}
	}
	if v := testutil.ToFloat64(replicasGauge.WithLabelValues("dns/assign")); v != 2 {
		t.Errorf("fleet_replicas %v once replica-2 expired, want 2", v)
	}
	st := m.Status()
	for _, r := range st.Replicas {
		if r.Fresh != (r.Identity == "replica-1") {
			t.Errorf("replica %+v: only replica-1 is fresh", r)
		}
	}
}

// kube-apiserver stopped: once this replica's Lease has not been renewed for
// its duration, it probes everything and serves its own verdicts, says so
// (one log line, fleet_alone, the status), and shares again once the API
// server is back.
func TestFleetAloneWhileAPIServerStopped(t *testing.T) {
	c := k8stest.Start(t)
	cfg := testConfig(t, c, "outage", 1, 50)
	logs := captureLog(t)
	bs, port := startBackends(t, 50, 6)
	bs[0].failing.Store(true) // seen down here alone
	eps := startEngine(t, bs, port)
	r1, r2 := newReplica(c, "outage", "replica-1", time.Minute), newReplica(c, "outage", "replica-2", time.Minute)
	r1.observe(true, eps...)
	r2.observe(true, eps...)
	r1.renewing(t, time.Second)
	r2.renewing(t, time.Second)

	m := join(t, cfg, eps)
	waitShared(t, m)
	k8stest.WaitFor(t, changeDeadline, "the down endpoint served up by the others' votes, some delegated", func() bool {
		delegated := 0
		for _, e := range eps {
			if e.Delegated() {
				delegated++
			}
		}
		return eps[0].Healthy() && delegated > 0
	})

	c.StopAPIServer(t)
	stopped := time.Now()
	k8stest.WaitFor(t, 3*time.Second+writeTimeout+changeDeadline, "deciding alone", func() bool { return m.Status().Mode == ModeAlone })
	t.Logf("alone %s after kube-apiserver stopped (Lease duration 3 s)", time.Since(stopped).Round(time.Millisecond))
	k8stest.WaitFor(t, changeDeadline, "every endpoint probed here, the local verdicts served", func() bool {
		for _, e := range eps {
			if e.Delegated() {
				return false
			}
		}
		return !eps[0].Healthy() && eps[1].Healthy()
	})
	if v := testutil.ToFloat64(aloneGauge.WithLabelValues("dns/outage")); v != 1 {
		t.Errorf("fleet_alone %v while alone, want 1", v)
	}
	if st := m.Status(); st.Lease.Error == "" {
		t.Errorf("status while alone: %+v, want the write's error", st)
	}

	c.StartAPIServer(t)
	waitShared(t, m)
	k8stest.WaitFor(t, changeDeadline, "the others' votes served again", func() bool { return eps[0].Healthy() })
	if v := testutil.ToFloat64(aloneGauge.WithLabelValues("dns/outage")); v != 0 {
		t.Errorf("fleet_alone %v once shared again, want 0", v)
	}
	if alone, shared := logs.count("has not been renewed for"), logs.count("sharing observations"); alone != 1 || shared != 2 {
		t.Errorf("%d lines going alone and %d sharing, want 1 and 2 (the start, the return); log:\n%s", alone, shared, logs)
	}
}

// A Lease left by a replica that died long ago (its renewTime two durations
// past at the first list) counts as expired at once, not after a duration,
// and is deleted once nobody renewed it for the garbage age.
func TestFleetCollectsDeadLeases(t *testing.T) {
	c := k8stest.Start(t)
	cfg := testConfig(t, c, "dead", 1, 50)
	bs, port := startBackends(t, 70, 4)
	eps := startEngine(t, bs, port)
	dead := newReplica(c, "dead", "replica-9", 3*time.Second)
	dead.observe(false, eps...)
	dead.write(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leases := c.Client.CoordinationV1().Leases(testNamespace)
	l, err := leases.Get(ctx, leaseName("dead", "replica-9"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	past := metav1.NewMicroTime(time.Now().Add(-time.Hour))
	l.Spec.RenewTime = &past
	if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	was := garbageAge
	t.Cleanup(func() { garbageAge = was }) // after the Leave: cleanups run last first
	garbageAge = func(time.Duration) time.Duration { return 2 * time.Second }

	m := join(t, cfg, eps)
	waitShared(t, m)
	for _, e := range eps {
		if st := m.Endpoint(e); e.Delegated() || !e.Healthy() || st.Down != 0 {
			t.Errorf("%s: delegated %v, healthy %v, %+v: the dead replica counted", e, e.Delegated(), e.Healthy(), st)
		}
	}
	if st := m.Status(); len(st.Replicas) != 1 || st.Replicas[0].Fresh {
		t.Errorf("replicas %+v, want replica-9 known and not fresh", st.Replicas)
	}
	k8stest.WaitFor(t, 2*time.Second+3*changeDeadline, "the dead Lease deleted", func() bool {
		_, err := leases.Get(ctx, leaseName("dead", "replica-9"), metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	k8stest.WaitFor(t, changeDeadline, "the dead replica forgotten", func() bool { return len(m.Status().Replicas) == 0 })
}

// The last Leave with kube-apiserver stopped: it returns within the bound
// of the deletion, says so in the log, and leaves no goroutine.
func TestFleetLeaveWhileAPIServerStopped(t *testing.T) {
	c := k8stest.Start(t)
	cfg := testConfig(t, c, "gone", 3, 50)
	logs := captureLog(t)
	bs, port := startBackends(t, 90, 1)
	eps := startEngine(t, bs, port)
	m := Join(cfg, eps)
	waitShared(t, m)

	c.StopAPIServer(t)
	start := time.Now()
	m.Leave()
	took := time.Since(start)
	if took > deleteTimeout+kube.WatchStopTimeout {
		t.Errorf("Leave took %s with kube-apiserver stopped, want at most %s", took, deleteTimeout+kube.WatchStopTimeout)
	}
	t.Logf("Leave took %s with kube-apiserver stopped", took.Round(time.Millisecond))
	if n := logs.count("cannot delete this replica's Lease"); n != 1 {
		t.Errorf("%d lines about the Lease not deleted, want 1; log:\n%s", n, logs)
	}
	if n := groupGoroutines(); n != 0 {
		t.Errorf("%d goroutines of the group left after the last Leave", n)
	}
	if eps[0].Steered() {
		t.Error("the endpoint is still steered")
	}
	c.StartAPIServer(t)
}

// TestFleetClockSkew: two replicas whose clocks are 5 s behind and ahead of
// this one's, with Leases of 3 s, renewing every second. Their renewTimes,
// compared with this clock, would make one expired and the other fresh for
// 8 s after it dies; the group counts both as live while they renew, and
// their votes decide, because freshness is measured from when this replica
// saw each renewal. A replica 10 s behind counts from its second write.
func TestFleetClockSkew(t *testing.T) {
	c := k8stest.Start(t)
	cfg := testConfig(t, c, "skew", 3, 50)
	bs, port := startBackends(t, 40, 1)
	eps := startEngine(t, bs, port)
	a := eps[0]
	behind, ahead := newReplica(c, "skew", "replica-1", 3*time.Second), newReplica(c, "skew", "replica-2", 3*time.Second)
	behind.skew, ahead.skew = -5*time.Second, 5*time.Second
	behind.observe(false, a)
	ahead.observe(false, a)
	behind.renewing(t, time.Second)
	ahead.renewing(t, time.Second)

	m := join(t, cfg, eps)
	waitShared(t, m)
	k8stest.WaitFor(t, changeDeadline, "a down on the votes of both skewed replicas", func() bool {
		st := m.Endpoint(a)
		return !a.Healthy() && st.Up == 1 && st.Down == 2
	})
	// Over several Lease durations, both stay counted: no verdict flaps.
	deadline := time.Now().Add(2 * 3 * time.Second)
	for time.Now().Before(deadline) {
		st := m.Status()
		fresh := 0
		for _, r := range st.Replicas {
			if r.Fresh {
				fresh++
			}
		}
		if fresh != 2 || a.Healthy() {
			t.Fatalf("replicas %+v, a healthy %v: want both skewed replicas fresh and a down throughout", st.Replicas, a.Healthy())
		}
		time.Sleep(100 * time.Millisecond) // sampling the state over the window is what is tested
	}

	far := newReplica(c, "skew", "replica-3", 3*time.Second)
	far.skew = -10 * time.Second
	far.observe(false, a)
	far.renewing(t, time.Second)
	k8stest.WaitFor(t, changeDeadline, "the replica 10 s behind counted once it renewed", func() bool {
		return m.Endpoint(a).Down == 3
	})
}
