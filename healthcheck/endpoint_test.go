package healthcheck

import (
	"net/netip"
	"testing"
	"time"
)

func TestRecordThresholds(t *testing.T) {
	const pass, fail = true, false
	tests := []struct {
		name    string
		fall    int
		rise    int
		results []bool
		healthy []bool // verdict after each result
	}{
		{"first failure decides at once", 3, 2, []bool{fail}, []bool{false}},
		{"first pass keeps healthy", 3, 2, []bool{pass}, []bool{true}},
		{"fall failures take it down", 3, 2,
			[]bool{pass, fail, fail, fail}, []bool{true, true, true, false}},
		{"a pass resets the failure count", 3, 2,
			[]bool{pass, fail, fail, pass, fail, fail, fail}, []bool{true, true, true, true, true, true, false}},
		{"rise passes bring it back", 3, 2,
			[]bool{fail, pass, pass}, []bool{false, false, true}},
		{"flapping faster than rise and fall moves nothing", 2, 2,
			[]bool{pass, fail, pass, fail, pass, fail}, []bool{true, true, true, true, true, true}},
		{"flapping while down moves nothing", 2, 2,
			[]bool{fail, pass, fail, pass, fail}, []bool{false, false, false, false, false}},
		{"fall 1 rise 1 follows every result", 1, 1,
			[]bool{pass, fail, pass, fail}, []bool{true, false, true, false}},
	}
	check, _ := ParseCheck("tcp://:1")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Settings{Checks: []*Check{check}, Interval: time.Second, Timeout: time.Second / 2, Fall: tc.fall, Rise: tc.rise}
			addr := netip.MustParseAddr("192.0.2.1")
			en := newEntry(s.key(addr), addr, s)
			e := &Endpoint{Addr: addr, Settings: s}
			if !e.Healthy() || e.Probed() || !e.Since().IsZero() {
				t.Fatal("an endpoint not started must count as healthy and not yet probed")
			}
			e.shared.Store(en)
			if !e.Healthy() || e.Probed() || !e.Since().IsZero() {
				t.Fatal("a new endpoint must count as healthy and not yet probed")
			}
			for i, r := range tc.results {
				before := e.Healthy()
				changed, _ := en.record(r)
				if got := e.Healthy(); got != tc.healthy[i] {
					t.Fatalf("after result %d (%v): healthy = %v, want %v", i, r, got, tc.healthy[i])
				}
				if changed != (before != e.Healthy()) {
					t.Fatalf("after result %d: record reported changed=%v, but verdict went %v -> %v", i, changed, before, e.Healthy())
				}
				if changed && e.Since().IsZero() {
					t.Fatalf("after result %d: verdict changed but Since is zero", i)
				}
			}
			if !e.Probed() {
				t.Error("Probed() = false after results")
			}
		})
	}
}
