package failover

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	_ "github.com/coredns/coredns/plugin/cache" // before dnssec, as in production
	"github.com/coredns/coredns/plugin/dnssec"
	_ "github.com/coredns/coredns/plugin/file" // the zone the tests sign
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/failover-dns/failover/internal/testutil"
)

// signedZone is example.org as the signing tests serve it with file: app's
// own address (which failover replaces), a CNAME, an MX and an HTTPS record
// that point to app, and nothing for api and down.
const signedZone = `$ORIGIN example.org.
@    3600 IN SOA   ns.example.org. admin.example.org. 1 7200 3600 1209600 300
@    3600 IN NS    ns.example.org.
ns   3600 IN A     192.0.2.53
app  3600 IN A     203.0.113.9
www  3600 IN CNAME app.example.org.
mail 3600 IN MX    10 app.example.org.
svc  3600 IN HTTPS 1 app.example.org. alpn=h2 ipv4hint=203.0.113.9
`

// signedBlocks govern app (both families), api (no record in the zone) and
// down (whose only endpoint is down, all_down nodata).
const signedBlocks = `failover app.example.org api.example.org {
	primary   192.0.2.11 2001:db8::11
	secondary 192.0.2.12 2001:db8::12
	check     tcp://:80
}
failover down.example.org {
	primary  192.0.2.21
	check    tcp://:80
	all_down nodata
}`

// signedServer is a server block for example.org built as CoreDNS builds it
// (dnsserver.NewServer): failover, then the dnssec plugin with a key made by
// the test, then last (file, from signedZone, unless a test gives another).
type signedServer struct {
	f      *Failover
	server *dnsserver.Server
	key    *dns.DNSKEY
}

func newSignedServer(t *testing.T, last plugin.Plugin) *signedServer {
	t.Helper()
	s := buildSigned(t, true, last)
	if s.f.signer.Load() == nil {
		t.Fatal("failover found no dnssec plugin signing its names")
	}
	return s
}

// buildSigned builds the server block of newSignedServer, with failover or
// without, and cache before dnssec when last is nil, as a production zone has.
func buildSigned(tb testing.TB, withFailover bool, last plugin.Plugin) *signedServer {
	tb.Helper()
	dir := tb.TempDir()
	key, base := testutil.DNSSECKey(tb, dir, "example.org.")
	var plugins []plugin.Plugin
	if last == nil {
		zone := filepath.Join(dir, "db.example.org")
		if err := os.WriteFile(zone, []byte(signedZone), 0o644); err != nil {
			tb.Fatal(err)
		}
		plugins = append(plugins, pluginFrom(tb, "cache", "cache 3600 example.org"))
		last = pluginFrom(tb, "file", "file "+zone+" example.org")
	}
	plugins = append(plugins, pluginFrom(tb, "dnssec", "dnssec example.org {\n\tkey file "+base+"\n}"), last)
	c := caddy.NewTestController("dns", signedBlocks)
	c.ServerBlockKeys = []string{"example.org"}
	f, err := parse(c)
	if err != nil {
		tb.Fatal(err)
	}
	s := &signedServer{f: f, key: key}
	s.down("192.0.2.21")
	if withFailover {
		plugins = append([]plugin.Plugin{func(next plugin.Handler) plugin.Handler { f.Next = next; return f }}, plugins...)
	}
	cfg := &dnsserver.Config{Zone: "example.org.", Port: "53", ListenHosts: []string{""}, Plugin: plugins}
	if s.server, err = dnsserver.NewServer("dns://:53", []*dnsserver.Config{cfg}); err != nil {
		tb.Fatal(err)
	}
	// What failover's startup does once CoreDNS has built the chain.
	if err := f.findSigner(cfg); err != nil {
		tb.Fatal(err)
	}
	return s
}

// pluginFrom returns the plugin that the Corefile line sets up.
func pluginFrom(tb testing.TB, directive, line string) plugin.Plugin {
	tb.Helper()
	c := caddy.NewTestController("dns", line)
	setup, err := caddy.DirectiveAction("dns", directive)
	if err != nil {
		tb.Fatal(err)
	}
	if err := setup(c); err != nil {
		tb.Fatalf("%s: %v", line, err)
	}
	return dnsserver.GetConfig(c).Plugin[0]
}

// down publishes the health where the given addresses are down.
func (s *signedServer) down(addrs ...string) {
	s.f.state.Store(buildSnapshot(s.f.blocks, func(m member) bool { return !slices.Contains(addrs, m.addr.String()) }))
}

