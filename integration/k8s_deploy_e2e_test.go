package integration

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/test"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"sigs.k8s.io/yaml"

	"github.com/failover-dns/failover/internal/k8stest"
)

// TestK8sDeployCorefileInCluster runs the Corefile of deploy/cluster-dns as
// it is, in-cluster, with exactly the RBAC of deploy/: kustomize's output is
// applied to a real API server, and CoreDNS reads it as the coredns Pod of
// kube-system would, with that ServiceAccount's token (k8stest.InCluster).
// The Service its failover block governs fails over to the address outside
// the cluster, and back. The replica, named by POD_NAME as the Deployment
// names it, keeps its Lease in the fleet coredns-failover/coredns (the
// namespace the manifests make) with the deploy RBAC alone, shares its
// probes there, writes no Lease in kube-system, and deletes its own when it
// stops.
func TestK8sDeployCorefileInCluster(t *testing.T) {
	if !k8stest.RunInPodNetwork(t) {
		return
	}
	cluster := k8stest.Start(t)
	manifests, err := cluster.Kubectl(t, "", "kustomize", "../deploy/cluster-dns")
	if err != nil {
		t.Fatalf("kubectl kustomize deploy/cluster-dns: %v\n%s", err, manifests)
	}
	if out, err := cluster.Kubectl(t, manifests, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	corefile := corefileOf(t, manifests)

	cluster.Namespace(t, "prod")
	cluster.Service(t, "prod", "app", "10.96.0.20")
	cluster.EndpointSlice(t, "prod", "app", "app-1", k8stest.Endpoint{Addr: "10.244.1.1", Ready: k8stest.Bool(true)})
	// The block's secondary, 192.0.2.10, answers its check here.
	if out, err := exec.Command("ip", "addr", "add", "192.0.2.10/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v\n%s", err, out)
	}
	serveHealthz(t, "192.0.2.10:80")

	cluster.InCluster(t, "kube-system", "coredns")
	t.Setenv("POD_NAME", deployPod) // as the downward API sets it in the Pod
	inst, udp, _, err := test.CoreDNSServerAndPorts(corefile)
	if err != nil {
		t.Fatalf("could not start CoreDNS: %v\n%s", err, corefile)
	}
	stopped := false
	defer func() {
		if !stopped {
			inst.Stop()
			inst.ShutdownCallbacks()
		}
	}()
	const name = "app.prod.svc.cluster.local."
	waitAnswer(t, udp, name, "10.96.0.20", 5*time.Second)
	cluster.EndpointSlice(t, "prod", "app", "app-1", k8stest.Endpoint{Addr: "10.244.1.1", Ready: k8stest.Bool(false)})
	waitAnswer(t, udp, name, "192.0.2.10", 2*time.Second)
	cluster.EndpointSlice(t, "prod", "app", "app-1", k8stest.Endpoint{Addr: "10.244.1.1", Ready: k8stest.Bool(true)})
	waitAnswer(t, udp, name, "10.96.0.20", 2*time.Second)
	// The rest of the cluster's names are the kubernetes plugin's.
	cluster.Service(t, "prod", "db", "10.96.0.21")
	waitAnswer(t, udp, "db.prod.svc.cluster.local.", "10.96.0.21", 5*time.Second)

	leases := cluster.Client.CoordinationV1().Leases(fleetNamespace)
	deadline := time.Now().Add(10 * time.Second)
	for problem := deployLeaseProblem(leases); problem != ""; problem = deployLeaseProblem(leases) {
		if time.Now().After(deadline) {
			t.Fatalf("the replica's Lease %s within 10s: %s", deployLease, problem)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fleetLabel := metav1.ListOptions{LabelSelector: "failover.coredns.io/fleet=coredns"}
	if l, err := cluster.Client.CoordinationV1().Leases("kube-system").List(context.Background(), fleetLabel); err != nil || len(l.Items) != 0 {
		t.Errorf("Leases of the fleet in kube-system: %v, %v; want none", l, err)
	}
	statusWait(t, "127.0.0.1:8054", func(r *statusReport) string {
		n := r.name(name)
		if n == nil || n.Fleet == nil {
			return "no fleet in the status"
		}
		if f := n.Fleet; f.Group != fleetNamespace+"/coredns" || f.Identity != deployPod || f.Mode != "shared" {
			return fmt.Sprintf("fleet %+v: want %s/coredns, %s, shared", f, fleetNamespace, deployPod)
		}
		if e := n.endpoint("192.0.2.10"); e == nil || e.Fleet == nil || !e.Fleet.Probing || e.Fleet.Shared != "up" {
			return fmt.Sprintf("the secondary %+v: want probed here, shared up", e)
		}
		return ""
	})

	// The replica's shutdown deletes its Lease, with the Role's delete.
	inst.Stop()
	inst.ShutdownCallbacks()
	stopped = true
	if _, err := leases.Get(context.Background(), deployLease, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after the shutdown: %v; want the Lease %s deleted", err, deployLease)
	}
}

// The Pod the e2e test runs CoreDNS as, and its Lease in the fleet
// coredns-failover/coredns of the deploy Corefile: GROUP-POD_NAME.
const (
	deployPod   = "coredns-5d78c9869d-8xkqp"
	deployLease = "coredns-" + deployPod
)

// deployLeaseProblem says what is wrong with the Lease of deployPod: ""
// once it is there, labelled with the group, held by the Pod, renewed, and
// carrying one observation (the secondary, the block's one probed address),
// up.
func deployLeaseProblem(leases coordinationv1client.LeaseInterface) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := leases.Get(ctx, deployLease, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	if l.Labels["failover.coredns.io/fleet"] != "coredns" || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != deployPod || l.Spec.RenewTime == nil {
		return fmt.Sprintf("Lease %+v %+v: want the label of the group coredns, held by %s, renewed", l.ObjectMeta, l.Spec, deployPod)
	}
	obs, err := base64.StdEncoding.DecodeString(l.Annotations["failover.coredns.io/observations"])
	if err != nil || len(obs) != 9 || obs[8] != 1 {
		return fmt.Sprintf("observations %q (%v): want one, up", l.Annotations["failover.coredns.io/observations"], err)
	}
	return ""
}

// corefileOf returns the Corefile of the coredns ConfigMap among manifests.
func corefileOf(t *testing.T, manifests string) string {
	t.Helper()
	for _, doc := range strings.Split(manifests, "\n---\n") {
		var cm corev1.ConfigMap
		if err := yaml.Unmarshal([]byte(doc), &cm); err != nil {
			t.Fatalf("manifest: %v\n%s", err, doc)
		}
		if cm.Kind == "ConfigMap" && cm.Name == "coredns" && cm.Namespace == "kube-system" {
			return cm.Data["Corefile"]
		}
	}
	t.Fatalf("no ConfigMap kube-system/coredns in:\n%s", manifests)
	return ""
}

// serveHealthz answers 200 to every request at addr until the test ends.
func serveHealthz(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}
