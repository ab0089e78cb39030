package fleet

import (
	"context"
	"errors"
	"net/url"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Timing of the writes of this replica's Lease.
var (
	// coalesce is how long a prompt write waits for more changes: a burst of
	// verdicts makes one write.
	coalesce = 100 * time.Millisecond
	// retryAfter is the wait after a failed write, when shorter than the
	// renewal period: the replica shares again soon after the API returns.
	retryAfter = time.Second
	// writeTimeout bounds one write (with its read on a conflict).
	writeTimeout = 5 * time.Second
	// deleteTimeout bounds the deletion of the Lease by the last Leave.
	deleteTimeout = 2 * time.Second
)

// publishLoop writes this replica's Lease: at once, then every renewal
// period, and coalesce after a change of what it observes.
func (g *group) publishLoop() {
	defer g.running.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	due := time.Now()
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-g.soon:
			if at := time.Now().Add(coalesce); at.Before(due) {
				due = at
				timer.Reset(coalesce)
			}
			continue
		case <-timer.C:
		}
		wait := g.write()
		g.collectGarbage()
		due = time.Now().Add(wait)
		timer.Reset(wait)
	}
}

// write writes this replica's Lease with its current observations, and
// returns the time to the next write.
func (g *group) write() time.Duration {
	now := time.Now()
	g.mu.Lock()
	obs := g.observations(now)
	pushed := g.pushedValue()
	renew, duration := g.renew, g.duration
	g.mu.Unlock()
	value := encodeObservations(obs)

	ctx, cancel := context.WithTimeout(g.ctx, writeTimeout)
	written, err := g.put(ctx, value, pushed, duration)
	cancel()
	if g.ctx.Err() != nil {
		return renew // stopping: the outcome says nothing
	}
	g.mu.Lock()
	if err == nil {
		g.renewed = time.Now()
		g.writes++
		g.bytes = written.Size()
		g.writeErr = ""
	} else {
		g.writeErr = errText(err)
	}
	bytes := g.bytes
	g.mu.Unlock()
	g.decideSoon()
	if err != nil {
		return min(renew, retryAfter)
	}
	leaseWrites.WithLabelValues(g.name).Inc()
	leaseBytes.WithLabelValues(g.name).Set(float64(bytes))
	return renew
}

// observations are the local verdicts of the endpoints this replica probes,
// when recent. Under mu.
func (g *group) observations(now time.Time) []observation {
	obs := make([]observation, 0, len(g.tracked))
	for _, t := range g.tracked {
		if !t.probing {
			continue
		}
		if up, ok := localVerdict(t.eps, now); ok {
			obs = append(obs, observation{t.hash, up})
		}
	}
	return obs
}

// put updates this replica's Lease from the copy last written, reading it
// again after a conflict, or creates it.
func (g *group) put(ctx context.Context, value, pushed string, duration time.Duration) (*coordinationv1.Lease, error) {
	for attempt := 0; ; attempt++ {
		if g.cached == nil {
			have, err := g.leases.Get(ctx, g.lease, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: g.lease, Namespace: g.key.namespace}}
				g.fill(l, value, pushed, duration)
				made, err := g.leases.Create(ctx, l, metav1.CreateOptions{})
				if err != nil {
					return nil, err
				}
				g.cached = made
				return made, nil
			}
			if err != nil {
				return nil, err
			}
			g.cached = have
		}
		l := g.cached.DeepCopy()
		g.fill(l, value, pushed, duration)
		updated, err := g.leases.Update(ctx, l, metav1.UpdateOptions{})
		if err == nil {
			g.cached = updated
			return updated, nil
		}
		if (apierrors.IsConflict(err) || apierrors.IsNotFound(err)) && attempt == 0 {
			g.cached = nil // read it again, or create it: another writer or a collector was there
			continue
		}
		return nil, err
	}
}

// fill makes l this replica's Lease, renewed now.
func (g *group) fill(l *coordinationv1.Lease, value, pushed string, duration time.Duration) {
	if l.Labels == nil {
		l.Labels = map[string]string{}
	}
	l.Labels[LabelGroup] = g.key.group
	if l.Annotations == nil {
		l.Annotations = map[string]string{}
	}
	l.Annotations[AnnotationObservations] = value
	if pushed == "" {
		delete(l.Annotations, AnnotationPushed)
	} else {
		l.Annotations[AnnotationPushed] = pushed
	}
	now := metav1.NewMicroTime(time.Now())
	holder := g.identity
	seconds := int32(duration / time.Second)
	l.Spec.HolderIdentity = &holder
	l.Spec.LeaseDurationSeconds = &seconds
	l.Spec.RenewTime = &now
	if l.Spec.AcquireTime == nil {
		l.Spec.AcquireTime = &now
	}
}

// collectGarbage deletes the Leases of the group nobody renewed for
// garbageAge by this replica's clock: replicas that died
// without deleting theirs. Any replica may; the resourceVersion it saw is a
// precondition, so a Lease renewed meanwhile stays.
func (g *group) collectGarbage() {
	now := time.Now()
	type dead struct {
		name, identity, rv string
		after              time.Duration
	}
	var gone []dead
	g.mu.Lock()
	for _, p := range g.peers {
		after := garbageAge(p.duration)
		if now.Sub(p.seen) > after && p.collected != p.rv {
			p.collected = p.rv
			gone = append(gone, dead{p.name, p.identity, p.rv, after})
		}
	}
	g.mu.Unlock()
	for _, d := range gone {
		ctx, cancel := context.WithTimeout(g.ctx, writeTimeout)
		err := g.leases.Delete(ctx, d.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &d.rv}})
		cancel()
		switch {
		case err == nil:
			log.Infof("fleet %s: deleted the Lease of replica %s, not renewed for over %s", g.name, d.identity, d.after)
		case apierrors.IsNotFound(err), apierrors.IsConflict(err), g.ctx.Err() != nil:
		default:
			log.Warningf("fleet %s: cannot delete the expired Lease of replica %s: %s", g.name, d.identity, errText(err))
		}
	}
}

// deleteLease deletes this replica's Lease: the last Leave, at shutdown.
func (g *group) deleteLease() {
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	err := g.leases.Delete(ctx, g.lease, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		log.Warningf("fleet %s: cannot delete this replica's Lease %s/%s: %s; the other replicas stop counting it within its duration",
			g.name, g.key.namespace, g.lease, errText(err))
	}
}

// errText is err without the URL of the request, when it failed before an
// answer: the log line names the group, and the URL would hide the reason.
func errText(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err.Error()
	}
	return err.Error()
}

// garbageAge is how long a Lease of the group must have gone unrenewed,
// by this replica's clock, for it to delete it: ten durations, at least a
// minute, so that a replica restarting or cut off for a moment keeps its
// Lease. A variable for the tests.
var garbageAge = func(duration time.Duration) time.Duration { return max(10*duration, time.Minute) }
