package integration

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/test"
	"github.com/miekg/dns"

	"github.com/failover-dns/failover/internal/testutil"
)

// negativeZones are the zones of TestNegativeAnswersThroughResolvers: the
// zone the resolvers send to CoreDNS, the name governed, the SOA owner of its
// NODATA, and the address an A query gets.
var negativeZones = []struct {
	zone, name, soa string
	primary         string
}{
	// The README's forwarding example: the name is nowhere but in failover,
	// and the upstream denies it with the SOA of example.net. The resolvers
	// send CoreDNS the name alone, and would reject that SOA (BIND answers
	// SERVFAIL, Unbound drops it): the SOA is the name's own.
	{"db.example.net.", "db.example.net.", "db.example.net.", "127.0.20.11"},
	// A zone served by file that lacks the governed name: its SOA.
	{"example.org.", "app.example.org.", "example.org.", "127.0.20.21"},
	// Nothing after failover: the SOA failover makes for the server block's zone.
	{"example.com.", "app.example.com.", "example.com.", "127.0.20.31"},
}

// TestNegativeAnswersThroughResolvers puts BIND (a forward zone) and Unbound
// (a stub zone) in front of CoreDNS, and asks them what browsers and
// dual-stack clients ask first (HTTPS, AAAA) and other types, then A and
// AAAA: the other types are NODATA with the zone's SOA, and the name still
// resolves to the addresses failover answers. Before failover made NODATA, the
// chain's NXDOMAIN for HTTPS made the resolvers deny the A too.
func TestNegativeAnswersThroughResolvers(t *testing.T) {
	backends := startBackends(t, "127.0.20.11", "127.0.20.12", "127.0.20.21", "127.0.20.22", "127.0.20.23", "127.0.20.24", "127.0.20.31", "127.0.20.32")
	port := backends[0].port
	dir := t.TempDir()

	// The upstream of the forwarding server, standing in for the README's
	// 9.9.9.9: example.net without db.
	netZone := filepath.Join(dir, "db.example.net")
	writeFile(t, netZone, `$ORIGIN example.net.
@    3600 IN SOA ns.example.net. admin.example.net. 1 7200 3600 1209600 600
@    3600 IN NS  ns.example.net.
ns   3600 IN A   192.0.2.53
`)
	upstream, upstreamAddr, _, err := test.CoreDNSServerAndPorts(fmt.Sprintf("example.net:0 {\n\tbind 127.0.20.2\n\tfile %s\n}\n", netZone))
	if err != nil {
		t.Fatalf("could not start the upstream CoreDNS: %v", err)
	}
	defer upstream.Stop()

	orgZone := filepath.Join(dir, "db.example.org")
	writeFile(t, orgZone, `$ORIGIN example.org.
@    3600 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 300
@    3600 IN NS  ns.example.org.
ns   3600 IN A   192.0.2.53
www  3600 IN CNAME app.example.org.
www2 3600 IN CNAME app2.example.org.
`)
	// One port for the three server blocks, as in production.
	corefile := func(dnsPort int) string {
		return fmt.Sprintf(`.:%[4]d {
	bind 127.0.20.1
	failover db.example.net {
		primary   127.0.20.11
		secondary 127.0.20.12
		check     tcp://:%[1]d
		interval  2s
		timeout   1s
	}
	forward . %[2]s
}
example.org:%[4]d {
	bind 127.0.20.1
	file %[3]s
	failover app.example.org {
		primary   127.0.20.21
		secondary 127.0.20.22
		check     http://:%[1]d/health
	}
	failover app2.example.org {
		primary   127.0.20.24
		check     http://:%[1]d/health
	}
	failover app.eu.example.org {
		primary   127.0.20.23
		check     http://:%[1]d/health
	}
}
example.com:%[4]d {
	bind 127.0.20.1
	failover app.example.com {
		primary   127.0.20.31
		secondary 127.0.20.32
		check     http://:%[1]d/health
	}
}
`, port, upstreamAddr, orgZone, dnsPort)
	}
	var inst interface{ Stop() error }
	var coreAddr string
	for attempt := 0; inst == nil; attempt++ {
		dnsPort := testutil.FreeDNSPort(t, "127.0.20.1")
		coreAddr = fmt.Sprintf("127.0.20.1:%d", dnsPort)
		i, _, _, err := test.CoreDNSServerAndPorts(corefile(dnsPort))
		switch {
		case err == nil:
			inst = i
			defer func() {
				i.Stop()
				i.ShutdownCallbacks()
			}()
		case attempt == 4:
			t.Fatalf("could not start CoreDNS: %v", err)
		}
	}
	for _, z := range negativeZones {
		waitAnswerType(t, coreAddr, z.name, dns.TypeA, z.primary, 5*time.Second)
	}
	waitAnswerType(t, coreAddr, "app.eu.example.org.", dns.TypeA, "127.0.20.23", 5*time.Second)
	waitAnswerType(t, coreAddr, "app2.example.org.", dns.TypeA, "127.0.20.24", 5*time.Second)

	var zones []resolverZone
	for _, z := range negativeZones {
		zones = append(zones, resolverZone{name: strings.TrimSuffix(z.zone, "."), server: coreAddr})
	}
	resolvers := []func() *resolver{
		func() *resolver { return startNamed(t, zones...) },
		func() *resolver { return startUnbound(t, "127.0.20.3", zones...) },
	}
	for _, start := range resolvers {
		r := start()
		t.Run(r.name, func(t *testing.T) {
			for _, z := range negativeZones {
				for _, qtype := range []uint16{dns.TypeHTTPS, dns.TypeAAAA, dns.TypeTXT, dns.TypeMX, dns.TypeSVCB} {
					checkResolverNODATA(t, r, z.name, qtype, z.soa)
				}
				checkResolverAddresses(t, r, z.name, z.primary)
				checkResolverNODATA(t, r, z.name, dns.TypeAAAA, z.soa)
				checkResolverAddresses(t, r, z.name, z.primary)
			}
			// A CNAME to a governed name: HTTPS first, then A through the CNAME.
			m := r.ask(t, "www.example.org.", dns.TypeHTTPS)
			if m.Rcode != dns.RcodeSuccess || !slices.ContainsFunc(m.Answer, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeCNAME }) {
				t.Errorf("www.example.org. HTTPS: want NOERROR with the CNAME, got\n%v", m)
			}
			checkResolverAddresses(t, r, "www.example.org.", "127.0.20.21")
			// A CNAME to a governed name asked a type failover does not
			// see for names it does not govern: CoreDNS says NXDOMAIN for
			// the chain, but the resolvers ask the target again, and get
			// failover's NODATA.
			for _, qtype := range []uint16{dns.TypeTXT, dns.TypeCAA} {
				if m := r.ask(t, "www2.example.org.", qtype); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
					t.Errorf("%s: www2.example.org. %s: want NOERROR with the CNAME alone, got\n%v", r.name, dns.TypeToString[qtype], m)
				}
			}
			checkResolverAddresses(t, r, "www2.example.org.", "127.0.20.24")
			checkResolverAddresses(t, r, "app2.example.org.", "127.0.20.24")
			// The empty non-terminal above a governed name exists: what a
			// resolver that minimises its queries asks first.
			for _, qtype := range []uint16{dns.TypeTXT, dns.TypeA, dns.TypeNS} {
				checkResolverNODATA(t, r, "eu.example.org.", qtype, "example.org.")
			}
			checkResolverAddresses(t, r, "app.eu.example.org.", "127.0.20.23")
		})
	}
}

