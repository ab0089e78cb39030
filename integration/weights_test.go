package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestWeightedAnswers asks a real CoreDNS over UDP: under `answers 2`, each
// answer holds two distinct healthy addresses, never the one down nor the
// one of weight 0, and the heavier address comes up more often.
func TestWeightedAnswers(t *testing.T) {
	ips := []string{"127.0.50.121", "127.0.50.122", "127.0.50.123", "127.0.50.124", "127.0.50.125"}
	backends := startBackends(t, ips...)
	_, udp := startCoreDNS(t, fmt.Sprintf(`.:0 {
	failover app.example.org {
		primary  %s
		check    http://:%d/health
		interval 200ms
		timeout  100ms
		fall     1
		weight   127.0.50.121 1
		weight   127.0.50.122 1
		weight   127.0.50.123 8
		weight   127.0.50.125 0
		answers  2
	}
}
`, strings.Join(ips, " "), backends[0].port))
	backends[3].set(unavailable)
	// Wait until the one down has left every answer.
	deadline := time.Now().Add(5 * time.Second)
	for clean := 0; clean < 50; {
		got, err := lookup(udp, "app.example.org.", dns.TypeA)
		if err == nil && !strings.Contains(got, "127.0.50.124") {
			clean++
		} else {
			clean = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("127.0.50.124 still answered: %q, %v", got, err)
		}
	}

	counts := map[string]int{}
	const queries = 600
	for range queries {
		got, err := lookup(udp, "app.example.org.", dns.TypeA)
		if err != nil {
			t.Fatal(err)
		}
		addrs := strings.Fields(got)
		if len(addrs) != 2 || addrs[0] == addrs[1] {
			t.Fatalf("answered %q, want two distinct addresses", got)
		}
		for _, a := range addrs {
			counts[a]++
		}
	}
	t.Logf("%d answers of 2: %v", queries, counts)
	if counts["127.0.50.124"] != 0 || counts["127.0.50.125"] != 0 {
		t.Errorf("an address down or of weight 0 was answered: %v", counts)
	}
	// Weight 8 against 1 and 1: drawn first 80% of the time, in nearly every answer.
	if counts["127.0.50.123"] < queries*9/10 || counts["127.0.50.121"] == 0 || counts["127.0.50.122"] == 0 {
		t.Errorf("counts %v do not follow the weights 1, 1, 8", counts)
	}
}
