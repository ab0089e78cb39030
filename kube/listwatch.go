package kube

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// listWatch lists and watches one kind of object of one Service (its Service
// by name, or its EndpointSlices by label) for a reflector. It reports the
// outcome of every call to the Source's health, and counts the calls in the
// watch's gate: the reflector makes its list from a goroutine it does not
// wait for.
type listWatch struct {
	ctx    context.Context // the watch's; done once it stops
	health *health
	gate   *gate
	list   func(context.Context, metav1.ListOptions) (runtime.Object, error)
	watch  func(context.Context, metav1.ListOptions) (watch.Interface, error)
}

func (lw *listWatch) List(opts metav1.ListOptions) (runtime.Object, error) {
	return lw.ListWithContext(lw.ctx, opts)
}

func (lw *listWatch) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return lw.WatchWithContext(lw.ctx, opts)
}

func (lw *listWatch) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	if !lw.gate.enter() {
		return nil, context.Canceled
	}
	defer lw.gate.leave()
	obj, err := lw.list(ctx, opts)
	lw.health.called(lw.ctx, lw, err)
	return obj, err
}

func (lw *listWatch) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	if !lw.gate.enter() {
		return nil, context.Canceled
	}
	defer lw.gate.leave()
	w, err := lw.watch(ctx, opts)
	lw.health.called(lw.ctx, lw, err)
	if err != nil {
		return nil, err
	}
	return DrainOnStop(w), nil
}

// DrainOnStop returns w, whose Stop waits until the goroutine that decodes
// its stream has ended (it closes the result channel last), so that a
// stopped watch leaves no goroutine behind. The wait is bounded (by
// WatchStopTimeout): a stream that does not close must not hold up
// CoreDNS's shutdown. Package fleet's watches use it too.
func DrainOnStop(w watch.Interface) watch.Interface { return drainingWatcher{w} }

type drainingWatcher struct{ watch.Interface }

func (w drainingWatcher) Stop() {
	w.Interface.Stop()
	bound := time.NewTimer(WatchStopTimeout)
	defer bound.Stop()
	for {
		select {
		case _, open := <-w.ResultChan():
			if !open {
				return
			}
		case <-bound.C:
			return
		}
	}
}

// WatchStopTimeout bounds the wait for a stopped watch's stream to close.
const WatchStopTimeout = 5 * time.Second