// checkResolverNODATA checks that the resolver answers NOERROR without
// records for name and qtype, with the SOA of zone in the authority section
// at a TTL no longer than the block's ttl (the default 30).
func checkResolverNODATA(t *testing.T, r *resolver, name string, qtype uint16, zone string) {
	t.Helper()
	m := r.ask(t, name, qtype)
	what := fmt.Sprintf("%s: %s %s", r.name, name, dns.TypeToString[qtype])
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 {
		t.Errorf("%s: want NODATA, got\n%v", what, m)
		return
	}
	if len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA || m.Ns[0].Header().Name != zone || m.Ns[0].Header().Ttl > 30 {
		t.Errorf("%s: want the SOA of %s at a TTL of at most 30 in the authority section, got\n%v", what, zone, m)
	}
}

// checkResolverAddresses checks that the resolver answers name's A with addr alone.
func checkResolverAddresses(t *testing.T, r *resolver, name, addr string) {
	t.Helper()
	m := r.ask(t, name, dns.TypeA)
	var got []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			got = append(got, a.A.String())
		}
	}
	if m.Rcode != dns.RcodeSuccess || !slices.Equal(got, []string{addr}) {
		t.Errorf("%s: %s A: want %s, got\n%v", r.name, name, addr, m)
	}
}

