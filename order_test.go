package failover

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/failover-dns/failover/healthcheck"
)

// firstAnswered asks f for app.example.org n times and counts the address
// answered first, checking every answer holds want addresses, each once.
func firstAnswered(t *testing.T, f *Failover, n, want int) map[string]int {
	t.Helper()
	first := map[string]int{}
	for range n {
		r := new(dns.Msg).SetQuestion("app.example.org.", dns.TypeA)
		w := dnstest.NewRecorder(&test.ResponseWriter{})
		if _, err := f.ServeDNS(context.Background(), w, r); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, rr := range w.Msg.Answer {
			seen[rr.(*dns.A).A.String()] = true
		}
		if len(seen) != want || len(w.Msg.Answer) != want {
			t.Fatalf("answered %v, want %d distinct addresses", w.Msg.Answer, want)
		}
		first[w.Msg.Answer[0].(*dns.A).A.String()]++
	}
	return first
}

// chiSquare is the statistic of counts (n in all) against shares.
func chiSquare(counts map[string]int, shares map[string]float64, n int) float64 {
	total := 0.0
	for _, s := range shares {
		total += s
	}
	chi := 0.0
	for ip, s := range shares {
		want := float64(n) * s / total
		d := float64(counts[ip]) - want
		chi += d * d / want
	}
	return chi
}

// TestOrderRandom: every query gets every healthy address, in an order drawn
// for it, whose first address follows the weights (uniform without them).
func TestOrderRandom(t *testing.T) {
	const n = 40000
	plain := `failover app.example.org {
	primary 192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4
	check   tcp://:80
	order   random
}`
	f := newTestFailover(t, plain, answering(dns.RcodeNameError))
	first := firstAnswered(t, f, n, 4)
	even := map[string]float64{"192.0.2.1": 1, "192.0.2.2": 1, "192.0.2.3": 1, "192.0.2.4": 1}
	if chi := chiSquare(first, even, n); chi > 16.27 { // 3 degrees of freedom, 0.1%
		t.Errorf("without weights, first addresses %v: chi-square %.2f against a uniform shuffle", first, chi)
	}

	// Weighted, with 192.0.2.3 down and 192.0.2.5 of weight 0: the first of
	// the three answered follows 10, 20 and 40 of 70.
	f = newTestFailover(t, strings.Replace(weightedBlock, "%s", "order random", 1), answering(dns.RcodeNameError), "192.0.2.3")
	first = firstAnswered(t, f, n, 3)
	weights := map[string]float64{"192.0.2.1": 10, "192.0.2.2": 20, "192.0.2.4": 40}
	if chi := chiSquare(first, weights, n); chi > 13.82 { // 2 degrees of freedom, 0.1%
		t.Errorf("weighted, first addresses %v: chi-square %.2f against the weights", first, chi)
	}
}

// TestOrderConfigKeepsThePoolsOrder: the default answers the pool's order,
// the same for every query.
func TestOrderConfigKeepsThePoolsOrder(t *testing.T) {
	f := newTestFailover(t, `failover app.example.org {
	primary 192.0.2.3 192.0.2.1 192.0.2.2
	check   tcp://:80
	order   config
}`, answering(dns.RcodeNameError))
	if first := firstAnswered(t, f, 100, 3); first["192.0.2.3"] != 100 {
		t.Errorf("first addresses %v, want always 192.0.2.3", first)
	}
}

func TestSetupOrderRefused(t *testing.T) {
	for _, tc := range []struct{ lines, want string }{
		{"order fastest", "'order' takes config, random or latency, not 'fastest'"},
		{"order", "'order' takes exactly one argument"},
		{"order random\norder latency", "'order' is given twice in this block (first at line 4)"},
		{"order latency\nweight 192.0.2.1 5", "'weight 192.0.2.1 5' cannot apply under 'order latency' (line 4)"},
	} {
		_, err := parse(caddy.NewTestController("dns", "failover app.example.org {\nprimary 192.0.2.1 192.0.2.2\ncheck tcp://:80\n"+tc.lines+"\n}"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.lines, err, tc.want)
		}
	}
	// Weight 0 (never answered) and 1 apply under latency.
	if _, err := parse(caddy.NewTestController("dns", "failover app.example.org {\nprimary 192.0.2.1 192.0.2.2\ncheck tcp://:80\norder latency\nweight 192.0.2.1 0\nweight 192.0.2.2 1\n}")); err != nil {
		t.Errorf("weights 0 and 1 under order latency: %v", err)
	}
}

// TestFastestPutsAddressesWithoutSamplesLast: an address whose probes have
// not passed yet, or that has no probes (a Service's member), goes after the
// ones measured, in the pool's order; answers N cuts after the order.
func TestFastestPutsAddressesWithoutSamplesLast(t *testing.T) {
	f := newTestFailover(t, `failover app.example.org {
	primary 192.0.2.1 192.0.2.2 192.0.2.3
	check   tcp://:80
	order   latency
	answers 2
}`, answering(dns.RcodeNameError))
	c := f.state.Load().lookup("app.example.org.", dns.TypeA)
	if len(c.endpoints) != 3 {
		t.Fatalf("%d endpoints kept for the latency order, want 3", len(c.endpoints))
	}
	c2 := *c
	c2.endpoints = []*healthcheck.Endpoint{c.endpoints[0], nil, c.endpoints[2]}
	var buf [8]net.IP
	if got := fmt.Sprint(c2.drawn(buf[:])); got != "[192.0.2.1 192.0.2.2]" {
		t.Errorf("without samples, answered %s, want the pool's first two", got)
	}
	if got := fmt.Sprint(c2.fastest(nil)); got != "[192.0.2.1 192.0.2.2 192.0.2.3]" {
		t.Errorf("without samples, ordered %s, want the pool's order", got)
	}
}

// BenchmarkServeDNSOrder is a query for a name of four healthy addresses
// under each order, answered by failover alone: what ordering costs a query.
func BenchmarkServeDNSOrder(b *testing.B) {
	for _, order := range []string{"config", "random", "latency", "latency\nanswers 2"} {
		b.Run(strings.ReplaceAll(order, "\n", " "), func(b *testing.B) {
			f, err := parse(caddy.NewTestController("dns", "failover app.example.org {\nprimary 192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4\ncheck tcp://:80\norder "+order+"\n}"))
			if err != nil {
				b.Fatal(err)
			}
			f.state.Store(buildSnapshot(f.blocks, func(member) bool { return true }))
			req := new(dns.Msg).SetQuestion("app.example.org.", dns.TypeA)
			w := &test.ResponseWriter{}
			b.ReportAllocs()
			for b.Loop() {
				f.ServeDNS(context.Background(), w, req)
			}
		})
	}
}
