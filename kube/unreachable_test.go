package kube

import (
	"strings"
	"testing"
	"time"

	"github.com/failover-dns/failover/internal/testutil"
)

// A Source whose API server never answers: Watch succeeds (no call is made
// in it), the State stays unsynced, the Source is down with the dial's error,
// logged once however often the reflectors retry; Close leaves nothing.
func TestWatchUnreachableSource(t *testing.T) {
	// Nothing listens on port 1 of our loopback address: every dial is
	// refused at once.
	path := writeFile(t, "kubeconfig", strings.Replace(kubeconfigText, "127.0.40.1:6443", "127.0.40.1:1", 1))
	src := Source{Kubeconfig: path}
	logs := captureLog(t)

	sub, err := Watch(Ref{src, "prod", "app"}, func() { t.Error("onChange called without a change") })
	if err != nil {
		t.Fatal(err)
	}
	awaitSource(t, sub, outageDeadline, "down", func(s SourceStatus) bool {
		return !s.Up && strings.Contains(s.Err, "connection refused")
	})
	if v := apiUpValue(src); v != 0 {
		t.Errorf("kubernetes_api_up %v, want 0", v)
	}
	// Let both reflectors retry, twice each at least (after 0.5 to 1 s,
	// then 1 to 2 s): still one line in the log.
	h := sub.w.client.health
	deadline := time.Now().Add(outageDeadline)
	for h.failures.Load() < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("%d failed calls in %s", h.failures.Load(), outageDeadline)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := logs.count(downLine); n != 1 {
		t.Errorf("%d lines of the outage, want 1; log:\n%s", n, logs)
	}
	if st := sub.State(); st.Synced || st.Found {
		t.Errorf("State %s of an unreachable Service", describe(st))
	}
	sub.Close()
	if n := testutil.Goroutines(clientGoFrame); n != 0 {
		t.Errorf("%d frames of reflectors after Close", n)
	}
}
