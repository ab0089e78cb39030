package failover

import (
	"context"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

const weightedBlock = `failover app.example.org {
	primary   192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5
	secondary 198.51.100.1
	check     tcp://:80
	weight    192.0.2.1 10
	weight    192.0.2.2 20
	weight    192.0.2.3 30
	weight    192.0.2.4 40
	weight    192.0.2.5 0
	%s
}`

// tally asks f for app.example.org n times and counts each address answered.
func tally(t *testing.T, f *Failover, n int) (map[string]int, int) {
	t.Helper()
	counts := map[string]int{}
	most := 0
	for range n {
		r := new(dns.Msg).SetQuestion("app.example.org.", dns.TypeA)
		w := dnstest.NewRecorder(&test.ResponseWriter{})
		if _, err := f.ServeDNS(context.Background(), w, r); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, rr := range w.Msg.Answer {
			ip := rr.(*dns.A).A.String()
			if seen[ip] {
				t.Fatalf("%s answered twice: %v", ip, w.Msg.Answer)
			}
			seen[ip] = true
			counts[ip]++
		}
		most = max(most, len(w.Msg.Answer))
	}
	return counts, most
}

// TestAnswersDrawnByWeight draws 100,000 answers of one address among four
// healthy ones weighted 10, 20, 30 and 40: the counts follow the weights
// (chi-square, 3 degrees of freedom, below the 0.1% critical value 16.27),
// the address of weight 0 and the one down are never drawn.
func TestAnswersDrawnByWeight(t *testing.T) {
	f := newTestFailover(t, strings.Replace(weightedBlock, "%s", "answers 1", 1), answering(dns.RcodeNameError), "192.0.2.3")
	const n = 100000
	counts, most := tally(t, f, n)
	if most != 1 {
		t.Errorf("up to %d addresses answered, want 1", most)
	}
	if counts["192.0.2.3"] != 0 || counts["192.0.2.5"] != 0 {
		t.Fatalf("a down address or one of weight 0 was drawn: %v", counts)
	}
	// 192.0.2.3 is down: the others share 10, 20 and 40 of 70.
	chi := 0.0
	for ip, w := range map[string]float64{"192.0.2.1": 10, "192.0.2.2": 20, "192.0.2.4": 40} {
		want := n * w / 70
		d := float64(counts[ip]) - want
		chi += d * d / want
	}
	t.Logf("counts %v, chi-square %.2f", counts, chi)
	if chi > 13.82 { // 2 degrees of freedom, 0.1%
		t.Errorf("chi-square %.2f over the weights: counts %v", chi, counts)
	}
}

// TestAnswersWithoutCountAreOrderedByWeight: without `answers`, every healthy
// address is answered, heaviest first; weight 0 is never answered.
func TestAnswersWithoutCountAreOrderedByWeight(t *testing.T) {
	f := newTestFailover(t, strings.Replace(weightedBlock, "%s", "", 1), answering(dns.RcodeNameError))
	r := new(dns.Msg).SetQuestion("app.example.org.", dns.TypeA)
	w := dnstest.NewRecorder(&test.ResponseWriter{})
	if _, err := f.ServeDNS(context.Background(), w, r); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rr := range w.Msg.Answer {
		got = append(got, rr.(*dns.A).A.String())
	}
	if strings.Join(got, " ") != "192.0.2.4 192.0.2.3 192.0.2.2 192.0.2.1" {
		t.Errorf("answered %v, want every address but the one of weight 0, heaviest first", got)
	}

	// answers 3 of four: three distinct addresses every time.
	f = newTestFailover(t, strings.Replace(weightedBlock, "%s", "answers 3", 1), answering(dns.RcodeNameError))
	if counts, most := tally(t, f, 2000); most != 3 || counts["192.0.2.5"] != 0 || counts["192.0.2.4"] < counts["192.0.2.1"] {
		t.Errorf("answers 3: up to %d addresses, counts %v", most, counts)
	}
}

func TestSetupWeightsRefused(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"weight 192.0.2.9 5", "'weight' names 192.0.2.9, which is no address of this block's pools"},
		{"weight 192.0.2.1 101", "'weight' needs a count from 0 to 100, not '101'"},
		{"weight 192.0.2.1", "'weight' takes an address and a count"},
		{"weight app 1", "'weight' needs an address of the block's pools, not 'app'"},
		{"weight 192.0.2.1 1\nweight 192.0.2.1 2", "'weight' for 192.0.2.1 is given twice (first at line 4)"},
		{"answers 0", "'answers' needs a count of at least 1, not '0'"},
	} {
		_, err := parse(caddy.NewTestController("dns", "failover app.example.org {\nprimary 192.0.2.1\ncheck tcp://:80\n"+tc.line+"\n}"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.line, err, tc.want)
		}
	}
}