// ask sends the server a query for name and qtype, with the DO bit when do.
func (s *signedServer) ask(t *testing.T, name string, qtype uint16, do bool) *dns.Msg {
	t.Helper()
	req := new(dns.Msg)
	req.SetQuestion(name, qtype)
	req.SetEdns0(4096, do)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	s.server.ServeDNS(context.Background(), rec, req)
	if rec.Msg == nil {
		t.Fatalf("%s %s: no response", name, dns.TypeToString[qtype])
	}
	if rec.Msg.AuthenticatedData {
		t.Errorf("%s %s: AD set; it is the validator's to set", name, dns.TypeToString[qtype])
	}
	return rec.Msg
}

// checkAllSigned checks that every RRset of every section of m is covered by
// a signature of the zone's key that verifies, is valid now and has the
// RRset's TTL, and that no signature is left over an RRset m lacks: what a
// validating resolver needs to call the answer secure.
func checkAllSigned(t *testing.T, key *dns.DNSKEY, m *dns.Msg) {
	t.Helper()
	what := fmt.Sprintf("%s %s", m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype])
	for i, section := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		sets := map[string][]dns.RR{}
		for _, rr := range section {
			if h := rr.Header(); h.Rrtype != dns.TypeRRSIG && h.Rrtype != dns.TypeOPT {
				k := strings.ToLower(h.Name) + "/" + dns.TypeToString[h.Rrtype]
				sets[k] = append(sets[k], rr)
			}
		}
		signed := map[string]bool{}
		for _, rr := range section {
			sig, ok := rr.(*dns.RRSIG)
			if !ok {
				continue
			}
			k := strings.ToLower(sig.Hdr.Name) + "/" + dns.TypeToString[sig.TypeCovered]
			set := sets[k]
			switch {
			case set == nil:
				t.Errorf("%s: section %d: a signature over %s, which it lacks:\n%v", what, i, k, m)
			case sig.Verify(key, set) != nil:
				t.Errorf("%s: section %d: the signature over %s does not verify: %v\n%v", what, i, k, sig.Verify(key, set), m)
			case !sig.ValidityPeriod(time.Now()):
				t.Errorf("%s: section %d: the signature over %s is not valid now", what, i, k)
			case sig.Hdr.Ttl != set[0].Header().Ttl || sig.SignerName != "example.org.":
				t.Errorf("%s: section %d: the signature over %s has TTL %d and signer %s, want %d and example.org.",
					what, i, k, sig.Hdr.Ttl, sig.SignerName, set[0].Header().Ttl)
			default:
				signed[k] = true
			}
		}
		for k := range sets {
			if !signed[k] {
				t.Errorf("%s: section %d: %s is not signed:\n%v", what, i, k, m)
			}
		}
	}
}

// addresses returns the addresses of name of type rrtype in section.
func addresses(section []dns.RR, name string, rrtype uint16) []string {
	var got []string
	for _, rr := range section {
		if strings.EqualFold(rr.Header().Name, name) && rr.Header().Rrtype == rrtype {
			switch rr := rr.(type) {
			case *dns.A:
				got = append(got, rr.A.String())
			case *dns.AAAA:
				got = append(got, rr.AAAA.String())
			}
		}
	}
	return got
}

// TestSignedAnswers checks that the answers failover rewrites in a zone that
// dnssec signs verify against the zone's key, before and after a failover:
// the addresses of a governed name (A, AAAA, through a CNAME, and of a name
// the zone lacks), the addresses of the additional section, the hints of an
// HTTPS record; the chain's NODATA keeps its signatures.
func TestSignedAnswers(t *testing.T) {
	s := newSignedServer(t, nil)
	cases := []struct {
		name    string
		qtype   uint16
		owner   string // of the addresses failover answers
		section func(*dns.Msg) []dns.RR
		primary string
		second  string
	}{
		{"app.example.org.", dns.TypeA, "app.example.org.", answer, "192.0.2.11", "192.0.2.12"},
		{"app.example.org.", dns.TypeAAAA, "app.example.org.", answer, "2001:db8::11", "2001:db8::12"},
		{"APP.Example.org.", dns.TypeA, "APP.Example.org.", answer, "192.0.2.11", "192.0.2.12"},
		{"api.example.org.", dns.TypeA, "api.example.org.", answer, "192.0.2.11", "192.0.2.12"},
		{"www.example.org.", dns.TypeA, "app.example.org.", answer, "192.0.2.11", "192.0.2.12"},
		{"mail.example.org.", dns.TypeMX, "app.example.org.", extra, "192.0.2.11", "192.0.2.12"},
	}
	for _, failedOver := range []bool{false, true} {
		if failedOver {
			s.down("192.0.2.11", "2001:db8::11", "192.0.2.21")
		}
		for _, tc := range cases {
			m := s.ask(t, tc.name, tc.qtype, true)
			want := tc.primary
			if failedOver {
				want = tc.second
			}
			rrtype := dns.TypeA
			if strings.Contains(want, ":") {
				rrtype = dns.TypeAAAA
			}
			if got := addresses(tc.section(m), tc.owner, rrtype); !slices.Equal(got, []string{want}) {
				t.Errorf("%s %s (failed over: %t): addresses %v, want %s\n%v", tc.name, dns.TypeToString[tc.qtype], failedOver, got, want, m)
			}
			checkAllSigned(t, s.key, m)
		}
		// The hint of the HTTPS record pointing to app is failover's address.
		hint := `ipv4hint="192.0.2.11"`
		if failedOver {
			hint = `ipv4hint="192.0.2.12"`
		}
		m := s.ask(t, "svc.example.org.", dns.TypeHTTPS, true)
		if !strings.Contains(m.Answer[0].String(), hint) {
			t.Errorf("svc HTTPS: want failover's hint, got\n%v", m)
		}
		checkAllSigned(t, s.key, m)
		// The chain's NODATA for another type of a governed name, kept.
		m = s.ask(t, "app.example.org.", dns.TypeTXT, true)
		if len(m.Answer) != 0 || !slices.ContainsFunc(m.Ns, isNSEC) {
			t.Errorf("app TXT: want the chain's NODATA with its NSEC, got\n%v", m)
		}
		checkAllSigned(t, s.key, m)
		checkBitmap(t, m, "app.example.org.", dns.TypeTXT)
	}
}

