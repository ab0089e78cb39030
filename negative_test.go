package failover

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// zoneSOA is the SOA of example.org in the tests: TTL 3600, minimum 300.
const zoneSOA = "example.org. 3600 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 300"

// nxdomain is a next plugin that denies every name, as file does for a name
// its zone lacks: NXDOMAIN with the zone's SOA.
var nxdomain = plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeNameError)
	m.Authoritative = true
	m.Ns = []dns.RR{test.SOA(zoneSOA),
		test.NSEC("example.org. 300 IN NSEC www.example.org. A NS SOA RRSIG NSEC"),
	}
	w.WriteMsg(m)
	return dns.RcodeNameError, nil
})

// checkNODATA checks that m is a NODATA: NOERROR, authoritative, no answer
// but the CNAMEs in cnames, and the SOA want alone in the authority section,
// with its TTL and minimum.
func checkNODATA(t *testing.T, m *dns.Msg, want string, cnames ...dns.RR) {
	t.Helper()
	q := m.Question[0]
	wantSOA := test.SOA(want)
	if err := test.SortAndCheck(m, test.Case{Qname: q.Name, Qtype: q.Qtype, Answer: cnames, Ns: []dns.RR{wantSOA}}); err != nil {
		t.Errorf("%s %s: %v\n%v", q.Name, dns.TypeToString[q.Qtype], err, m)
		return
	}
	soa := m.Ns[0].(*dns.SOA)
	if soa.Mbox != wantSOA.Mbox || soa.Minttl != wantSOA.Minttl {
		t.Errorf("%s %s: SOA %v, want %v", q.Name, dns.TypeToString[q.Qtype], soa, wantSOA)
	}
	if !m.Authoritative || m.AuthenticatedData {
		t.Errorf("%s %s: AA %t AD %t, want an authoritative NODATA without AD", q.Name, dns.TypeToString[q.Qtype], m.Authoritative, m.AuthenticatedData)
	}
}

// TestOtherTypesAreNODATA checks that a governed name exists for every type:
// the chain's NXDOMAIN becomes a NODATA with the zone's SOA, at a TTL bounded
// by the block's ttl (30).
func TestOtherTypesAreNODATA(t *testing.T) {
	f := newTestFailover(t, testBlocks, nxdomain)
	for _, qtype := range []uint16{dns.TypeTXT, dns.TypeMX, dns.TypeHTTPS, dns.TypeSVCB, dns.TypeCAA, dns.TypeNS,
		dns.TypeSOA, dns.TypeDS, dns.TypeSRV, dns.TypeCNAME, dns.TypePTR, dns.TypeANY} {
		for _, name := range []string{"app.example.org.", "APP.example.ORG."} {
			checkNODATA(t, serve(t, f, name, qtype), "example.org. 30 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 300")
		}
	}
	// The other names of the zone are the chain's.
	if m := serve(t, f, "other.example.org.", dns.TypeTXT); m.Rcode != dns.RcodeNameError {
		t.Errorf("TXT of a name not governed: %s, want the chain's NXDOMAIN", dns.RcodeToString[m.Rcode])
	}
	if m := serve(t, f, "sub.app.example.org.", dns.TypeA); m.Rcode != dns.RcodeNameError {
		t.Errorf("A below a governed name: %s, want the chain's NXDOMAIN", dns.RcodeToString[m.Rcode])
	}
}

