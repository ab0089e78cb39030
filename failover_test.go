package failover

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/ready"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	ot "github.com/opentracing/opentracing-go"
	"github.com/opentracing/opentracing-go/mocktracer"
)

const testBlocks = `
failover app.example.org {
	primary   192.0.2.1 192.0.2.2
	secondary 198.51.100.1 2001:db8::51
	check     tcp://:80
	ttl       30
}
failover v4.example.org {
	primary   192.0.2.41
	check     tcp://:80
}
failover mixed.example.org {
	primary   192.0.2.61
	secondary 2001:db8::62 192.0.2.62
	check     tcp://:80
}
`

// newTestFailover returns failover over next, in a server block for
// example.org, with the named addresses down.
func newTestFailover(t *testing.T, corefile string, next plugin.Handler, down ...string) *Failover {
	t.Helper()
	return newZoneFailover(t, []string{"example.org"}, corefile, next, down...)
}

// newZoneFailover returns failover over next in a server block for zones,
// with the named addresses down.
func newZoneFailover(t *testing.T, zones []string, corefile string, next plugin.Handler, down ...string) *Failover {
	t.Helper()
	c := caddy.NewTestController("dns", corefile)
	c.ServerBlockKeys = zones
	f, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	f.Next = next
	f.state.Store(buildSnapshot(f.blocks, func(m member) bool { return !slices.Contains(down, m.addr.String()) }))
	return f
}

// answering is a next plugin that answers with rcode and those of rrs that a
// server would give for the query type: records of that type, CNAMEs and signatures.
func answering(rcode int, rrs ...dns.RR) plugin.Handler {
	return plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := new(dns.Msg)
		m.SetRcode(r, rcode)
		for _, rr := range rrs {
			switch rr.Header().Rrtype {
			case r.Question[0].Qtype, dns.TypeCNAME, dns.TypeRRSIG:
				m.Answer = append(m.Answer, rr)
			}
		}
		w.WriteMsg(m)
		return rcode, nil
	})
}

// silent is a next plugin that writes nothing and returns rcode, as a failing forward does.
func silent(rcode int) plugin.Handler {
	return plugin.HandlerFunc(func(context.Context, dns.ResponseWriter, *dns.Msg) (int, error) {
		return rcode, nil
	})
}

func serve(t *testing.T, f *Failover, name string, qtype uint16) *dns.Msg {
	t.Helper()
	req := new(dns.Msg)
	req.SetQuestion(name, qtype)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	rcode, err := f.ServeDNS(context.Background(), rec, req)
	if err != nil {
		t.Fatalf("ServeDNS: %v", err)
	}
	if rec.Msg == nil {
		t.Fatalf("ServeDNS wrote nothing (rcode %d)", rcode)
	}
	return rec.Msg
}

