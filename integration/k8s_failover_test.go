package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/test"
	"github.com/miekg/dns"

	"github.com/failover-dns/failover/internal/k8stest"
)

// The scenarios of Services as pools, each against a real kube-apiserver and
// etcd and a real CoreDNS with the kubernetes plugin in its chain. Nothing
// runs a controller-manager: the tests write the EndpointSlices a controller
// would. CoreDNS listens on 127.0.50.1; backends that are endpoints listen in
// the pod network, 10.244.50.0/24, as Kubernetes refuses loopback endpoints:
// those tests run in a network namespace of their own (k8stest.RunInPodNetwork).

// k8sCorefile is a cluster.local server block as cluster DNS has one, with
// failover in front of kubernetes, reading the API through kubeconfig.
func k8sCorefile(kubeconfig, status, failover string) string {
	return fmt.Sprintf(`cluster.local:0 {
	bind 127.0.50.1
	failover app.prod.svc.cluster.local web.prod.svc.cluster.local {
		%s
		kubeconfig %s
		status %s
		interval 100ms
		timeout 50ms
		fall 1
		rise 1
	}
	kubernetes cluster.local {
		kubeconfig %s envtest
	}
}
`, failover, kubeconfig, status, kubeconfig)
}

// TestK8sServiceFailsOverToExternal: a Service name the kubernetes plugin
// answers with its cluster IP fails over to an address outside the cluster
// while the Service has no serving endpoint, and comes back.
func TestK8sServiceFailsOverToExternal(t *testing.T) {
	cluster := k8stest.Start(t)
	cluster.Namespace(t, "prod")
	cluster.Service(t, "prod", "app", "10.96.0.10")
	cluster.EndpointSlice(t, "prod", "app", "app-1", k8stest.Endpoint{Addr: "10.1.0.1", Ready: k8stest.Bool(true)})
	dr := startBackends(t, "127.0.50.20")[0]
	status := freeTCPAddr(t, "127.0.50.1")

	_, udp := startCoreDNS(t, k8sCorefile(cluster.Kubeconfig(t), status, fmt.Sprintf(
		"primary service/prod/app\n\t\tsecondary 127.0.50.20\n\t\tcheck http://:%d/health", dr.port)))
	waitAnswer(t, udp, "app.prod.svc.cluster.local.", "10.96.0.10", 2*time.Second)

	// Its only endpoint stops being ready: the Service serves nothing.
	cluster.EndpointSlice(t, "prod", "app", "app-1", k8stest.Endpoint{Addr: "10.1.0.1", Ready: k8stest.Bool(false)})
	took := waitAnswer(t, udp, "app.prod.svc.cluster.local.", "127.0.50.20", 2*time.Second)
	t.Logf("failover %v after the EndpointSlice changed", took)
	if took > time.Second {
		t.Errorf("the change took %v to reach the answers, want within 1s", took)
	}
	statusWait(t, status, func(r *statusReport) string {
		n := r.name("app.prod.svc.cluster.local.")
		if n == nil {
			return "no app.prod.svc.cluster.local."
		}
		if s := n.Pools[0].Services; len(s) != 1 || s[0].Member != "service/prod/app" || !s[0].Synced || !s[0].Found || s[0].Endpoints != 1 || s[0].Serving != 0 || s[0].API != "up" {
			return fmt.Sprintf("primary's Service %+v, want service/prod/app synced, found, 1 endpoint, none serving, API up", s)
		}
		if e := n.endpoint("10.96.0.10"); e == nil || e.Service != "service/prod/app" || e.Kubernetes != "not serving" || e.Counted != "down" {
			return fmt.Sprintf("cluster IP %+v, want it from service/prod/app, not serving, counted down", e)
		}
		return ""
	})

	// A second endpoint, serving: back to the cluster IP.
	cluster.EndpointSlice(t, "prod", "app", "app-2", k8stest.Endpoint{Addr: "10.1.0.2", Serving: k8stest.Bool(true)})
	waitAnswer(t, udp, "app.prod.svc.cluster.local.", "10.96.0.10", 2*time.Second)

	// Serving but terminating counts as not serving.
	cluster.EndpointSlice(t, "prod", "app", "app-2", k8stest.Endpoint{Addr: "10.1.0.2", Serving: k8stest.Bool(true), Terminating: k8stest.Bool(true)})
	waitAnswer(t, udp, "app.prod.svc.cluster.local.", "127.0.50.20", 2*time.Second)

	// Other names of the zone are the kubernetes plugin's, untouched.
	cluster.Service(t, "prod", "db", "10.96.0.11")
	waitAnswer(t, udp, "db.prod.svc.cluster.local.", "10.96.0.11", 5*time.Second)
}