// TestFamilyWithoutAddressesIsNODATA checks the AAAA of a name whose pools are
// all IPv4: its AAAA records from the chain are kept (a dual-stack name fails
// over IPv4 only), but the chain's NXDOMAIN becomes a NODATA.
func TestFamilyWithoutAddressesIsNODATA(t *testing.T) {
	f := newTestFailover(t, testBlocks, nxdomain)
	checkNODATA(t, serve(t, f, "v4.example.org.", dns.TypeAAAA), "example.org. 30 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 300")
	// The A is answered as before.
	if err := test.SortAndCheck(serve(t, f, "v4.example.org.", dns.TypeA), test.Case{Qname: "v4.example.org.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("v4.example.org. 30 IN A 192.0.2.41")}}); err != nil {
		t.Error(err)
	}
}

// TestChainRecordsOfOtherTypesKept checks that NODATA replaces only a denial:
// the chain's records and its own NODATA go on as they are.
func TestChainRecordsOfOtherTypesKept(t *testing.T) {
	tests := []struct {
		name, qname string
		qtype       uint16
		reply       func(m *dns.Msg)
	}{
		{"TXT of a governed name", "app.example.org.", dns.TypeTXT, func(m *dns.Msg) {
			m.Answer = []dns.RR{test.TXT(`app.example.org. 300 IN TXT "v=spf1 -all"`)}
		}},
		{"AAAA of an IPv4-only name", "v4.example.org.", dns.TypeAAAA, func(m *dns.Msg) {
			m.Answer = []dns.RR{test.AAAA("v4.example.org. 300 IN AAAA 2001:db8::99")}
		}},
		{"the chain's NODATA", "app.example.org.", dns.TypeMX, func(m *dns.Msg) {
			m.Ns = []dns.RR{test.SOA(zoneSOA)}
		}},
		{"SERVFAIL", "app.example.org.", dns.TypeTXT, func(m *dns.Msg) { m.Rcode = dns.RcodeServerFailure }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sent *dns.Msg
			var before string
			next := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
				sent = new(dns.Msg)
				sent.SetReply(r)
				tc.reply(sent)
				before = sent.String()
				w.WriteMsg(sent)
				return sent.Rcode, nil
			})
			f := newTestFailover(t, testBlocks, next)
			if got := serve(t, f, tc.qname, tc.qtype); got != sent || got.String() != before {
				t.Errorf("the chain's response was changed:\n%v\nwant\n%v", got, before)
			}
		})
	}
}

// TestCNAMEToGovernedNameIsNODATA checks a denial that follows a CNAME to a
// governed name: the CNAME stays, and the NODATA is about its target.
func TestCNAMEToGovernedNameIsNODATA(t *testing.T) {
	cname := test.CNAME("www.example.org. 600 IN CNAME v4.example.org.")
	next := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNameError)
		m.Answer = []dns.RR{cname}
		m.Ns = []dns.RR{test.SOA(zoneSOA)}
		w.WriteMsg(m)
		return dns.RcodeNameError, nil
	})
	f := newTestFailover(t, testBlocks, next)
	checkNODATA(t, serve(t, f, "www.example.org.", dns.TypeAAAA), "example.org. 30 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 300", cname)
}

// TestAllDownNodataHasSOA checks the NODATA of all_down nodata: with the
// chain's SOA when it gave one, else one made for the server block's zone.
func TestAllDownNodataHasSOA(t *testing.T) {
	const block = `failover app.example.org {
		primary   192.0.2.1
		check     tcp://:80
		ttl       20
		all_down  nodata
	}`
	all := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT}
	tests := []struct {
		name    string
		next    plugin.Handler
		qtypes  []uint16
		wantSOA string
	}{
		{"chain answers the address", answering(dns.RcodeSuccess, test.A("app.example.org. 3600 IN A 203.0.113.9")), []uint16{dns.TypeA},
			"example.org. 20 IN SOA ns.dns.example.org. hostmaster.example.org. 1 7200 1800 86400 20"},
		{"chain denies the name", nxdomain, all, "example.org. 20 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 300"},
		{"no plugin after failover", nil, all, "example.org. 20 IN SOA ns.dns.example.org. hostmaster.example.org. 1 7200 1800 86400 20"},
		// The other types go on failing: see TestNoPluginAfterFailover.
		{"chain fails", silent(dns.RcodeServerFailure), []uint16{dns.TypeA}, "example.org. 20 IN SOA ns.dns.example.org. hostmaster.example.org. 1 7200 1800 86400 20"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newZoneFailover(t, []string{"example.org"}, block, tc.next, "192.0.2.1")
			for _, qtype := range tc.qtypes {
				checkNODATA(t, serve(t, f, "app.example.org.", qtype), tc.wantSOA)
			}
		})
	}
}