func TestSelection(t *testing.T) {
	hostsAnswer := answering(dns.RcodeSuccess, test.A("app.example.org. 3600 IN A 203.0.113.9"))
	tests := []struct {
		name  string
		down  []string
		qtype uint16
		want  test.Case
	}{
		{"primary healthy", nil, dns.TypeA, test.Case{Answer: []dns.RR{
			test.A("app.example.org. 30 IN A 192.0.2.1"), test.A("app.example.org. 30 IN A 192.0.2.2")}}},
		{"one of two primaries down", []string{"192.0.2.1"}, dns.TypeA, test.Case{Answer: []dns.RR{
			test.A("app.example.org. 30 IN A 192.0.2.2")}}},
		{"all primaries down", []string{"192.0.2.1", "192.0.2.2"}, dns.TypeA, test.Case{Answer: []dns.RR{
			test.A("app.example.org. 30 IN A 198.51.100.1")}}},
		{"primary has no IPv6: secondary answers AAAA", nil, dns.TypeAAAA, test.Case{Qtype: dns.TypeAAAA, Answer: []dns.RR{
			test.AAAA("app.example.org. 30 IN AAAA 2001:db8::51")}}},
		{"everything down, all_down primary", []string{"192.0.2.1", "192.0.2.2", "198.51.100.1"}, dns.TypeA, test.Case{Answer: []dns.RR{
			test.A("app.example.org. 30 IN A 192.0.2.1"), test.A("app.example.org. 30 IN A 192.0.2.2")}}},
		{"everything down, all_down primary, AAAA from the first pool that has IPv6", []string{"2001:db8::51"}, dns.TypeAAAA, test.Case{Qtype: dns.TypeAAAA, Answer: []dns.RR{
			test.AAAA("app.example.org. 30 IN AAAA 2001:db8::51")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFailover(t, testBlocks, hostsAnswer, tc.down...)
			tc.want.Qname = "app.example.org."
			if tc.want.Qtype == 0 {
				tc.want.Qtype = dns.TypeA
			}
			if err := test.SortAndCheck(serve(t, f, "app.example.org.", tc.want.Qtype), tc.want); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestAllDownPolicies(t *testing.T) {
	down := []string{"192.0.2.1", "192.0.2.2", "198.51.100.1", "2001:db8::51"}
	next := answering(dns.RcodeSuccess, test.A("app.example.org. 3600 IN A 203.0.113.9"))
	tests := []struct {
		policy string
		want   test.Case
	}{
		{"primary", test.Case{Answer: []dns.RR{test.A("app.example.org. 30 IN A 192.0.2.1"), test.A("app.example.org. 30 IN A 192.0.2.2")}}},
		{"all", test.Case{Answer: []dns.RR{test.A("app.example.org. 30 IN A 192.0.2.1"), test.A("app.example.org. 30 IN A 192.0.2.2"), test.A("app.example.org. 30 IN A 198.51.100.1")}}},
		{"servfail", test.Case{Rcode: dns.RcodeServerFailure}},
		// A NODATA with an SOA, made for the server block's zone: the chain gave none.
		{"nodata", test.Case{Ns: []dns.RR{test.SOA("example.org. 30 IN SOA ns.dns.example.org. hostmaster.example.org. 1 7200 1800 86400 30")}}},
	}
	for _, tc := range tests {
		t.Run(tc.policy, func(t *testing.T) {
			f := newTestFailover(t, `failover app.example.org {
				primary   192.0.2.1 192.0.2.2
				secondary 198.51.100.1 2001:db8::51
				check     tcp://:80
				all_down  `+tc.policy+`
			}`, next, down...)
			tc.want.Qname, tc.want.Qtype = "app.example.org.", dns.TypeA
			if err := test.SortAndCheck(serve(t, f, "app.example.org.", dns.TypeA), tc.want); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestFamilyWithoutAddressesPassesThrough(t *testing.T) {
	// v4.example.org has no IPv6 address in any pool: its AAAA answers are not failover's.
	aaaa := test.AAAA("v4.example.org. 300 IN AAAA 2001:db8::99")
	f := newTestFailover(t, testBlocks, answering(dns.RcodeSuccess, aaaa), "192.0.2.41")
	m := serve(t, f, "v4.example.org.", dns.TypeAAAA)
	if len(m.Answer) != 1 || m.Answer[0] != aaaa {
		t.Fatalf("AAAA for an IPv4-only name was changed: %v", m.Answer)
	}
}

func TestMixedFamilyPool(t *testing.T) {
	next := silent(dns.RcodeServerFailure)
	f := newTestFailover(t, testBlocks, next, "192.0.2.61")
	if err := test.SortAndCheck(serve(t, f, "mixed.example.org.", dns.TypeA), test.Case{Qname: "mixed.example.org.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("mixed.example.org. 30 IN A 192.0.2.62")}}); err != nil {
		t.Error(err)
	}
	if err := test.SortAndCheck(serve(t, f, "mixed.example.org.", dns.TypeAAAA), test.Case{Qname: "mixed.example.org.", Qtype: dns.TypeAAAA,
		Answer: []dns.RR{test.AAAA("mixed.example.org. 30 IN AAAA 2001:db8::62")}}); err != nil {
		t.Error(err)
	}
}

func TestCNAMEChainToGovernedName(t *testing.T) {
	next := answering(dns.RcodeSuccess,
		test.CNAME("www.example.org. 600 IN CNAME edge.example.org."),
		test.CNAME("edge.example.org. 600 IN CNAME app.example.org."),
		test.A("app.example.org. 20 IN A 203.0.113.9"),
		test.RRSIG("app.example.org. 20 IN RRSIG A 13 3 20 20300101000000 20200101000000 12345 example.org. c2ln"),
		test.RRSIG("www.example.org. 600 IN RRSIG CNAME 13 3 600 20300101000000 20200101000000 12345 example.org. c2ln"),
	)
	f := newTestFailover(t, testBlocks, next, "192.0.2.1", "192.0.2.2")
	m := serve(t, f, "www.example.org.", dns.TypeA)
	if err := test.CNAMEOrder(m); err != nil {
		t.Error(err)
	}
	// In the order SortAndCheck sorts to.
	want := test.Case{Qname: "www.example.org.", Qtype: dns.TypeA, Answer: []dns.RR{
		// The TTL is the lower of the zone's and the cap.
		test.A("app.example.org. 20 IN A 198.51.100.1"),
		test.CNAME("edge.example.org. 600 IN CNAME app.example.org."),
		test.CNAME("www.example.org. 600 IN CNAME edge.example.org."),
		// The signature over the untouched CNAME stays; the one over the replaced A goes.
		test.RRSIG("www.example.org. 600 IN RRSIG CNAME 13 3 600 20300101000000 20200101000000 12345 example.org. c2ln"),
	}}
	if err := test.SortAndCheck(m, want); err != nil {
		t.Error(err)
	}
}

func TestCNAMEChainWithoutAddresses(t *testing.T) {
	// A zone with a CNAME to the governed name, and nothing that resolves the target.
	next := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNameError)
		m.Answer = []dns.RR{test.CNAME("www.example.org. 600 IN CNAME app.example.org.")}
		m.Ns = []dns.RR{test.SOA("example.org. 300 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 300")}
		w.WriteMsg(m)
		return dns.RcodeNameError, nil
	})
	f := newTestFailover(t, testBlocks, next)
	m := serve(t, f, "www.example.org.", dns.TypeA)
	if err := test.CNAMEOrder(m); err != nil {
		t.Error(err)
	}
	want := test.Case{Qname: "www.example.org.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.A("app.example.org. 30 IN A 192.0.2.1"),
		test.A("app.example.org. 30 IN A 192.0.2.2"),
		test.CNAME("www.example.org. 600 IN CNAME app.example.org."),
	}}
	if err := test.SortAndCheck(m, want); err != nil {
		t.Error(err)
	}
	if !m.Authoritative {
		t.Error("failover's own answer is not authoritative")
	}
}

func TestGovernedNameWithCNAMEIsReplaced(t *testing.T) {
	// The governed name itself is an alias elsewhere: failover owns its addresses.
	next := answering(dns.RcodeSuccess,
		test.CNAME("app.example.org. 600 IN CNAME lb.example.net."),
		test.A("lb.example.net. 60 IN A 203.0.113.9"),
	)
	f := newTestFailover(t, testBlocks, next)
	want := test.Case{Qname: "app.example.org.", Qtype: dns.TypeA, Answer: []dns.RR{
		test.A("app.example.org. 30 IN A 192.0.2.1"),
		test.A("app.example.org. 30 IN A 192.0.2.2"),
	}}
	if err := test.SortAndCheck(serve(t, f, "app.example.org.", dns.TypeA), want); err != nil {
		t.Error(err)
	}
}

func TestAnswersWhenChainHasNoAddresses(t *testing.T) {
	nxdomain := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNameError)
		m.Ns = []dns.RR{test.SOA("example.org. 300 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 300")}
		w.WriteMsg(m)
		return dns.RcodeNameError, nil
	})
	nodata := answering(dns.RcodeSuccess)
	tests := []struct {
		name string
		next plugin.Handler
	}{
		{"NXDOMAIN", nxdomain},
		{"NODATA", nodata},
		{"written SERVFAIL", answering(dns.RcodeServerFailure)},
		{"written REFUSED", answering(dns.RcodeRefused)},
		{"silent SERVFAIL", silent(dns.RcodeServerFailure)},
		{"silent REFUSED", silent(dns.RcodeRefused)},
		{"no next plugin", nil},
	}
	want := test.Case{Qname: "app.example.org.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.A("app.example.org. 30 IN A 198.51.100.1"),
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFailover(t, testBlocks, tc.next, "192.0.2.1", "192.0.2.2")
			m := serve(t, f, "app.example.org.", dns.TypeA)
			if err := test.SortAndCheck(m, want); err != nil {
				t.Error(err)
			}
			if !m.Authoritative {
				t.Error("failover's own answer is not authoritative")
			}
		})
	}
}

func TestUntouched(t *testing.T) {
	tests := []struct {
		name, qname string
		qtype       uint16
	}{
		{"name not governed", "other.example.org.", dns.TypeA},
		{"subdomain of a governed name", "sub.app.example.org.", dns.TypeA},
		{"other type for a governed name", "app.example.org.", dns.TypeMX},
		{"TXT for a governed name", "app.example.org.", dns.TypeTXT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sent *dns.Msg
			next := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
				sent = new(dns.Msg)
				sent.SetReply(r)
				sent.Answer = []dns.RR{test.A(tc.qname + " 3600 IN A 203.0.113.9")}
				w.WriteMsg(sent)
				return dns.RcodeSuccess, nil
			})
			f := newTestFailover(t, testBlocks, next, "192.0.2.1")
			if got := serve(t, f, tc.qname, tc.qtype); got != sent {
				t.Errorf("the next plugin's message was replaced: %v", got)
			}
		})
	}

	// A name not governed that the chain does not answer stays unanswered.
	f := newTestFailover(t, testBlocks, nil)
	req := new(dns.Msg)
	req.SetQuestion("other.example.org.", dns.TypeA)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	if rcode, _ := f.ServeDNS(context.Background(), rec, req); rcode != dns.RcodeServerFailure || rec.Msg != nil {
		t.Errorf("no next plugin, name not governed: rcode %d, wrote %v; want SERVFAIL for the server to write", rcode, rec.Msg)
	}
}

