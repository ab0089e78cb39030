package kube

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/failover-dns/failover/internal/k8stest"
)

// Endpoints added, removed, made not ready, serving, terminating, in IPv4
// and IPv6 slices, reach State and onChange within a second of the write.
func TestK8sWatchFollowsEndpoints(t *testing.T) {
	c := k8stest.Start(t)
	src := Source{Kubeconfig: c.Kubeconfig(t)}
	c.Namespace(t, "prod")
	c.Service(t, "prod", "app")
	c.EndpointSlice(t, "prod", "app", "app-a", k8stest.Endpoint{Addr: "10.1.0.1"})

	sub, rec := watchRef(t, Ref{src, "prod", "app"})
	st := awaitState(t, sub, rec, 0, syncDeadline, "first sync", func(st *State) bool { return st.Synced })
	if !st.Found || len(st.ClusterIPs) != 1 || !netip.MustParsePrefix(k8stest.ServiceCIDRv4).Contains(st.ClusterIPs[0]) {
		t.Fatalf("after the first list: %s; want the Service with one cluster IP in %s", describe(st), k8stest.ServiceCIDRv4)
	}
	if want := []Endpoint{ep("10.1.0.1", true)}; !slices.Equal(st.Endpoints, want) {
		t.Fatalf("after the first list: %s; want 10.1.0.1 serving (conditions unset)", describe(st))
	}

	step := func(what string, write func(), want ...Endpoint) {
		t.Helper()
		before := rec.calls.Load()
		write()
		awaitEndpoints(t, sub, rec, before, what, want...)
	}
	yes, no := k8stest.Bool(true), k8stest.Bool(false)
	step("endpoint added", func() {
		c.EndpointSlice(t, "prod", "app", "app-a", k8stest.Endpoint{Addr: "10.1.0.1"}, k8stest.Endpoint{Addr: "10.1.0.2", Ready: yes})
	}, ep("10.1.0.1", true), ep("10.1.0.2", true))
	step("not ready, serving unset", func() {
		c.EndpointSlice(t, "prod", "app", "app-a", k8stest.Endpoint{Addr: "10.1.0.1"}, k8stest.Endpoint{Addr: "10.1.0.2", Ready: no})
	}, ep("10.1.0.1", true), ep("10.1.0.2", false))
	step("serving though not ready", func() {
		c.EndpointSlice(t, "prod", "app", "app-a", k8stest.Endpoint{Addr: "10.1.0.1"}, k8stest.Endpoint{Addr: "10.1.0.2", Ready: no, Serving: yes})
	}, ep("10.1.0.1", true), ep("10.1.0.2", true))
	step("terminating, still serving", func() {
		c.EndpointSlice(t, "prod", "app", "app-a",
			k8stest.Endpoint{Addr: "10.1.0.1", Ready: no, Serving: yes, Terminating: yes},
			k8stest.Endpoint{Addr: "10.1.0.2", Ready: no, Serving: yes})
	}, ep("10.1.0.1", false), ep("10.1.0.2", true))
	step("not serving though ready", func() {
		c.EndpointSlice(t, "prod", "app", "app-a",
			k8stest.Endpoint{Addr: "10.1.0.1", Ready: no, Serving: yes, Terminating: yes},
			k8stest.Endpoint{Addr: "10.1.0.2", Ready: yes, Serving: no})
	}, ep("10.1.0.1", false), ep("10.1.0.2", false))
	step("an IPv6 slice", func() {
		c.EndpointSlice(t, "prod", "app", "app-v6", k8stest.Endpoint{Addr: "fd00:1::1"}, k8stest.Endpoint{Addr: "fd00:1::2", Ready: no})
	}, ep("10.1.0.1", false), ep("10.1.0.2", false), ep("fd00:1::1", true), ep("fd00:1::2", false))
	step("an address in two slices serves if one says so", func() {
		c.EndpointSlice(t, "prod", "app", "app-b", k8stest.Endpoint{Addr: "10.1.0.2"}, k8stest.Endpoint{Addr: "10.1.0.3"})
	}, ep("10.1.0.1", false), ep("10.1.0.2", true), ep("10.1.0.3", true), ep("fd00:1::1", true), ep("fd00:1::2", false))
	step("endpoint removed", func() {
		c.EndpointSlice(t, "prod", "app", "app-b", k8stest.Endpoint{Addr: "10.1.0.3"})
	}, ep("10.1.0.1", false), ep("10.1.0.2", false), ep("10.1.0.3", true), ep("fd00:1::1", true), ep("fd00:1::2", false))
	step("slice deleted", func() { c.DeleteEndpointSlice(t, "prod", "app-a") },
		ep("10.1.0.3", true), ep("fd00:1::1", true), ep("fd00:1::2", false))
	step("last slices deleted", func() {
		c.DeleteEndpointSlice(t, "prod", "app-b")
		c.DeleteEndpointSlice(t, "prod", "app-v6")
	})
	if st := sub.State(); st.ServingCount() != 0 || !st.Found || len(st.ClusterIPs) != 1 {
		t.Errorf("a Service without endpoints: %s", describe(st))
	}

	// A slice of another Service in the namespace is not ours.
	before := rec.calls.Load()
	c.Service(t, "prod", "other")
	c.EndpointSlice(t, "prod", "other", "other-a", k8stest.Endpoint{Addr: "10.2.0.1"})
	step("ours again", func() { c.EndpointSlice(t, "prod", "app", "app-c", k8stest.Endpoint{Addr: "10.1.0.9"}) }, ep("10.1.0.9", true))
	if got := rec.calls.Load() - before; got != 1 {
		t.Errorf("%d calls of onChange for one change of ours and others' objects, want 1", got)
	}
}