// TestSignedNODATA checks the NODATA that failover makes in a signed zone:
// the SOA and dnssec's NSEC for the denied name, both signed. The NSEC
// denies the type asked alone: never the A or AAAA failover answers, which
// a resolver with aggressive NSEC (RFC 8198) would otherwise deny from it.
func TestSignedNODATA(t *testing.T) {
	t.Run("all_down nodata", func(t *testing.T) {
		s := newSignedServer(t, nil)
		m := s.ask(t, "down.example.org.", dns.TypeA, true)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || !slices.ContainsFunc(m.Ns, isNSEC) {
			t.Fatalf("want a NODATA with an NSEC, got\n%v", m)
		}
		checkAllSigned(t, s.key, m)
		checkBitmap(t, m, "down.example.org.", dns.TypeA)
	})
	// A chain that says NOERROR without a record or an SOA for every name
	// (forward does, from some upstreams): the NODATA of the other types is
	// failover's, and so is its denial.
	empty := func(plugin.Handler) plugin.Handler {
		return plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
			m := new(dns.Msg)
			m.SetReply(r)
			w.WriteMsg(m)
			return dns.RcodeSuccess, nil
		})
	}
	t.Run("another type", func(t *testing.T) {
		s := newSignedServer(t, empty)
		for _, qtype := range []uint16{dns.TypeTXT, dns.TypeHTTPS, dns.TypeMX} {
			m := s.ask(t, "app.example.org.", qtype, true)
			if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || !slices.ContainsFunc(m.Ns, isNSEC) {
				t.Fatalf("want a NODATA with an NSEC, got\n%v", m)
			}
			checkAllSigned(t, s.key, m)
			checkBitmap(t, m, "app.example.org.", qtype)
		}
		m := s.ask(t, "app.example.org.", dns.TypeA, true)
		if got := addresses(m.Answer, "app.example.org.", dns.TypeA); !slices.Equal(got, []string{"192.0.2.11"}) {
			t.Errorf("A: want 192.0.2.11, got\n%v", m)
		}
		checkAllSigned(t, s.key, m)
	})
}

func answer(m *dns.Msg) []dns.RR { return m.Answer }
func extra(m *dns.Msg) []dns.RR  { return m.Extra }
func isNSEC(rr dns.RR) bool      { return rr.Header().Rrtype == dns.TypeNSEC }

// checkBitmap checks that the NSEC of m, owned by name, denies qtype and
// names A and AAAA among the types name has, unless qtype is one of them.
func checkBitmap(t *testing.T, m *dns.Msg, name string, qtype uint16) {
	t.Helper()
	i := slices.IndexFunc(m.Ns, isNSEC)
	if i < 0 {
		t.Errorf("%s %s: no NSEC:\n%v", name, dns.TypeToString[qtype], m)
		return
	}
	nsec := m.Ns[i].(*dns.NSEC)
	if !strings.EqualFold(nsec.Hdr.Name, name) || slices.Contains(nsec.TypeBitMap, qtype) {
		t.Errorf("%s %s: the NSEC %v does not deny the type at the name", name, dns.TypeToString[qtype], nsec)
	}
	for _, answered := range []uint16{dns.TypeA, dns.TypeAAAA} {
		if answered != qtype && !slices.Contains(nsec.TypeBitMap, answered) {
			t.Errorf("%s %s: the NSEC %v denies %s, which failover answers", name, dns.TypeToString[qtype], nsec, dns.TypeToString[answered])
		}
	}
}

