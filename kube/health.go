package kube

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// SourceStatus is the state of the API server of a Source.
type SourceStatus struct {
	// Up: the last list or watch call of every Service read from the
	// Source succeeded. False until the first call succeeds.
	Up bool
	// Since is when Up last changed, or when the Source was first used.
	Since time.Time
	// Err says why the Source is down: the last error of a call; "" when
	// up.
	Err string
}

// health follows whether the API server of one Source answers. Every list
// and watch call of every reflector of the Source reports its outcome: the
// Source is up when each reflector's last call succeeded. A reflector retries
// within a few seconds after a failure, and a broken watch is opened again at
// once, so the calls see an outage and its end without polling of our own; a
// half-open connection is found by the client's HTTP/2 pings.
type health struct {
	source Source

	mu        sync.Mutex
	failing   map[*listWatch]error // reflectors whose last call failed
	contacted bool                 // a call has succeeded
	outage    time.Time            // start of the outage logged; zero when none is
	status    atomic.Pointer[SourceStatus]
	failures  atomic.Int64 // failed calls, for tests of how often they log
}

func newHealth(s Source) *health {
	h := &health{source: s, failing: map[*listWatch]error{}}
	h.status.Store(&SourceStatus{Since: time.Now(), Err: "not connected yet"})
	apiUp.WithLabelValues(s.String()).Set(0)
	return h
}

// Status is the current status; lock-free.
func (h *health) Status() SourceStatus { return *h.status.Load() }

// called records the outcome of one call of lw. ctx is lw's: a call that
// failed because its watch was stopped says nothing of the API server.
func (h *health) called(ctx context.Context, lw *listWatch, err error) {
	if err != nil && (ctx.Err() != nil || benign(err)) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.contacted = true
		delete(h.failing, lw)
	} else {
		h.failing[lw] = err
		h.failures.Add(1)
	}
	h.update(err)
}

// forget drops lw, whose watch stopped: its last failure no longer keeps the
// Source down.
func (h *health) forget(lw *listWatch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.failing[lw]; ok {
		delete(h.failing, lw)
		h.update(nil)
	}
}

// close deletes the metric of the Source, which no watch uses any more.
func (h *health) close() { apiUp.DeleteLabelValues(h.source.String()) }

// update publishes the status after a call; err is the call's error. It logs
// once when an outage starts and once when it ends.
func (h *health) update(err error) {
	prev := h.status.Load()
	up := h.contacted && len(h.failing) == 0
	switch {
	case up && !prev.Up:
		h.status.Store(&SourceStatus{Up: true, Since: time.Now()})
		apiUp.WithLabelValues(h.source.String()).Set(1)
		if !h.outage.IsZero() {
			log.Infof("kubernetes: reading Services from %s again, after %s; resyncing them", h.source, time.Since(h.outage).Round(time.Second))
			h.outage = time.Time{}
		}
	case !up && err != nil:
		since := prev.Since
		if prev.Up {
			since = time.Now()
			apiUp.WithLabelValues(h.source.String()).Set(0)
		}
		h.status.Store(&SourceStatus{Since: since, Err: errText(err)})
		if h.outage.IsZero() {
			h.outage = time.Now()
			log.Warningf("kubernetes: cannot read Services from %s: %s; keeping their last known state", h.source, errText(err))
		}
	}
}

// errText is err without the URL of the request, when it failed before an
// answer: the status page and the log line name the Source, and the URL (with
// its selectors and timeouts) would hide the reason in noise.
func errText(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err.Error()
	}
	return err.Error()
}

// benign errors are the protocol's, not an outage: a watch whose resource
// version expired is relisted at once.
func benign(err error) bool {
	return apierrors.IsResourceExpired(err) || apierrors.IsGone(err) || errors.Is(err, context.Canceled)
}
