package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	_ "github.com/failover-dns/failover/plugin" // CoreDNS with failover in its place
)

const (
	probeInterval = 300 * time.Millisecond
	probeTimeout  = 150 * time.Millisecond
	probeFall     = 2
	probeRise     = 2
	// What CI's shared, race-instrumented cores add to the theoretical bound.
	margin = 500 * time.Millisecond
)

// failoverBlock governs app.example.org with primary and secondary probed on port.
func failoverBlock(primary, secondary string, port int) string {
	return fmt.Sprintf(`failover app.example.org {
		primary   %s
		secondary %s
		check     http://:%d/health
		interval  %s
		timeout   %s
		fall      %d
		rise      %d
		ttl       5
	}`, primary, secondary, port, probeInterval, probeTimeout, probeFall, probeRise)
}

// TestFailoverEndToEnd runs a real CoreDNS from a Corefile, with real HTTP health
// endpoints on loopback, and moves the answers to the secondary and back as the
// primary's endpoint fails in each of three ways, for each way a name can be served.
func TestFailoverEndToEnd(t *testing.T) {
	variants := []struct {
		name       string
		ips        [2]string
		query      string
		serverPart func(t *testing.T) string
	}{
		{"hosts serves the name", [2]string{"127.0.0.11", "127.0.0.12"}, "app.example.org.", func(*testing.T) string {
			return "hosts {\n203.0.113.9 app.example.org\n}"
		}},
		{"file serves a CNAME to the name, behind cache", [2]string{"127.0.0.21", "127.0.0.22"}, "www.example.org.", func(t *testing.T) string {
			zone := filepath.Join(t.TempDir(), "db.example.org")
			err := os.WriteFile(zone, []byte(`$ORIGIN example.org.
@    3600 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 300
@    3600 IN NS  ns.example.org.
ns   3600 IN A   192.0.2.53
www  3600 IN CNAME app.example.org.
app  3600 IN A   203.0.113.9
`), 0o644)
			if err != nil {
				t.Fatal(err)
			}
			// cache runs after failover: cached answers are still rewritten.
			return "file " + zone + "\ncache 3600"
		}},
		{"nothing else serves the name", [2]string{"127.0.0.31", "127.0.0.32"}, "app.example.org.", func(*testing.T) string { return "" }},
	}

	failBound := probeFall*probeInterval + probeTimeout + margin
	riseBound := probeRise*probeInterval + probeTimeout + margin

	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			backends := startBackends(t, v.ips[0], v.ips[1])
			primary, secondary := backends[0], backends[1]
			corefile := fmt.Sprintf("example.org:0 {\n%s\n%s\n}\n", v.serverPart(t), failoverBlock(primary.ip, secondary.ip, primary.port))
			_, udp := startCoreDNS(t, corefile)

			waitAnswer(t, udp, v.query, primary.ip, failBound)
			checkRecords(t, udp, v.query)

			faults := []struct {
				name          string
				fail, recover func()
			}{
				{"status 503", func() { primary.set(unavailable) }, func() { primary.set(healthy) }},
				{"listener closed", primary.close, primary.reopen},
				{"hangs past the timeout", func() { primary.set(hanging) }, func() { primary.set(healthy) }},
			}
			for _, f := range faults {
				f.fail()
				took := waitAnswer(t, udp, v.query, secondary.ip, failBound)
				t.Logf("%s: failed over in %v (bound %v)", f.name, took.Round(time.Millisecond), failBound)
				f.recover()
				took = waitAnswer(t, udp, v.query, primary.ip, riseBound)
				t.Logf("%s: failed back in %v (bound %v)", f.name, took.Round(time.Millisecond), riseBound)
			}
		})
	}
}

// checkRecords checks the whole answer: the addresses are capped at the block's
// ttl 5 and belong to app.example.org, and a query for another name keeps its CNAME.
func checkRecords(t *testing.T, server, name string) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, err := dns.Exchange(m, server)
	if err != nil {
		t.Fatal(err)
	}
	cnames := 0
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			if rr.Hdr.Ttl > 5 || rr.Hdr.Name != "app.example.org." {
				t.Errorf("address record %v: want owner app.example.org. and TTL at most 5", rr)
			}
		case *dns.CNAME:
			cnames++
		}
	}
	if wantCNAME := name != "app.example.org."; wantCNAME != (cnames == 1) {
		t.Errorf("query %s: %d CNAMEs in %v", name, cnames, r.Answer)
	}
}