// TestUnsignedWithoutDO checks that a query without the DO bit gets no
// signature, as from dnssec.
func TestUnsignedWithoutDO(t *testing.T) {
	s := newSignedServer(t, nil)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"app.example.org.", dns.TypeA}, {"www.example.org.", dns.TypeA}, {"down.example.org.", dns.TypeA},
		{"app.example.org.", dns.TypeTXT}, {"mail.example.org.", dns.TypeMX}} {
		m := s.ask(t, q.name, q.qtype, false)
		for _, section := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
			for _, rr := range section {
				if rrtype := rr.Header().Rrtype; rrtype == dns.TypeRRSIG || rrtype == dns.TypeNSEC {
					t.Errorf("%s %s without DO: got %v", q.name, dns.TypeToString[q.qtype], rr)
				}
			}
		}
	}
}

// TestSignatureCacheAcrossTTLs checks that the same addresses at another TTL
// (cache counts TTLs down) get the same signature from dnssec's cache, each
// copy at the TTL of its records, the cached one never changed.
func TestSignatureCacheAcrossTTLs(t *testing.T) {
	s := newSignedServer(t, nil)
	sign := func(ttl uint32) *dns.RRSIG {
		req := new(dns.Msg)
		req.SetQuestion("app.example.org.", dns.TypeA)
		req.SetEdns0(4096, true)
		res := new(dns.Msg)
		res.SetReply(req)
		res.Answer = []dns.RR{test.A(fmt.Sprintf("app.example.org. %d IN A 192.0.2.11", ttl))}
		res = s.f.signer.Load().sign("", req, res, s.f.state.Load())
		if len(res.Answer) != 2 {
			t.Fatalf("TTL %d: want the address and its signature, got\n%v", ttl, res)
		}
		checkAllSigned(t, s.key, res)
		return res.Answer[1].(*dns.RRSIG)
	}
	first := sign(30)
	second := sign(17)
	if first.Signature != second.Signature || first.Inception != second.Inception {
		t.Errorf("a new signature for another TTL: %v, then %v", first, second)
	}
	if first.Hdr.Ttl != 30 || second.Hdr.Ttl != 17 {
		t.Errorf("signature TTLs %d and %d, want 30 and 17", first.Hdr.Ttl, second.Hdr.Ttl)
	}
}

// TestSignerZones checks that failover learns from dnssec, through the
// DNSKEY queries dnssec answers, the zone each governed name is signed in:
// the most specific, and none for a name outside them.
func TestSignerZones(t *testing.T) {
	_, base := testutil.DNSSECKey(t, t.TempDir(), "example.org.")
	d := pluginFrom(t, "dnssec", "dnssec example.org sub.example.org {\n\tkey file "+base+"\n}")(nil).(dnssec.Dnssec)
	f := newZoneFailover(t, []string{"."}, `failover app.example.org x.y.sub.example.org app.example.net {
		primary 192.0.2.1
		check   tcp://:80
	}`, nil)
	s := newSigner(d, f.blocks)
	if s == nil || !slices.Equal(s.zones, plugin.Zones{"example.org.", "sub.example.org."}) {
		t.Fatalf("signer zones %v, want example.org. and sub.example.org.", s)
	}
	for name, zone := range map[string]string{"app.example.org.": "example.org.", "x.y.sub.example.org.": "sub.example.org.",
		"y.sub.example.org.": "sub.example.org.", "app.example.net.": ""} {
		if got := s.zones.Matches(name); got != zone {
			t.Errorf("%s: zone %q, want %q", name, got, zone)
		}
	}
	f = newZoneFailover(t, []string{"."}, "failover app.example.net {\n\tprimary 192.0.2.1\n\tcheck tcp://:80\n}", nil)
	if s := newSigner(d, f.blocks); s != nil {
		t.Errorf("names outside dnssec's zones: signer %v, want none", s)
	}
}

// BenchmarkSigned measures a query for a governed name through the chain of a
// signed zone (cache, dnssec, file), without and with failover, with the DO
// bit and without: without it, failover costs what it costs for any zone.
// Compare ns/op and allocs/op within one run.
func BenchmarkSigned(b *testing.B) {
	for _, do := range []bool{true, false} {
		for _, withFailover := range []bool{false, true} {
			b.Run(fmt.Sprintf("DO %t, failover %t", do, withFailover), func(b *testing.B) {
				s := buildSigned(b, withFailover, nil).server
				req := new(dns.Msg)
				req.SetQuestion("app.example.org.", dns.TypeA)
				req.SetEdns0(4096, do)
				w := &test.ResponseWriter{}
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					s.ServeDNS(ctx, w, req)
				}
			})
		}
	}
}
