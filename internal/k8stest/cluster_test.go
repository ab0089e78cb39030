package k8stest

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/failover-dns/failover/internal/testutil"
)

// processFrame is in the stack of envtest's goroutines that wait for a
// process (etcd, kube-apiserver) or poll its health.
const processFrame = "controller-runtime/pkg/internal/testing/process."

// TestK8sCluster starts a cluster, uses every object helper, kubectl and
// the admin kubeconfig, and checks that nothing of it runs once the test
// that started it has ended.
func TestK8sCluster(t *testing.T) {
	t.Run("cluster", func(t *testing.T) {
		c := Start(t)
		ctx := context.Background()

		v, err := c.Client.Discovery().ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		if v.GitVersion != Version {
			t.Errorf("kube-apiserver is %s, want %s", v.GitVersion, Version)
		}

		c.Namespace(t, "prod")
		c.Namespace(t, "prod") // exists: no error
		c.Service(t, "prod", "app")
		svc, err := c.Client.CoreV1().Services("prod").Get(ctx, "app", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ip := netip.MustParseAddr(svc.Spec.ClusterIP); !netip.MustParsePrefix(ServiceCIDRv4).Contains(ip) {
			t.Errorf("allocated cluster IP %s outside %s", ip, ServiceCIDRv4)
		}
		c.Service(t, "prod", "dual", "10.96.7.7", "fd00:10:96::7")
		svc, err = c.Client.CoreV1().Services("prod").Get(ctx, "dual", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"10.96.7.7", "fd00:10:96::7"}; !slices.Equal(svc.Spec.ClusterIPs, want) {
			t.Errorf("cluster IPs %v, want %v", svc.Spec.ClusterIPs, want)
		}

		// Created, then updated in place, then replaced by another family.
		c.EndpointSlice(t, "prod", "app", "app-1",
			Endpoint{Addr: "198.51.100.1"},
			Endpoint{Addr: "198.51.100.2", Ready: Bool(false), Serving: Bool(true), Terminating: Bool(true)})
		es := getSlice(t, c, "prod", "app-1")
		if es.AddressType != discoveryv1.AddressTypeIPv4 || es.Labels[discoveryv1.LabelServiceName] != "app" || len(es.Endpoints) != 2 {
			t.Fatalf("slice as created: %+v", es)
		}
		if cond := es.Endpoints[0].Conditions; cond.Ready != nil || cond.Serving != nil || cond.Terminating != nil {
			t.Errorf("unset conditions came back set: %+v", cond)
		}
		if cond := es.Endpoints[1].Conditions; *cond.Ready || !*cond.Serving || !*cond.Terminating {
			t.Errorf("conditions: %+v", cond)
		}
		uid := es.UID
		c.EndpointSlice(t, "prod", "app", "app-1", Endpoint{Addr: "198.51.100.3", Ready: Bool(true)})
		es = getSlice(t, c, "prod", "app-1")
		if es.UID != uid || len(es.Endpoints) != 1 || es.Endpoints[0].Addresses[0] != "198.51.100.3" {
			t.Errorf("slice not updated in place: %+v", es)
		}
		c.EndpointSlice(t, "prod", "app", "app-1", Endpoint{Addr: "2001:db8::1"})
		if es = getSlice(t, c, "prod", "app-1"); es.AddressType != discoveryv1.AddressTypeIPv6 {
			t.Errorf("address type %s after an IPv6 endpoint", es.AddressType)
		}

		out, err := c.Kubectl(t, "", "get", "endpointslices", "-n", "prod", "-o", "name")
		if err != nil || strings.TrimSpace(out) != "endpointslice.discovery.k8s.io/app-1" {
			t.Errorf("kubectl get: %q, %v", out, err)
		}
		if _, err := c.Kubectl(t, "", "get", "services", "-n", "prod", "nothing"); err == nil || !strings.Contains(err.Error(), "NotFound") {
			t.Errorf("kubectl get of nothing: %v", err)
		}
		manifest := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-stdin, namespace: prod}\ndata: {k: v}\n"
		if _, err := c.Kubectl(t, manifest, "apply", "-f", "-"); err != nil {
			t.Errorf("kubectl apply -f - : %v", err)
		} else if cm, err := c.Client.CoreV1().ConfigMaps("prod").Get(ctx, "from-stdin", metav1.GetOptions{}); err != nil || cm.Data["k"] != "v" {
			t.Errorf("the ConfigMap applied from standard input: %+v, %v", cm, err)
		}
		c.DeleteEndpointSlice(t, "prod", "app-1")
		out, err = c.Kubectl(t, "", "get", "endpointslices", "-n", "prod", "-o", "name")
		if err != nil || out != "" {
			t.Errorf("kubectl get after delete: %q, %v", out, err)
		}

		// The kubeconfig works on its own, for a plugin that reads it.
		path := c.Kubeconfig(t)
		raw, err := clientcmd.LoadFromFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if raw.CurrentContext != Context {
			t.Errorf("current context %q", raw.CurrentContext)
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			t.Fatal(err)
		}
		client := kubernetes.NewForConfigOrDie(cfg)
		if _, err := client.CoreV1().Services("prod").Get(ctx, "app", metav1.GetOptions{}); err != nil {
			t.Errorf("with the kubeconfig: %v", err)
		}
	})
	// etcd and kube-apiserver stopped with the subtest, and envtest's
	// goroutines that watch them with them.
	if n := testutil.Goroutines(processFrame); n != 0 {
		t.Errorf("%d goroutines of envtest's processes left", n)
	}
}

func getSlice(t *testing.T, c *Cluster, namespace, name string) *discoveryv1.EndpointSlice {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	es, err := c.Client.DiscoveryV1().EndpointSlices(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return es
}