func TestTTLCap(t *testing.T) {
	tests := []struct {
		zoneTTL, want uint32
	}{{3600, 30}, {30, 30}, {7, 7}, {0, 0}}
	for _, tc := range tests {
		next := answering(dns.RcodeSuccess, &dns.A{Hdr: dns.RR_Header{Name: "app.example.org.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: tc.zoneTTL}, A: []byte{203, 0, 113, 9}})
		f := newTestFailover(t, testBlocks, next)
		for _, rr := range serve(t, f, "app.example.org.", dns.TypeA).Answer {
			if rr.Header().Ttl != tc.want {
				t.Errorf("zone TTL %d: answered %v, want TTL %d", tc.zoneTTL, rr, tc.want)
			}
		}
	}
}

// TestNextRecordsNotMutated checks that a rewrite leaves the next plugin's
// records and section slices as they were: a cache or a zone may share them.
func TestNextRecordsNotMutated(t *testing.T) {
	a := test.A("app.example.org. 3600 IN A 203.0.113.9")
	sig := test.RRSIG("app.example.org. 3600 IN RRSIG A 13 3 3600 20300101000000 20200101000000 12345 example.org. c2ln")
	soa := test.SOA("example.org. 300 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 300")
	answer, authority := []dns.RR{a, sig}, []dns.RR{soa}
	before := sectionStrings(answer, authority)
	next := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.AuthenticatedData = true
		m.Answer, m.Ns = answer, authority
		w.WriteMsg(m)
		return dns.RcodeSuccess, nil
	})
	f := newTestFailover(t, testBlocks, next, "192.0.2.1")
	got := serve(t, f, "app.example.org.", dns.TypeA)

	if after := sectionStrings(answer, authority); after != before || answer[0] != a || answer[1] != sig || authority[0] != soa {
		t.Errorf("the next plugin's records were changed from\n%s\nto\n%s", before, after)
	}
	if len(got.Answer) != 1 || got.Answer[0].(*dns.A).A.String() != "192.0.2.2" {
		t.Errorf("answer not rewritten: %v", got.Answer)
	}
	if got.AuthenticatedData {
		t.Error("AD bit kept on a rewritten answer")
	}
	if len(got.Ns) != 1 || got.Ns[0] != soa {
		t.Errorf("authority section not kept: %v", got.Ns)
	}
}

// sectionStrings prints the records of sections, one a line.
func sectionStrings(sections ...[]dns.RR) string {
	var b strings.Builder
	for _, rrs := range sections {
		for _, rr := range rrs {
			b.WriteString(rr.String() + "\n")
		}
		b.WriteString("--\n")
	}
	return b.String()
}

func TestQueryNameCaseKept(t *testing.T) {
	f := newTestFailover(t, testBlocks, answering(dns.RcodeSuccess, test.A("aPp.ExAmple.org. 60 IN A 203.0.113.9")))
	m := serve(t, f, "aPp.ExAmple.org.", dns.TypeA)
	if len(m.Answer) != 2 || m.Answer[0].Header().Name != "aPp.ExAmple.org." || m.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Errorf("mixed-case query: %v", m.Answer)
	}
}