// TestK8sEndpointsPoolFollowsEndpoints: an endpoints/ pool answers the
// endpoints that serve and pass their probes, as they are added, removed,
// made not ready and terminating.
func TestK8sEndpointsPoolFollowsEndpoints(t *testing.T) {
	if !k8stest.RunInPodNetwork(t) {
		return
	}
	cluster := k8stest.Start(t)
	cluster.Namespace(t, "prod")
	cluster.Service(t, "prod", "web")
	backends := startBackends(t, "10.244.50.31", "10.244.50.32", "10.244.50.33", "10.244.50.40")
	status := freeTCPAddr(t, "127.0.50.1")
	ready := k8stest.Bool(true)
	cluster.EndpointSlice(t, "prod", "web", "web-a",
		k8stest.Endpoint{Addr: "10.244.50.31", Ready: ready}, k8stest.Endpoint{Addr: "10.244.50.32", Ready: ready})

	_, udp := startCoreDNS(t, k8sCorefile(cluster.Kubeconfig(t), status, fmt.Sprintf(
		"primary endpoints/prod/web\n\t\tsecondary 10.244.50.40\n\t\tcheck http://:%d/health", backends[0].port)))
	const name = "web.prod.svc.cluster.local."
	// Startup waited for the first listing and the first probes.
	if got, err := lookup(udp, name, dns.TypeA); err != nil || got != "10.244.50.31 10.244.50.32" {
		t.Fatalf("first answer %q (%v), want both endpoints", got, err)
	}

	// Added in a second slice: answered once probed.
	cluster.EndpointSlice(t, "prod", "web", "web-b", k8stest.Endpoint{Addr: "10.244.50.33"}) // ready unset: ready
	waitAnswer(t, udp, name, "10.244.50.31 10.244.50.32 10.244.50.33", 2*time.Second)

	// Serving, but its probes fail: out.
	backends[2].set(unavailable)
	waitAnswer(t, udp, name, "10.244.50.31 10.244.50.32", 2*time.Second)
	backends[2].set(healthy)
	waitAnswer(t, udp, name, "10.244.50.31 10.244.50.32 10.244.50.33", 2*time.Second)

	// Not ready, terminating, removed.
	cluster.EndpointSlice(t, "prod", "web", "web-a",
		k8stest.Endpoint{Addr: "10.244.50.31", Ready: k8stest.Bool(false)}, k8stest.Endpoint{Addr: "10.244.50.32", Ready: ready})
	waitAnswer(t, udp, name, "10.244.50.32 10.244.50.33", 2*time.Second)
	cluster.EndpointSlice(t, "prod", "web", "web-a",
		k8stest.Endpoint{Addr: "10.244.50.31", Ready: k8stest.Bool(false)},
		k8stest.Endpoint{Addr: "10.244.50.32", Serving: ready, Terminating: k8stest.Bool(true)})
	waitAnswer(t, udp, name, "10.244.50.33", 2*time.Second)
	cluster.DeleteEndpointSlice(t, "prod", "web-b")
	waitAnswer(t, udp, name, "10.244.50.40", 2*time.Second)

	// The status lists the endpoints Kubernetes has, serving or not.
	statusWait(t, status, func(r *statusReport) string {
		n := r.name(name)
		if n == nil {
			return "no " + name
		}
		e := n.endpoint("10.244.50.31")
		if e == nil || e.Service != "endpoints/prod/web" || e.Kubernetes != "not serving" || e.Counted != "down" || e.State != "up" {
			return fmt.Sprintf("10.244.50.31: %+v, want from endpoints/prod/web, not serving, probed up, counted down", e)
		}
		if n.Answer["A"].Pool != "secondary" {
			return fmt.Sprintf("answer %+v, want the secondary", n.Answer["A"])
		}
		return ""
	})
}