// waitAnswerType polls server until name's qtype answers want.
func waitAnswerType(t *testing.T, server, name string, qtype uint16, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got string
	var err error
	for time.Now().Before(deadline) {
		if got, err = lookup(server, name, qtype); err == nil && got == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s %s did not answer %q within %v: last answer %q, error %v", name, dns.TypeToString[qtype], want, within, got, err)
}

// TestFileResponsesRewritten checks the shapes of file's responses that
// failover acts on: the addresses of an MX target and of the zone's name
// server in the additional section follow failover's choice, and a governed
// name below a zone cut gets file's referral, not an answer. (file gives glue
// only for names below the cut, which failover cannot answer for: glue is in
// TestAdditionalSection.)
func TestFileResponsesRewritten(t *testing.T) {
	backends := startBackends(t, "127.0.20.41", "127.0.20.42", "127.0.20.43")
	zone := filepath.Join(t.TempDir(), "db.example.org")
	writeFile(t, zone, `$ORIGIN example.org.
@    3600 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 300
@    3600 IN NS  ns.example.org.
@    3600 IN MX  10 mx.example.org.
ns   3600 IN A   192.0.2.53
mx   3600 IN A   192.0.2.25
sub  3600 IN NS  ns1.example.org.
ns1  3600 IN A   192.0.2.54
`)
	inst, udp, _, err := test.CoreDNSServerAndPorts(fmt.Sprintf(`example.org:0 {
	bind 127.0.20.1
	file %s
	failover mx.example.org {
		primary 127.0.20.41
		check   http://:%[2]d/health
	}
	failover ns.example.org {
		primary 127.0.20.42
		check   http://:%[2]d/health
	}
	failover app.sub.example.org {
		primary 127.0.20.43
		check   http://:%[2]d/health
	}
}
`, zone, backends[0].port))
	if err != nil {
		t.Fatalf("could not start CoreDNS: %v", err)
	}
	defer func() {
		inst.Stop()
		inst.ShutdownCallbacks()
	}()
	waitAnswerType(t, udp, "mx.example.org.", dns.TypeA, "127.0.20.41", 5*time.Second)

	extraA := func(m *dns.Msg) []string {
		var got []string
		for _, rr := range m.Extra {
			if a, ok := rr.(*dns.A); ok {
				got = append(got, a.Hdr.Name+" "+a.A.String())
			}
		}
		return got
	}
	ask := func(name string, qtype uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		res, err := dns.Exchange(m, udp)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	if m := ask("example.org.", dns.TypeMX); !slices.Equal(extraA(m), []string{"mx.example.org. 127.0.20.41"}) {
		t.Errorf("MX: additional addresses %v, want failover's for mx.example.org.\n%v", extraA(m), m)
	}
	if m := ask("example.org.", dns.TypeNS); !slices.Equal(extraA(m), []string{"ns.example.org. 127.0.20.42"}) {
		t.Errorf("NS: additional addresses %v, want failover's for ns.example.org.\n%v", extraA(m), m)
	}
	for _, qtype := range []uint16{dns.TypeA, dns.TypeTXT} {
		m := ask("app.sub.example.org.", qtype)
		if m.Rcode != dns.RcodeSuccess || m.Authoritative || len(m.Answer) != 0 || len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeNS {
			t.Errorf("app.sub.example.org. %s below the zone cut: want file's referral, got\n%v", dns.TypeToString[qtype], m)
		}
	}
}
