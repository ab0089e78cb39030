package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestOrderLatency runs real backends whose health checks answer after
// different delays: under `order latency` the answers list the fastest
// first, follow when a backend slows down, and under `answers 1` hold the
// fastest alone. The status shows the averages and their window, and the
// reordering is no change of the answer: the TTL stays the steady one.
func TestOrderLatency(t *testing.T) {
	ips := []string{"127.0.50.131", "127.0.50.132", "127.0.50.133"}
	backends := startBackends(t, ips...)
	delays := []time.Duration{80 * time.Millisecond, 0, 40 * time.Millisecond}
	for i, d := range delays {
		backends[i].delay.Store(int64(d))
	}
	status := freeTCPAddr(t, ips[0])
	_, udp := startCoreDNS(t, fmt.Sprintf(`.:0 {
	failover app.example.org {
		primary  %[1]s
		check    http://:%[2]d/health
		interval 200ms
		timeout  180ms
		ttl      300 1
		order    latency
		status   %[3]s
	}
	failover one.example.org {
		primary  %[1]s
		check    http://:%[2]d/health
		interval 200ms
		timeout  180ms
		order    latency
		answers  1
	}
}
`, strings.Join(ips, " "), backends[0].port, status))

	statusWait(t, status, func(r *statusReport) string {
		n := r.name("app.example.org.")
		if n == nil {
			return "app.example.org. not reported"
		}
		for _, ip := range ips {
			e := n.endpoint(ip)
			if e == nil || e.RTT == nil || e.RTT.Samples != e.RTT.Window || e.RTT.Window != 10 {
				return ip + ": no full window of round trips yet"
			}
		}
		if a := n.Answer["A"]; a.Order != "latency" || a.TTLWhy != "steady" {
			return fmt.Sprintf("answer %+v, want order latency and a steady TTL", a)
		}
		return ""
	})
	r, _, err := statusGet(status)
	if err != nil {
		t.Fatal(err)
	}
	n := r.name("app.example.org.")
	for i, ip := range ips {
		if avg := n.endpoint(ip).RTT.AverageMS; avg < float64(delays[i].Milliseconds()) {
			t.Errorf("%s answers after %v, its average is %.1f ms", ip, delays[i], avg)
		}
	}
	fastest := "127.0.50.132 127.0.50.133 127.0.50.131"
	if got := strings.Join(n.Answer["A"].Addresses, " "); got != fastest {
		t.Errorf("status addresses %q, want %q", got, fastest)
	}
	waitAnswer(t, udp, "app.example.org.", fastest, 2*time.Second)
	waitAnswer(t, udp, "one.example.org.", "127.0.50.132", 2*time.Second)

	// The fastest slows down: a window of probes later it is answered last.
	start := time.Now()
	backends[1].delay.Store(int64(120 * time.Millisecond))
	waitAnswer(t, udp, "app.example.org.", "127.0.50.133 127.0.50.131 127.0.50.132", 5*time.Second)
	waitAnswer(t, udp, "one.example.org.", "127.0.50.133", 2*time.Second)
	t.Logf("the order followed a slowdown in %v", time.Since(start).Round(time.Millisecond))

	m := new(dns.Msg).SetQuestion("app.example.org.", dns.TypeA)
	res, err := dns.Exchange(m, udp)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Answer) != 3 || res.Answer[0].Header().Ttl != 300 {
		t.Errorf("after a reordering: %v, want 3 addresses at the steady TTL 300", res.Answer)
	}
}