// Cluster IPs: a single-stack Service has one, a dual-stack one both, in its
// order; a headless one none, yet it is found and its endpoints count.
func TestK8sClusterIPs(t *testing.T) {
	c := k8stest.Start(t)
	src := Source{Kubeconfig: c.Kubeconfig(t)}
	c.Namespace(t, "prod")
	c.Service(t, "prod", "single", "10.96.0.10")
	c.Service(t, "prod", "dual", "fd00:10:96::11", "10.96.0.11")
	for _, tc := range []struct {
		name string
		want []netip.Addr
	}{
		{"single", []netip.Addr{netip.MustParseAddr("10.96.0.10")}},
		{"dual", []netip.Addr{netip.MustParseAddr("fd00:10:96::11"), netip.MustParseAddr("10.96.0.11")}},
	} {
		sub, rec := watchRef(t, Ref{src, "prod", tc.name})
		st := awaitState(t, sub, rec, 0, syncDeadline, tc.name+" synced", func(st *State) bool { return st.Synced })
		if !st.Found || !slices.Equal(st.ClusterIPs, tc.want) {
			t.Errorf("%s: %s, want cluster IPs %v", tc.name, describe(st), tc.want)
		}
	}
	c.Service(t, "prod", "headless", "None")
	c.EndpointSlice(t, "prod", "headless", "headless-a", k8stest.Endpoint{Addr: "10.1.0.1"})
	sub, rec := watchRef(t, Ref{src, "prod", "headless"})
	st := awaitState(t, sub, rec, 0, syncDeadline, "headless synced", func(st *State) bool { return st.Synced })
	if !st.Found || len(st.ClusterIPs) != 0 || st.ServingCount() != 1 {
		t.Errorf("headless: %s, want found, no cluster IP, one endpoint", describe(st))
	}
}

// A Service that does not exist, in a namespace that does or does not, is
// an empty pool, warned once; when it is created its State follows.
func TestK8sMissingService(t *testing.T) {
	c := k8stest.Start(t)
	src := Source{Kubeconfig: c.Kubeconfig(t)}
	logs := captureLog(t)
	c.Namespace(t, "prod")

	for _, ns := range []string{"prod", "nowhere"} {
		ref := Ref{src, ns, "later"}
		sub, rec := watchRef(t, ref)
		// A second subscription to the same Service: still one warning.
		watchRef(t, ref)
		st := awaitState(t, sub, rec, 0, syncDeadline, ns+" synced", func(st *State) bool { return st.Synced })
		if st.Found || len(st.ClusterIPs) != 0 || len(st.Endpoints) != 0 {
			t.Fatalf("%s/later, missing: %s; want an empty pool", ns, describe(st))
		}
		warning := "Service " + ns + "/later (" + src.String() + ") does not exist"
		if n := logs.count(warning); n != 1 {
			t.Errorf("%d warnings %q, want 1; log:\n%s", n, warning, logs)
		}

		// Slices that carry the name of a Service that does not exist
		// make no endpoints.
		c.Namespace(t, ns)
		c.EndpointSlice(t, ns, "later", "later-a", k8stest.Endpoint{Addr: "10.3.0.1"})
		before := rec.calls.Load()
		c.Service(t, ns, "later")
		st = awaitState(t, sub, rec, before, changeDeadline, ns+"/later created", func(st *State) bool {
			return st.Found && len(st.ClusterIPs) == 1 && slices.Equal(st.Endpoints, []Endpoint{ep("10.3.0.1", true)})
		})
		if n := logs.count("Service " + ns + "/later (" + src.String() + ") exists now"); n != 1 {
			t.Errorf("%d notes of the Service's creation, want 1; log:\n%s", n, logs)
		}
		if n := logs.count(warning); n != 1 {
			t.Errorf("%d warnings %q after the Service appeared, want 1", n, warning)
		}
	}
}
