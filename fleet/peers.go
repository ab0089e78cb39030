package fleet

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/failover-dns/failover/kube"
)

// peer is another replica's Lease, as this replica saw it.
type peer struct {
	name, identity   string
	rv               string        // its resourceVersion: a new one is a write, a renewal
	duration         time.Duration // its leaseDurationSeconds
	seen             time.Time     // when this replica saw it written, by its own monotonic clock
	stale            bool          // at first sight, its renewTime was long past: dead until it is written again
	obs              []observation // sorted by hash
	pushed           []string      // its pushed items (pushed.go)
	pushedUnreadable bool          // they could not be read (logged once)
	unreadable       bool          // its observations could not be read (logged once)
	collected        string        // the resourceVersion a deletion was tried at
}

// fresh reports whether p was renewed within its duration, by our clock.
func (p *peer) fresh(now time.Time) bool {
	return !p.stale && now.Sub(p.seen) < p.duration
}

// newInformer follows the Leases of the group, by label.
func (g *group) newInformer(group string) (cache.SharedIndexInformer, cache.ResourceEventHandlerRegistration) {
	selector := LabelGroup + "=" + group
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			return retrying(ctx, g, func() (runtime.Object, error) { return g.leases.List(ctx, o) })
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			w, err := retrying(ctx, g, func() (watch.Interface, error) { return g.leases.Watch(ctx, o) })
			if err != nil {
				return nil, err
			}
			return kube.DrainOnStop(w), nil
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &coordinationv1.Lease{}, 0, cache.Indexers{})
	// An outage shows in the mode and the status page; client-go would log
	// every failed call.
	_ = inf.SetWatchErrorHandlerWithContext(func(context.Context, *cache.Reflector, error) {})
	// Its synced: the first list has been handed to leaseSeen, not only
	// stored; a replica that shared before would decide from no Lease.
	synced, _ := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { g.leaseSeen(obj) },
		UpdateFunc: func(_, obj any) { g.leaseSeen(obj) },
		DeleteFunc: g.leaseGone,
	})
	return inf, synced
}

// retryBackoff is how a list or watch of the group's Leases is retried
// while the API server is unreachable: from half a second, doubling up to
// 5 s, each delay stretched by up to as much again at random (as kube/'s
// reflectors do). The retries happen inside the call, so the informer's
// reflector never sees the failures: its own backoff, which client-go does
// not let an informer set, grows to 30 s and, with its jitter, kept
// replicas from seeing each other for up to a minute after an outage.
var retryBackoff = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 1, Steps: 10, Cap: 5 * time.Second}

// retrying makes call until it succeeds, the API server answers with an
// error that retrying cannot mend (a resource version too old: the
// reflector must list again), or the group stops; every outcome is
// recorded for the mode.
func retrying[T any](ctx context.Context, g *group, call func() (T, error)) (T, error) {
	var zero T
	backoff := retryBackoff
	for {
		if !g.calls.enter() {
			return zero, errStopped
		}
		v, err := call()
		g.calls.leave()
		g.called(ctx, err)
		if err == nil || ctx.Err() != nil || !retriable(err) {
			return v, err
		}
		delay := time.NewTimer(backoff.Step())
		select {
		case <-ctx.Done():
			delay.Stop()
			return zero, ctx.Err()
		case <-delay.C:
		}
	}
}

// retriable reports whether err is an outage to wait out: the API server
// unreachable, or failing on its side. A refusal (Forbidden, Gone, a bad
// request) goes to the reflector, which knows what to do with it.
func retriable(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true // no answer from the API server: a connection refused, reset or timed out
	}
	return apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsInternalError(err)
}

// called records the outcome of a list or watch: the group shares again only
// once its Leases are read again. A call cut short by the group's stop says
// nothing.
func (g *group) called(ctx context.Context, err error) {
	if err != nil && ctx.Err() != nil {
		return
	}
	g.mu.Lock()
	was := g.listOK
	g.listOK = err == nil
	g.mu.Unlock()
	if was != (err == nil) {
		g.decideSoon()
	}
}

// leaseSeen takes in a Lease of the group from the informer.
func (g *group) leaseSeen(obj any) {
	l, ok := obj.(*coordinationv1.Lease)
	if !ok || l.Name == g.lease {
		return
	}
	obs, decodeErr := decodeObservations(l.Annotations[AnnotationObservations])
	now := time.Now()
	g.mu.Lock()
	p := g.peers[l.Name]
	first := p == nil
	if first {
		p = &peer{name: l.Name, seen: now}
		g.peers[l.Name] = p
	}
	if !first && p.rv == l.ResourceVersion {
		g.mu.Unlock()
		return // a relist: nothing was written
	}
	wasFresh := !first && p.fresh(now)
	p.rv = l.ResourceVersion
	p.identity = identityOf(l, g.key.group)
	p.duration = g.duration
	if d := l.Spec.LeaseDurationSeconds; d != nil && *d > 0 {
		p.duration = time.Duration(*d) * time.Second
	}
	p.seen = now
	// The only comparison of another machine's clock with ours: at first
	// sight, a Lease not renewed for two durations is a replica long dead
	// (its Lease left by a crash), not one to wait a whole duration for.
	p.stale = first && (l.Spec.RenewTime == nil || now.Sub(l.Spec.RenewTime.Time) > 2*p.duration)
	sameObs := !first && decodeErr == nil && !p.unreadable && slices.Equal(p.obs, obs)
	if decodeErr != nil {
		obs = nil
		if !p.unreadable {
			log.Warningf("fleet %s: the observations of replica %s cannot be read (%v); they are not counted", g.name, p.identity, decodeErr)
		}
	}
	p.unreadable = decodeErr != nil
	p.obs = obs
	pushed, pushedErr := decodePushed(l.Annotations[AnnotationPushed])
	if pushedErr != nil && !p.pushedUnreadable {
		log.Warningf("fleet %s: the pushed items of replica %s cannot be read (%v); they are not taken in", g.name, p.identity, pushedErr)
	}
	p.pushedUnreadable = pushedErr != nil
	newPushed := !slices.Equal(p.pushed, pushed) || (!wasFresh && len(pushed) > 0)
	p.pushed = pushed
	g.mu.Unlock()
	if !(wasFresh && sameObs) {
		g.decideSoon()
	}
	if newPushed {
		g.pushedChanged()
	}
}

// leaseGone forgets a deleted Lease: its replica left the group.
func (g *group) leaseGone(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	l, ok := obj.(*coordinationv1.Lease)
	if !ok || l.Name == g.lease {
		return
	}
	g.mu.Lock()
	_, known := g.peers[l.Name]
	delete(g.peers, l.Name)
	g.mu.Unlock()
	if known {
		g.decideSoon()
	}
}

// identityOf is the replica that holds l: its holderIdentity, else its name
// without the group.
func identityOf(l *coordinationv1.Lease, group string) string {
	if h := l.Spec.HolderIdentity; h != nil && *h != "" {
		return *h
	}
	return strings.TrimPrefix(l.Name, group+"-")
}