func TestRawWriteIsRewritten(t *testing.T) {
	next := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = []dns.RR{test.A("app.example.org. 60 IN A 203.0.113.9")}
		buf, _ := m.Pack()
		w.Write(buf)
		return dns.RcodeSuccess, nil
	})
	f := newTestFailover(t, testBlocks, next, "192.0.2.1")
	req := new(dns.Msg)
	req.SetQuestion("app.example.org.", dns.TypeA)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	f.ServeDNS(context.Background(), rec, req)
	if rec.Msg == nil || len(rec.Msg.Answer) != 1 || rec.Msg.Answer[0].(*dns.A).A.String() != "192.0.2.2" {
		t.Errorf("raw write not rewritten: %v", rec.Msg)
	}
}

// TestTracedQueryGetsNextPluginSpan checks that a traced query still gets a
// span for the next plugin, as plugin.NextOrFailure makes.
func TestTracedQueryGetsNextPluginSpan(t *testing.T) {
	f := newTestFailover(t, testBlocks, answering(dns.RcodeSuccess, test.A("app.example.org. 60 IN A 203.0.113.9")))
	tracer := mocktracer.New()
	root := tracer.StartSpan("query")
	ctx := ot.ContextWithSpan(context.Background(), root)
	req := new(dns.Msg)
	req.SetQuestion("app.example.org.", dns.TypeA)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	if _, err := f.ServeDNS(ctx, rec, req); err != nil {
		t.Fatal(err)
	}
	root.Finish()
	if rec.Msg == nil || len(rec.Msg.Answer) != 2 {
		t.Fatalf("traced query answered %v", rec.Msg)
	}
	if spans := tracer.FinishedSpans(); len(spans) != 2 || spans[0].ParentID != root.(*mocktracer.MockSpan).SpanContext.SpanID {
		t.Errorf("spans %v: want the next plugin's span under the query's", spans)
	}
}

// TestReadyOnceJudged checks that failover is ready once every endpoint has a
// verdict, even when every endpoint is down.
func TestReadyOnceJudged(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.61:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // refused: every probe fails
	f, err := parse(caddy.NewTestController("dns", fmt.Sprintf("failover a.example.org {\nprimary 127.0.0.61\ncheck tcp://:%d\n}", port)))
	if err != nil {
		t.Fatal(err)
	}
	var _ ready.Readiness = f
	if f.Ready() {
		t.Error("ready before any probe")
	}
	f.OnStartup()
	defer f.OnShutdown()
	if !f.Ready() || f.blocks[0].pools[0].members[0].endpoint.Healthy() {
		t.Errorf("after startup: ready %t, healthy %t; want ready with the endpoint down", f.Ready(), f.blocks[0].pools[0].members[0].endpoint.Healthy())
	}
}
