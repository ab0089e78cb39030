package kube

import (
	"slices"
	"testing"

	"github.com/failover-dns/failover/internal/k8stest"
	"github.com/failover-dns/failover/internal/testutil"
)

// Frames of the goroutines of a watch: its reflectors, and the decoding of
// their watch streams.
const (
	reflectorFrame = "k8s.io/client-go/tools/cache.(*Reflector).RunWithContext("
	clientGoFrame  = "k8s.io/client-go/tools/cache.(*Reflector)"
	streamFrame    = "k8s.io/apimachinery/pkg/watch.(*StreamWatcher).receive("
)

// Two Watches of one Ref share one pair of reflectors and both hear of a
// change; another Ref has its own pair; Close of the last subscription of a
// Ref stops its pair at once, and the last of all leaves no goroutine of
// client-go behind.
func TestK8sWatchesShareReflectors(t *testing.T) {
	c := k8stest.Start(t)
	src := Source{Kubeconfig: c.Kubeconfig(t)}
	c.Namespace(t, "prod")
	c.Service(t, "prod", "app")
	c.Service(t, "prod", "db")
	if n := testutil.Goroutines(clientGoFrame); n != 0 {
		t.Fatalf("%d frames of reflectors before any Watch", n)
	}

	app := Ref{src, "prod", "app"}
	rec1, rec2 := newRecorder(), newRecorder()
	sub1, err := Watch(app, rec1.onChange)
	if err != nil {
		t.Fatal(err)
	}
	sub2, err := Watch(app, rec2.onChange)
	if err != nil {
		t.Fatal(err)
	}
	awaitState(t, sub1, rec1, 0, syncDeadline, "app synced", func(st *State) bool { return st.Synced })
	if n := testutil.Goroutines(reflectorFrame); n != 2 {
		t.Errorf("%d reflectors for two Watches of one Service, want 2 (one pair)", n)
	}
	if sub1.State() != sub2.State() {
		t.Error("two subscriptions of one Service see different States")
	}

	db, dbRec := watchRef(t, Ref{src, "prod", "db"})
	awaitState(t, db, dbRec, 0, syncDeadline, "db synced", func(st *State) bool { return st.Synced })
	if n := testutil.Goroutines(reflectorFrame); n != 4 {
		t.Errorf("%d reflectors for two Services, want 4", n)
	}
	registry.Lock()
	clients := len(registry.clients)
	registry.Unlock()
	if clients != 1 {
		t.Errorf("%d clients for one Source, want 1", clients)
	}

	b1, b2 := rec1.calls.Load(), rec2.calls.Load()
	c.EndpointSlice(t, "prod", "app", "app-a", k8stest.Endpoint{Addr: "10.1.0.1"})
	awaitEndpoints(t, sub1, rec1, b1, "first subscription", ep("10.1.0.1", true))
	awaitEndpoints(t, sub2, rec2, b2, "second subscription", ep("10.1.0.1", true))

	// The first Close leaves the watch to the second subscription; the
	// closed one hears of nothing more.
	sub1.Close()
	sub1.Close() // idempotent
	if n := testutil.Goroutines(reflectorFrame); n != 4 {
		t.Errorf("%d reflectors after one of two subscriptions closed, want 4", n)
	}
	b1, b2 = rec1.calls.Load(), rec2.calls.Load()
	c.EndpointSlice(t, "prod", "app", "app-a", k8stest.Endpoint{Addr: "10.1.0.2"})
	awaitEndpoints(t, sub2, rec2, b2, "after the first Close", ep("10.1.0.2", true))
	if got := rec1.calls.Load(); got != b1 {
		t.Errorf("onChange of a closed subscription called %d times", got-b1)
	}

	// The last Close of a Ref stops its pair, before it returns.
	sub2.Close()
	if n := testutil.Goroutines(reflectorFrame); n != 2 {
		t.Errorf("%d reflectors after app's last Close, want 2 (db's)", n)
	}
	db.Close()
	if n := testutil.Goroutines(clientGoFrame); n != 0 {
		t.Errorf("%d frames of reflectors after the last Close", n)
	}
	if n := testutil.Goroutines(streamFrame); n != 0 {
		t.Errorf("%d watch streams still decoding after the last Close", n)
	}
	registry.Lock()
	left := len(registry.clients) + len(registry.watches)
	registry.Unlock()
	if left != 0 {
		t.Errorf("%d clients and watches left in the registry", left)
	}

	// A Ref watched again after its last Close starts afresh.
	again, rec := watchRef(t, app)
	awaitState(t, again, rec, 0, syncDeadline, "app watched again", func(st *State) bool {
		return st.Synced && slices.Equal(st.Endpoints, []Endpoint{ep("10.1.0.2", true)})
	})
}