// TestK8sAPIServerStopped: while the API server is down the answers keep the
// last state known, the metric and the status say so, and once it is back
// the changes made since reach the answers.
func TestK8sAPIServerStopped(t *testing.T) {
	if !k8stest.RunInPodNetwork(t) {
		return
	}
	cluster := k8stest.Start(t)
	cluster.Namespace(t, "prod")
	cluster.Service(t, "prod", "web")
	backends := startBackends(t, "10.244.50.51", "10.244.50.52", "10.244.50.59")
	ready := k8stest.Bool(true)
	cluster.EndpointSlice(t, "prod", "web", "web-a", k8stest.Endpoint{Addr: "10.244.50.51", Ready: ready})
	status := freeTCPAddr(t, "127.0.50.1")
	metrics := freeTCPAddr(t, "127.0.50.1")
	corefile := k8sCorefile(cluster.Kubeconfig(t), status, fmt.Sprintf(
		"primary endpoints/prod/web\n\t\tsecondary 10.244.50.59\n\t\tcheck http://:%d/health", backends[0].port))
	corefile = strings.Replace(corefile, "bind 127.0.50.1", "bind 127.0.50.1\n\tprometheus "+metrics, 1)
	_, udp := startCoreDNS(t, corefile)
	const name = "web.prod.svc.cluster.local."
	waitAnswer(t, udp, name, "10.244.50.51", 2*time.Second)
	waitSeries(t, metrics, `coredns_failover_kubernetes_api_up{.*}`, 1)

	cluster.StopAPIServer(t)
	waitSeries(t, metrics, `coredns_failover_kubernetes_api_up{.*}`, 0)
	statusWait(t, status, func(r *statusReport) string {
		n := r.name(name)
		if n == nil || len(n.Pools[0].Services) != 1 || !strings.HasPrefix(n.Pools[0].Services[0].API, "unreachable since ") {
			return "the status does not say the API server is unreachable"
		}
		return ""
	})
	// The last state known still answers, and probes still judge it.
	if got, err := lookup(udp, name, dns.TypeA); err != nil || got != "10.244.50.51" {
		t.Fatalf("with the API server down: %q (%v), want the last state known", got, err)
	}
	backends[0].set(unavailable)
	waitAnswer(t, udp, name, "10.244.50.59", 2*time.Second)
	backends[0].set(healthy)
	waitAnswer(t, udp, name, "10.244.50.51", 2*time.Second)

	cluster.StartAPIServer(t)
	waitSeries(t, metrics, `coredns_failover_kubernetes_api_up{.*}`, 1)
	cluster.EndpointSlice(t, "prod", "web", "web-a",
		k8stest.Endpoint{Addr: "10.244.50.51", Ready: ready}, k8stest.Endpoint{Addr: "10.244.50.52", Ready: ready})
	waitAnswer(t, udp, name, "10.244.50.51 10.244.50.52", 5*time.Second)
}

// TestK8sReloadLeavesNoWatch: blocks of two server blocks that name one
// Service share its watch; reloads keep one, and shutdown leaves none.
func TestK8sReloadLeavesNoWatch(t *testing.T) {
	if !k8stest.RunInPodNetwork(t) {
		return
	}
	cluster := k8stest.Start(t)
	cluster.Namespace(t, "prod")
	cluster.Service(t, "prod", "web")
	backends := startBackends(t, "10.244.50.61", "10.244.50.62", "10.244.50.69")
	cluster.EndpointSlice(t, "prod", "web", "web-a", k8stest.Endpoint{Addr: "10.244.50.61"})
	kubeconfig := cluster.Kubeconfig(t)
	corefile := func(primary string) string {
		block := fmt.Sprintf("failover %%s {\nprimary %s\nsecondary 10.244.50.69\ncheck http://:%d/health\ninterval 100ms\ntimeout 50ms\nkubeconfig %s\n}\n",
			primary, backends[0].port, kubeconfig)
		return fmt.Sprintf("a.example.org:0 {\nbind 127.0.50.1\n%s}\nb.example.org:0 {\nbind 127.0.50.1\n%s}\n",
			fmt.Sprintf(block, "a.example.org"), fmt.Sprintf(block, "b.example.org"))
	}
	reflectors := func() int { return goroutines("k8s.io/client-go/tools/cache.(*Reflector).RunWithContext(") }
	base := reflectors()

	inst, udp, _, err := test.CoreDNSServerAndPorts(corefile("endpoints/prod/web"))
	if err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, udp, "a.example.org.", "10.244.50.61", 2*time.Second)
	// Two blocks, in two server blocks, name one Service: one watch of its
	// Service object and one of its EndpointSlices.
	watching := reflectors() - base
	if watching != 2 {
		t.Fatalf("%d reflectors run for one Service named by two blocks, want 2", watching)
	}
	for i := range 3 {
		next, err := inst.Restart(test.NewInput(corefile("endpoints/prod/web")))
		if err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		inst = next
		waitAnswer(t, udp, "a.example.org.", "10.244.50.61", 2*time.Second)
		waitGoroutines(t, fmt.Sprintf("reload %d", i), func() bool { return reflectors()-base == watching })
	}
	// Another Service: the first one's watch ends.
	cluster.Service(t, "prod", "api")
	cluster.EndpointSlice(t, "prod", "api", "api-a", k8stest.Endpoint{Addr: "10.244.50.62"})
	next, err := inst.Restart(test.NewInput(corefile("endpoints/prod/api")))
	if err != nil {
		t.Fatal(err)
	}
	inst = next
	waitAnswer(t, udp, "b.example.org.", "10.244.50.62", 2*time.Second)
	waitGoroutines(t, "after the Service changed", func() bool { return reflectors()-base == watching })

	inst.Stop()
	inst.ShutdownCallbacks()
	waitGoroutines(t, "after shutdown", func() bool { return reflectors() == base && probedEndpoints() == 0 })
}