// TestSynthesizedSOA checks the SOA failover makes when nothing after it
// answers: owned by the server block's most specific zone holding the name,
// or by the name itself in a root server block.
func TestSynthesizedSOA(t *testing.T) {
	tests := []struct {
		zones   []string
		wantSOA string
	}{
		{[]string{"example.org"}, "example.org. 30 IN SOA ns.dns.example.org. hostmaster.example.org. 1 7200 1800 86400 30"},
		{[]string{"org", "example.org:1053"}, "example.org. 30 IN SOA ns.dns.example.org. hostmaster.example.org. 1 7200 1800 86400 30"},
		{[]string{"."}, "app.example.org. 30 IN SOA ns.dns.app.example.org. hostmaster.app.example.org. 1 7200 1800 86400 30"},
		{[]string{"dns://.:53"}, "app.example.org. 30 IN SOA ns.dns.app.example.org. hostmaster.app.example.org. 1 7200 1800 86400 30"},
	}
	for _, tc := range tests {
		f := newZoneFailover(t, tc.zones, testBlocks, nil)
		checkNODATA(t, serve(t, f, "app.example.org.", dns.TypeHTTPS), tc.wantSOA)
		checkNODATA(t, serve(t, f, "v4.example.org.", dns.TypeAAAA), strings.ReplaceAll(tc.wantSOA, "app.", "v4."))
		m := serve(t, f, "app.example.org.", dns.TypeHTTPS)
		if serial := m.Ns[0].(*dns.SOA).Serial; serial != f.blocks[0].serial || serial == 0 {
			t.Errorf("serial %d, want the time the configuration was loaded, %d", serial, f.blocks[0].serial)
		}
	}
}

// TestNegativeTTL checks the TTL of a NODATA's SOA: the lowest of the SOA's
// TTL, its minimum and the block's ttl (RFC 2308, section 5).
func TestNegativeTTL(t *testing.T) {
	tests := []struct {
		soaTTL, minimum, blockTTL, want string
	}{
		{"3600", "300", "30", "30"},
		{"3600", "10", "30", "10"},
		{"5", "300", "30", "5"},
		{"3600", "300", "600", "300"},
		{"3600", "300", "0", "0"},
	}
	for _, tc := range tests {
		next := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
			m := new(dns.Msg)
			m.SetRcode(r, dns.RcodeNameError)
			m.Ns = []dns.RR{test.SOA("example.org. " + tc.soaTTL + " IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 " + tc.minimum)}
			w.WriteMsg(m)
			return dns.RcodeNameError, nil
		})
		f := newTestFailover(t, "failover app.example.org {\nprimary 192.0.2.1\ncheck tcp://:80\nttl "+tc.blockTTL+"\n}", next)
		checkNODATA(t, serve(t, f, "app.example.org.", dns.TypeTXT),
			"example.org. "+tc.want+" IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 "+tc.minimum)
	}
	// Without a plugin after failover, the block's ttl.
	f := newZoneFailover(t, []string{"example.org"}, "failover app.example.org {\nprimary 192.0.2.1\ncheck tcp://:80\nttl 7\n}", nil)
	checkNODATA(t, serve(t, f, "app.example.org.", dns.TypeTXT), "example.org. 7 IN SOA ns.dns.example.org. hostmaster.example.org. 1 7200 1800 86400 7")
}

