package healthcheck

import (
	"fmt"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// TestRTTAverageWindow checks the moving average over the last RTTWindow
// samples, and that the published word reads none before the first.
func TestRTTAverageWindow(t *testing.T) {
	var r rttAverage
	if avg, n := r.load(); avg != 0 || n != 0 {
		t.Fatalf("before any sample: %v over %d", avg, n)
	}
	r.add(10 * time.Millisecond)
	r.add(20 * time.Millisecond)
	if avg, n := r.load(); avg != 15*time.Millisecond || n != 2 {
		t.Fatalf("after 10 and 20 ms: %v over %d, want 15ms over 2", avg, n)
	}
	for range RTTWindow {
		r.add(time.Millisecond)
	}
	if avg, n := r.load(); avg != time.Millisecond || n != RTTWindow {
		t.Fatalf("after %d samples of 1 ms: %v over %d; the older ones must have left the window", RTTWindow, avg, n)
	}
	r.add(11 * time.Millisecond)
	if avg, _ := r.load(); avg != 2*time.Millisecond {
		t.Fatalf("one sample of 11 ms among 1 ms ones: %v, want 2ms", avg)
	}
	r.add(0)
	if _, n := r.load(); n != RTTWindow {
		t.Fatalf("a sample of 0 must still count: %d samples", n)
	}
}

// TestRTTFollowsRealDelays probes two real HTTP servers, one answering at
// once and one after a delay the test sets, and checks the averages order
// them, follow a change of delay, and leave failed probes out.
func TestRTTFollowsRealDelays(t *testing.T) {
	var delay atomic.Int64
	var failing atomic.Bool
	delayed := func(d *atomic.Int64) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			time.Sleep(time.Duration(d.Load()))
			if failing.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		})
	}
	var none atomic.Int64
	fastPort := serve(t, "127.0.0.26", delayed(&none))
	slowPort := serve(t, "127.0.0.27", delayed(&delay))
	delay.Store(int64(40 * time.Millisecond))
	settings := func(port int) Settings {
		check, _ := ParseCheck(fmt.Sprintf("http://:%d/", port))
		return Settings{Checks: []*Check{check}, Interval: 20 * time.Millisecond, Timeout: 200 * time.Millisecond, Fall: 3, Rise: 1}
	}
	g := NewEngine(nil)
	fast := g.Endpoint(netip.MustParseAddr("127.0.0.26"), settings(fastPort))
	slow := g.Endpoint(netip.MustParseAddr("127.0.0.27"), settings(slowPort))
	if _, n := fast.RTT(); n != 0 {
		t.Fatal("an endpoint not started has samples")
	}
	g.Start()
	defer g.Stop()

	waitFor(t, "a full window of both", func() bool {
		_, a := fast.RTT()
		_, b := slow.RTT()
		return a == RTTWindow && b == RTTWindow
	})
	fastAvg, _ := fast.RTT()
	slowAvg, _ := slow.RTT()
	if slowAvg < 40*time.Millisecond || fastAvg >= slowAvg {
		t.Fatalf("fast %v, slow %v: the slow one answers after 40ms", fastAvg, slowAvg)
	}

	delay.Store(0) // the slow one recovers: a window later its average is a fast one's
	waitFor(t, "the average of the recovered one to fall", func() bool {
		avg, _ := slow.RTT()
		return avg < 20*time.Millisecond
	})

	// Failed probes of a server that answers 503 after 40 ms are no samples.
	none.Store(int64(40 * time.Millisecond))
	failing.Store(true)
	waitFor(t, "the fast one to fail", func() bool { return !fast.Healthy() })
	before, _ := fast.RTT()
	_, failedBefore := g.Probes()
	waitFor(t, "five more failed probes", func() bool { _, failed := g.Probes(); return failed >= failedBefore+5 })
	if after, _ := fast.RTT(); after != before || after >= 20*time.Millisecond {
		t.Fatalf("failed probes moved the average: %v, then %v", before, after)
	}
}
