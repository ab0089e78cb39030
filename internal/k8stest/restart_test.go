package k8stest

import (
	"context"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// TestK8sAPIServerRestart stops kube-apiserver under a client and an
// informer made from a kubeconfig, and starts it again: requests fail while
// it is down, and afterwards the same client works and the informer sees a
// change made after the restart, with what etcd kept.
func TestK8sAPIServerRestart(t *testing.T) {
	c := Start(t)
	c.Namespace(t, "prod")
	c.Service(t, "prod", "app")
	c.EndpointSlice(t, "prod", "app", "app-1", Endpoint{Addr: "198.51.100.1"})

	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 5 * time.Second
	client := kubernetes.NewForConfigOrDie(cfg)
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace("prod"))
	slices := factory.Discovery().V1().EndpointSlices()
	lister := slices.Lister()
	informer := slices.Informer()
	stop := make(chan struct{})
	factory.Start(stop)
	t.Cleanup(func() {
		close(stop)
		factory.Shutdown()
	})
	if !cache.WaitForCacheSync(deadline(t, time.Minute), informer.HasSynced) {
		t.Fatal("informer never synced")
	}

	start := time.Now()
	c.StopAPIServer(t)
	t.Logf("kube-apiserver stopped in %v", time.Since(start))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.CoreV1().Services("prod").Get(ctx, "app", metav1.GetOptions{}); err == nil {
		t.Fatal("a request succeeded with kube-apiserver stopped")
	}

	start = time.Now()
	c.StartAPIServer(t)
	t.Logf("kube-apiserver started again in %v", time.Since(start))
	if _, err := client.CoreV1().Services("prod").Get(context.Background(), "app", metav1.GetOptions{}); err != nil {
		t.Fatalf("the same client after the restart: %v", err)
	}
	c.EndpointSlice(t, "prod", "app", "app-2", Endpoint{Addr: "198.51.100.2"})
	WaitFor(t, time.Minute, "the informer to see app-2 after the restart", func() bool {
		es, err := lister.EndpointSlices("prod").Get("app-2")
		return err == nil && es.AddressType == discoveryv1.AddressTypeIPv4
	})
	if _, err := lister.EndpointSlices("prod").Get("app-1"); err != nil {
		t.Errorf("app-1, stored before the restart: %v", err)
	}
}

// deadline returns a channel closed after d or when t ends.
func deadline(t *testing.T, d time.Duration) <-chan struct{} {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx.Done()
}
