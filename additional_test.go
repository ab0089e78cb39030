package failover

import (
	"context"
	"slices"
	"testing"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// TestAdditionalSection checks that the addresses of governed names that come
// with an answer (MX, SRV, NS targets, glue) are the ones an A or AAAA query
// gets, or are dropped when it gets none.
func TestAdditionalSection(t *testing.T) {
	const blocks = testBlocks + `
failover mail.example.org {
	primary   192.0.2.25
	check     tcp://:25
	all_down  nodata
}`
	extra := []dns.RR{
		test.A("app.example.org. 3600 IN A 203.0.113.9"),
		test.A("app.example.org. 3600 IN A 203.0.113.10"),
		test.RRSIG("app.example.org. 3600 IN RRSIG A 13 3 3600 20300101000000 20200101000000 12345 example.org. c2ln"),
		test.AAAA("app.example.org. 3600 IN AAAA 2001:db8::99"),
		test.AAAA("v4.example.org. 3600 IN AAAA 2001:db8::41"), // a family failover leaves alone
		test.A("mail.example.org. 3600 IN A 203.0.113.25"),     // all down, nodata: dropped
		test.A("other.example.org. 3600 IN A 203.0.113.11"),    // not governed
		test.RRSIG("other.example.org. 3600 IN RRSIG A 13 3 3600 20300101000000 20200101000000 12345 example.org. c2ln"),
	}
	want := []dns.RR{
		test.A("app.example.org. 30 IN A 198.51.100.1"),
		test.AAAA("app.example.org. 30 IN AAAA 2001:db8::51"),
		test.AAAA("v4.example.org. 3600 IN AAAA 2001:db8::41"),
		test.A("other.example.org. 3600 IN A 203.0.113.11"),
		test.RRSIG("other.example.org. 3600 IN RRSIG A 13 3 3600 20300101000000 20200101000000 12345 example.org. c2ln"),
	}
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		answer []dns.RR
		ns     []dns.RR
	}{
		{"MX targets", "example.org.", dns.TypeMX, []dns.RR{test.MX("example.org. 3600 IN MX 10 app.example.org.")}, nil},
		{"SRV targets", "_http._tcp.example.org.", dns.TypeSRV, []dns.RR{test.SRV("_http._tcp.example.org. 3600 IN SRV 0 0 80 app.example.org.")}, nil},
		{"NS set", "example.org.", dns.TypeNS, []dns.RR{test.NS("example.org. 3600 IN NS app.example.org.")}, nil},
		{"glue of a referral", "x.sub.example.org.", dns.TypeA, nil, []dns.RR{test.NS("sub.example.org. 3600 IN NS app.example.org.")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			shared := slices.Clone(extra)
			next := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
				m := new(dns.Msg)
				m.SetReply(r)
				m.Answer, m.Ns, m.Extra = tc.answer, tc.ns, shared
				w.WriteMsg(m)
				return dns.RcodeSuccess, nil
			})
			f := newTestFailover(t, blocks, next, "192.0.2.1", "192.0.2.2", "192.0.2.25")
			m := serve(t, f, tc.qname, tc.qtype)
			if err := test.Section(test.Case{Qname: tc.qname, Extra: want}, test.Extra, m.Extra); err != nil || len(m.Extra) != len(want) {
				t.Errorf("additional section %v: %v", m.Extra, err)
			}
			if !slices.Equal(shared, extra) {
				t.Error("the chain's additional section was changed")
			}
		})
	}
}

// TestANYAddressesRewritten checks the addresses in an answer to ANY.
func TestANYAddressesRewritten(t *testing.T) {
	next := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = []dns.RR{test.A("app.example.org. 3600 IN A 203.0.113.9"), test.TXT(`app.example.org. 3600 IN TXT "x"`)}
		w.WriteMsg(m)
		return dns.RcodeSuccess, nil
	})
	f := newTestFailover(t, testBlocks, next, "192.0.2.1")
	want := test.Case{Qname: "app.example.org.", Qtype: dns.TypeANY, Answer: []dns.RR{
		test.A("app.example.org. 30 IN A 192.0.2.2"), test.TXT(`app.example.org. 3600 IN TXT "x"`)}}
	if err := test.SortAndCheck(serve(t, f, "app.example.org.", dns.TypeANY), want); err != nil {
		t.Error(err)
	}
}

// TestSVCBHints checks the address hints of SVCB and HTTPS records whose
// target is governed, in the answer and in the additional section.
func TestSVCBHints(t *testing.T) {
	const blocks = testBlocks + `
failover gone.example.org {
	primary   192.0.2.71 2001:db8::71
	check     tcp://:80
	all_down  nodata
}`
	answer := []dns.RR{
		httpsRR(t, `app.example.org. 300 IN HTTPS 1 . alpn="h2" ipv4hint="192.0.2.1,192.0.2.2" ipv6hint="2001:db8::99"`),
		test.RRSIG("app.example.org. 300 IN RRSIG HTTPS 13 3 300 20300101000000 20200101000000 12345 example.org. c2ln"),
		httpsRR(t, `www.example.org. 300 IN HTTPS 1 gone.example.org. alpn="h2" ipv4hint="192.0.2.71" ipv6hint="2001:db8::71"`),
		httpsRR(t, `v4.example.org. 300 IN HTTPS 1 . ipv4hint="192.0.2.41" ipv6hint="2001:db8::41"`),
		httpsRR(t, `other.example.org. 300 IN HTTPS 1 . ipv4hint="203.0.113.1"`),
		httpsRR(t, `alias.example.org. 300 IN HTTPS 0 app.example.org.`),
	}
	before := sectionStrings(answer)
	next := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.AuthenticatedData = true
		m.Answer = answer
		w.WriteMsg(m)
		return dns.RcodeSuccess, nil
	})
	f := newTestFailover(t, blocks, next, "192.0.2.1", "192.0.2.71", "2001:db8::71")
	m := serve(t, f, "app.example.org.", dns.TypeHTTPS)
	want := []string{
		// Failed over to the secondary, which has IPv6 too.
		"app.example.org.\t300\tIN\tHTTPS\t1 . alpn=\"h2\" ipv4hint=\"192.0.2.2\" ipv6hint=\"2001:db8::51\"",
		// All down, nodata: no hint at all.
		"www.example.org.\t300\tIN\tHTTPS\t1 gone.example.org. alpn=\"h2\"",
		// IPv6 is not governed for v4.example.org.
		"v4.example.org.\t300\tIN\tHTTPS\t1 . ipv4hint=\"192.0.2.41\" ipv6hint=\"2001:db8::41\"",
		"other.example.org.\t300\tIN\tHTTPS\t1 . ipv4hint=\"203.0.113.1\"",
		"alias.example.org.\t300\tIN\tHTTPS\t0 app.example.org.",
	}
	var got []string
	for _, rr := range m.Answer {
		got = append(got, rr.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("answer\n%s\nwant (the signature over the rewritten record dropped)\n%s", sectionStrings(m.Answer), want)
	}
	if m.AuthenticatedData {
		t.Error("AD kept on rewritten hints")
	}
	if after := sectionStrings(answer); after != before {
		t.Errorf("the chain's records were changed:\n%s", after)
	}
}

func httpsRR(t *testing.T, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}
