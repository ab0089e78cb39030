package k8stest

import (
	"testing"
	"time"
)

// pollInterval is how often WaitFor tries again.
const pollInterval = 20 * time.Millisecond

// WaitFor polls cond until it holds, and fails t naming what it waited for
// when it still does not after within: the API server applies RBAC, and
// informers see changes, a moment after the write that made them.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(pollInterval)
	}
}