// TestNoPluginAfterFailover checks the other types of a governed name that
// only failover knows, and that a chain's error for them goes on: it may hide a
// real record.
func TestNoPluginAfterFailover(t *testing.T) {
	f := newZoneFailover(t, []string{"example.org"}, testBlocks, nil)
	checkNODATA(t, serve(t, f, "app.example.org.", dns.TypeTXT), "example.org. 30 IN SOA ns.dns.example.org. hostmaster.example.org. 1 7200 1800 86400 30")

	f = newZoneFailover(t, []string{"example.org"}, testBlocks, silent(dns.RcodeServerFailure))
	req := new(dns.Msg)
	req.SetQuestion("app.example.org.", dns.TypeTXT)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	if rcode, _ := f.ServeDNS(context.Background(), rec, req); rcode != dns.RcodeServerFailure || rec.Msg != nil {
		t.Errorf("TXT, chain fails: rcode %d, wrote %v; want SERVFAIL for the server to write", rcode, rec.Msg)
	}
}

// TestReferralPassedOn checks that a governed name below a zone cut gets the
// chain's referral as it is, for every type, with one warning per name.
func TestReferralPassedOn(t *testing.T) {
	const blocks = `failover app.sub.example.org {
		primary   192.0.2.1
		check     tcp://:80
	}`
	var sent *dns.Msg
	var before string
	next := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		sent = new(dns.Msg)
		sent.SetReply(r)
		sent.Ns = []dns.RR{test.NS("sub.example.org. 3600 IN NS ns1.sub.example.org.")}
		sent.Extra = []dns.RR{test.A("ns1.sub.example.org. 3600 IN A 192.0.2.53")}
		before = sent.String()
		w.WriteMsg(sent)
		return dns.RcodeSuccess, nil
	})
	logged := captureLog(t)
	f := newTestFailover(t, blocks, next, "192.0.2.1")
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeA} {
		if got := serve(t, f, "app.sub.example.org.", qtype); got != sent || got.String() != before {
			t.Errorf("%s: the referral was changed:\n%v\nwant\n%v", dns.TypeToString[qtype], got, before)
		}
	}
	if n := strings.Count(logged.take(), "[WARNING] plugin/failover: failover block at line 1: the rest of the chain answers app.sub.example.org. with a referral"); n != 1 {
		t.Errorf("%d warnings about the referral, want 1", n)
	}
}

// TestCNAMELoopKeepsLinks checks a CNAME chain that loops back through the
// governed name: the records that link the query name to it stay.
func TestCNAMELoopKeepsLinks(t *testing.T) {
	const blocks = `failover loop1.example.org {
		primary   192.0.2.1
		secondary 198.51.100.1
		check     tcp://:80
	}`
	cnames := []dns.RR{
		test.CNAME("loop1.example.org. 600 IN CNAME loop3.example.org."),
		test.CNAME("loop2.example.org. 600 IN CNAME loop1.example.org."),
		test.CNAME("loop3.example.org. 600 IN CNAME loop2.example.org."),
	}
	// As file does: the CNAMEs in the order of the chain from the query
	// name, until it comes back.
	next := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := new(dns.Msg)
		m.SetReply(r)
		for name := r.Question[0].Name; len(m.Answer) < len(cnames); {
			i := slices.IndexFunc(cnames, func(rr dns.RR) bool { return rr.Header().Name == name })
			m.Answer = append(m.Answer, cnames[i])
			name = cnames[i].(*dns.CNAME).Target
		}
		w.WriteMsg(m)
		return dns.RcodeSuccess, nil
	})
	f := newTestFailover(t, blocks, next, "192.0.2.1")
	for _, tc := range []struct {
		qname string
		want  []dns.RR
	}{
		{"loop2.example.org.", []dns.RR{
			test.A("loop1.example.org. 30 IN A 198.51.100.1"),
			test.CNAME("loop2.example.org. 600 IN CNAME loop1.example.org."),
		}},
		{"loop3.example.org.", []dns.RR{
			test.A("loop1.example.org. 30 IN A 198.51.100.1"),
			test.CNAME("loop2.example.org. 600 IN CNAME loop1.example.org."),
			test.CNAME("loop3.example.org. 600 IN CNAME loop2.example.org."),
		}},
		{"loop1.example.org.", []dns.RR{test.A("loop1.example.org. 30 IN A 198.51.100.1")}},
	} {
		m := serve(t, f, tc.qname, dns.TypeA)
		if err := test.CNAMEOrder(m); err != nil {
			t.Errorf("%s: %v", tc.qname, err)
		}
		if err := test.SortAndCheck(m, test.Case{Qname: tc.qname, Qtype: dns.TypeA, Answer: tc.want}); err != nil {
			t.Errorf("%s: %v\n%v", tc.qname, err, m.Answer)
		}
	}
}

