package kube

import (
	"bytes"
	"fmt"
	"io"
	golog "log"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

// A change written to the API server reaches State and onChange within
// changeDeadline (issue 11: answers follow within one second); the first
// list of a watch may take longer on a busy machine.
const (
	changeDeadline = time.Second
	syncDeadline   = 30 * time.Second
	// outageDeadline bounds how long a reflector takes to see an outage
	// and its end: reflectorBackoff retries within 10 s.
	outageDeadline = 30 * time.Second
)

// recorder counts the calls of an onChange and wakes whoever waits.
type recorder struct {
	calls atomic.Int64
	woken chan struct{}
}

func newRecorder() *recorder { return &recorder{woken: make(chan struct{}, 1)} }

func (r *recorder) onChange() {
	r.calls.Add(1)
	select {
	case r.woken <- struct{}{}:
	default:
	}
}

// watchRef watches ref for t, closed when t ends.
func watchRef(t *testing.T, ref Ref) (*Subscription, *recorder) {
	t.Helper()
	rec := newRecorder()
	sub, err := Watch(ref, rec.onChange)
	if err != nil {
		t.Fatalf("Watch(%v): %v", ref, err)
	}
	t.Cleanup(sub.Close)
	return sub, rec
}

// awaitState waits, up to deadline, until sub's State satisfies ok and rec
// has been called since callsBefore; it fails t naming what it waited for.
// It waits on onChange, not on a timer: the State changes only with a call.
func awaitState(t *testing.T, sub *Subscription, rec *recorder, callsBefore int64, deadline time.Duration, what string, ok func(*State) bool) *State {
	t.Helper()
	timeout := time.NewTimer(deadline)
	defer timeout.Stop()
	for {
		st := sub.State()
		if ok(st) && rec.calls.Load() > callsBefore {
			return st
		}
		select {
		case <-rec.woken:
		case <-timeout.C:
			t.Fatalf("%s: not within %s; State %s, %d calls of onChange (%d before)", what, deadline, describe(st), rec.calls.Load(), callsBefore)
		}
	}
}

// awaitEndpoints waits until sub's endpoints are want, within changeDeadline
// of now: the test has just written them.
func awaitEndpoints(t *testing.T, sub *Subscription, rec *recorder, callsBefore int64, what string, want ...Endpoint) {
	t.Helper()
	start := time.Now()
	awaitState(t, sub, rec, callsBefore, changeDeadline, what, func(st *State) bool {
		return st.Synced && st.Found && slices.Equal(st.Endpoints, want)
	})
	t.Logf("%s: in State and onChange after %s", what, time.Since(start).Round(time.Millisecond))
}

// awaitSource polls sub's SourceStatus until ok, up to deadline. The status
// has no notification of its own; polling is the way to observe it.
func awaitSource(t *testing.T, sub *Subscription, deadline time.Duration, what string, ok func(SourceStatus) bool) SourceStatus {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		st := sub.Source()
		if ok(st) {
			return st
		}
		if time.Now().After(end) {
			t.Fatalf("%s: not within %s; source %+v", what, deadline, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func describe(st *State) string {
	eps := make([]string, 0, len(st.Endpoints))
	for _, e := range st.Endpoints {
		if e.Serving {
			eps = append(eps, e.Addr.String())
		} else {
			eps = append(eps, e.Addr.String()+"(not serving)")
		}
	}
	return fmt.Sprintf("{Synced:%v Found:%v ClusterIPs:%v Endpoints:%v}", st.Synced, st.Found, st.ClusterIPs, eps)
}

func ep(addr string, serving bool) Endpoint {
	return Endpoint{Addr: netip.MustParseAddr(addr), Serving: serving}
}

// logBuffer collects what this package logs, for tests that count warnings.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// captureLog collects CoreDNS's log (the standard logger) until t ends.
func captureLog(t *testing.T) *logBuffer {
	b := &logBuffer{}
	golog.SetOutput(b)
	t.Cleanup(func() { clog.Discard(); golog.SetOutput(io.Discard) })
	return b
}
