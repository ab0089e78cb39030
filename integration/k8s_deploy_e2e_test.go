package integration

import (
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/failover-dns/failover/internal/k8stest"
)

// TestK8sDeployCorefileInCluster runs the Corefile of deploy/cluster-dns as
// it is, in-cluster, with exactly the RBAC of deploy/: kustomize's output is
// applied to a real API server, and CoreDNS reads it as the coredns Pod of
// kube-system would, with that ServiceAccount's token (k8stest.InCluster).
// The Service its failover block governs fails over to the address outside
// the cluster, and back.
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
	_, udp := startCoreDNS(t, corefile)
	const name = "app.prod.svc.cluster.local."
	waitAnswer(t, udp, name, "10.96.0.20", 5*time.Second)
	cluster.EndpointSlice(t, "prod", "app", "app-1", k8stest.Endpoint{Addr: "10.244.1.1", Ready: k8stest.Bool(false)})
	waitAnswer(t, udp, name, "192.0.2.10", 2*time.Second)
	cluster.EndpointSlice(t, "prod", "app", "app-1", k8stest.Endpoint{Addr: "10.244.1.1", Ready: k8stest.Bool(true)})
	waitAnswer(t, udp, name, "10.96.0.20", 2*time.Second)
	// The rest of the cluster's names are the kubernetes plugin's.
	cluster.Service(t, "prod", "db", "10.96.0.21")
	waitAnswer(t, udp, "db.prod.svc.cluster.local.", "10.96.0.21", 5*time.Second)
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