// TestEmptyNonTerminalsExist checks the names between a governed name and its
// zone: NODATA for every type, where the chain said NXDOMAIN.
func TestEmptyNonTerminalsExist(t *testing.T) {
	const blocks = `failover app.eu.west.example.org {
		primary   192.0.2.1
		check     tcp://:80
	}`
	f := newZoneFailover(t, []string{"example.org"}, blocks, nxdomain)
	for _, name := range []string{"eu.west.example.org.", "West.Example.org."} {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeNS} {
			checkNODATA(t, serve(t, f, name, qtype), "example.org. 30 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 300")
		}
	}
	// Not the zone's apex, nor a name beside or below.
	for _, name := range []string{"example.org.", "other.west.example.org.", "x.app.eu.west.example.org."} {
		if m := serve(t, f, name, dns.TypeTXT); m.Rcode != dns.RcodeNameError {
			t.Errorf("%s TXT: %s, want the chain's NXDOMAIN", name, dns.RcodeToString[m.Rcode])
		}
	}
	// With no plugin after failover, too.
	f = newZoneFailover(t, []string{"example.org"}, blocks, nil)
	checkNODATA(t, serve(t, f, "west.example.org.", dns.TypeTXT), "example.org. 30 IN SOA ns.dns.example.org. hostmaster.example.org. 1 7200 1800 86400 30")
}

// TestChainSOAOutsideZone checks that a chain's SOA above the zone failover
// answers the name in is replaced by one made for that zone, at the chain's
// negative TTL if lower: in a root server block, the name's own.
func TestChainSOAOutsideZone(t *testing.T) {
	deny := func(soa string) plugin.Handler {
		return plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
			m := new(dns.Msg)
			m.SetRcode(r, dns.RcodeNameError)
			m.Ns = []dns.RR{test.SOA(soa)}
			w.WriteMsg(m)
			return dns.RcodeNameError, nil
		})
	}
	tests := []struct {
		name    string
		zones   []string
		chain   string
		wantSOA string
	}{
		{"forwarding server, the upstream's zone", []string{"."}, zoneSOA,
			"app.example.org. 30 IN SOA ns.dns.app.example.org. hostmaster.app.example.org. 1 7200 1800 86400 30"},
		{"forwarding server, a lower negative TTL", []string{"."}, "example.org. 3600 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 10",
			"app.example.org. 10 IN SOA ns.dns.app.example.org. hostmaster.app.example.org. 1 7200 1800 86400 10"},
		{"SOA above the server block's zone", []string{"example.org"}, "org. 3600 IN SOA ns.org. admin.org. 1 7200 3600 1209600 300",
			"example.org. 30 IN SOA ns.dns.example.org. hostmaster.example.org. 1 7200 1800 86400 30"},
		{"SOA of a zone below the server block's", []string{"org"}, zoneSOA,
			"example.org. 30 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 300"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newZoneFailover(t, tc.zones, testBlocks, deny(tc.chain))
			checkNODATA(t, serve(t, f, "app.example.org.", dns.TypeHTTPS), tc.wantSOA)
		})
	}
}
