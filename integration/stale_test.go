package integration

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestCacheRefreshesAfterTheQuery runs failover before cache, whose background
// refreshes (serve_stale verify, prefetch) keep using the query's writer after
// ServeDNS returned, before forward to two upstreams that go silent: forward
// tries one, then the other, long after the query was answered, and asks the
// writer for the client's address each time. No writer may be used after its
// query (under -race: no race, no nil pointer), and the server keeps serving
// the stale answers, governed or not.
func TestCacheRefreshesAfterTheQuery(t *testing.T) {
	caches := []struct {
		name, block string
		ttl         uint32 // of the upstreams' answers: expired at once, or prefetched while valid
	}{
		{"serve_stale verify with a timeout", "serve_stale 1h verify 100ms", 1},
		{"serve_stale immediate", "serve_stale 1h immediate", 1},
		{"prefetch", "prefetch 1 10m 90%", 10},
	}
	for i, c := range caches {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			base := fmt.Sprintf("127.0.0.%d", 171+4*i)
			backends := startBackends(t, base, fmt.Sprintf("127.0.0.%d", 172+4*i))
			primary, secondary := backends[0], backends[1]
			upstreams := []*upstream{
				startUpstream(t, fmt.Sprintf("127.0.0.%d", 173+4*i), net.ParseIP("198.51.100.1"), c.ttl),
				startUpstream(t, fmt.Sprintf("127.0.0.%d", 174+4*i), net.ParseIP("198.51.100.1"), c.ttl),
			}
			corefile := fmt.Sprintf(`example.org:0 {
	%s
	cache 30 {
		success 1000 30 1
		%s
	}
	forward . %s %s {
		policy sequential
	}
}
`, failoverBlock(primary.ip, secondary.ip, primary.port), c.block, upstreams[0].addr, upstreams[1].addr)
			_, udp := startCoreDNS(t, corefile)

			names := map[string]string{"app.example.org.": primary.ip, "other.example.org.": "198.51.100.1"}
			for name, want := range names {
				waitAnswer(t, udp, name, want, 5*time.Second) // cached
			}
			for _, u := range upstreams {
				u.silent.Store(true)
			}
			heardBefore := upstreams[1].queries.Load()

			// Every query of an expired name starts a refresh in the
			// background; forward gives up on the first upstream after its
			// read timeout and asks the second, from the refresh's goroutine,
			// long after the query was answered.
			deadline := time.Now().Add(20 * time.Second)
			for upstreams[1].queries.Load() == heardBefore {
				if time.Now().After(deadline) {
					t.Fatal("no refresh reached the second upstream within 20s")
				}
				for name, want := range names {
					if got, err := lookup(udp, name, dns.TypeA); err != nil || got != want {
						t.Fatalf("%s answered %q (error %v) while the upstreams are silent; want the cached %s", name, got, err, want)
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
			// The server is still up, and answers the governed name with the
			// health of the moment.
			secondary.set(healthy)
			primary.set(unavailable)
			waitAnswer(t, udp, "app.example.org.", secondary.ip, 5*time.Second)
			waitAnswer(t, udp, "other.example.org.", "198.51.100.1", time.Second)
		})
	}
}
