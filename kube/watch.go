package kube

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	apiwatch "k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// serviceWatch follows one Service: a reflector of the Service object (by name,
// for its cluster IPs) and one of its EndpointSlices (by the label
// kubernetes.io/service-name). Each reflector writes into a store of ours
// that keeps only what State needs and publishes a new State on every change,
// from the reflector's goroutine: no informer queue or handler goroutines in
// between, so a change reaches the subscribers as soon as its watch event
// arrives.
type serviceWatch struct {
	ref    Ref
	client *client
	cancel context.CancelFunc
	gate   gate
	lws    []*listWatch
	refs   int // subscriptions; guarded by the registry's lock

	// mu guards what follows, and makes one change and its notification
	// whole: Close, which takes it to unsubscribe, returns only after a
	// notification in flight has ended.
	mu            sync.Mutex
	found         bool
	clusterIPs    []netip.Addr
	serviceSynced bool
	slices        map[string][]Endpoint // by EndpointSlice name
	slicesSynced  bool
	subs          []*Subscription

	state atomic.Pointer[State]
}

// startWatch starts the reflectors of ref, reading through c.
func startWatch(ref Ref, c *client) *serviceWatch {
	// client-go would log every failed call of every reflector; health
	// logs an outage once instead.
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), logr.Discard()))
	w := &serviceWatch{ref: ref, client: c, cancel: cancel, slices: map[string][]Endpoint{}}
	w.state.Store(&State{})

	byName := fields.OneTermEqualSelector("metadata.name", ref.Name).String()
	services := c.core.Services(ref.Namespace)
	w.run(ctx, "Service", &corev1.Service{}, serviceStore{w},
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = byName
			return services.List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (apiwatch.Interface, error) {
			o.FieldSelector = byName
			return services.Watch(ctx, o)
		})

	ofService := discoveryv1.LabelServiceName + "=" + ref.Name
	endpointSlices := c.discovery.EndpointSlices(ref.Namespace)
	w.run(ctx, "EndpointSlice", &discoveryv1.EndpointSlice{}, sliceStore{w},
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = ofService
			return endpointSlices.List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (apiwatch.Interface, error) {
			o.LabelSelector = ofService
			return endpointSlices.Watch(ctx, o)
		})
	return w
}

// run starts one reflector of w, in a goroutine its gate counts.
func (w *serviceWatch) run(ctx context.Context, kind string, example runtime.Object, store cache.ReflectorStore,
	list func(context.Context, metav1.ListOptions) (runtime.Object, error),
	watch func(context.Context, metav1.ListOptions) (apiwatch.Interface, error)) {
	lw := &listWatch{ctx: ctx, health: w.client.health, gate: &w.gate, list: list, watch: watch}
	w.lws = append(w.lws, lw)
	discard := logr.Discard()
	backoff := reflectorBackoff
	r := cache.NewReflectorWithOptions(lw, example, store, cache.ReflectorOptions{
		Name:            "failover " + w.ref.String() + " " + kind,
		TypeDescription: kind,
		Logger:          &discard,
		Backoff:         &backoff,
	})
	w.gate.goRun(func() { r.RunWithContext(ctx) })
}

// stop stops the reflectors and waits for them and for their calls.
func (w *serviceWatch) stop() {
	w.cancel()
	w.gate.closeAndWait()
	for _, lw := range w.lws {
		w.client.health.forget(lw)
	}
}

// change applies f, a change from a reflector, to what w knows, and
// publishes the State that results if it differs from the last one.
func (w *serviceWatch) change(f func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f()
	prev, next := w.state.Load(), w.current()
	if next.equal(prev) {
		return
	}
	w.state.Store(next)
	w.logChange(prev, next)
	for _, s := range w.subs {
		s.onChange()
	}
}

// current is the State of what w knows. A Service that does not exist has
// no endpoints, whatever EndpointSlices still carry its label.
func (w *serviceWatch) current() *State {
	st := &State{Synced: w.serviceSynced && w.slicesSynced, Found: w.found}
	if w.found {
		st.ClusterIPs = w.clusterIPs
		st.Endpoints = mergeEndpoints(w.slices)
	}
	return st
}

// logChange warns once when a synced Service is missing, and says when it
// appears; a missing Service is an empty pool, not an error.
func (w *serviceWatch) logChange(prev, next *State) {
	switch {
	case !next.Synced:
	case !next.Found && (prev.Found || !prev.Synced):
		log.Warningf("kubernetes: Service %s (%s) does not exist, or its namespace does not: its pool is empty", w.ref, w.ref.Source)
	case next.Found && prev.Synced && !prev.Found:
		log.Infof("kubernetes: Service %s (%s) exists now", w.ref, w.ref.Source)
	}
}

func (w *serviceWatch) subscribe(s *Subscription) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.subs = append(w.subs, s)
}

func (w *serviceWatch) unsubscribe(s *Subscription) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.subs = slices.DeleteFunc(w.subs, func(x *Subscription) bool { return x == s })
}

// reflectorBackoff is how a reflector retries after a failed call: from half
// a second, doubling up to 5 s, each delay stretched by up to as much again
// at random so that the replicas of CoreDNS spread their retries. client-go's
// default goes up to 30 s; cluster DNS should see an API server that is back
// within 10 s. The delay starts over after two minutes without failure.
var reflectorBackoff = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 1, Steps: 10, Cap: 5 * time.Second}
