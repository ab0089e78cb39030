package failover

import (
	"context"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// FuzzSetup feeds the Corefile parser arbitrary input: it must return a valid
// configuration or an error, never panic.
func FuzzSetup(f *testing.F) {
	f.Add(testBlocks)
	f.Add("failover a.example.org {\nprimary 192.0.2.1\ncheck tcp://:80\ninterval 1s\ntimeout 500ms\n}")
	f.Add("failover a.example.org {\nprimary 192.0.2.1\ncheck tcp://:80\noverride overrides\nstatus [::1]:8054\n}")
	// What setup refuses, and what it accepts but rewrites.
	f.Add("failover bücher.example.org \\097pp.example.org a\\.b.example.org {\nprimary ::ffff:192.0.2.1 2001:db8::1@::ffff:10.0.0.1\ncheck tcp://:80\n}")
	f.Add("failover b\xfccher.example.org \u0301a.example.org {\nprimary 192.0.2.1\ncheck tcp://:80\n}")
	f.Add("failover " + strings.Repeat("ü", 60) + ".example.org {\nprimary 192.0.2.1\ncheck tcp://:80\n}")
	f.Add("failover a.example.org {\nprimary 192.0.2.1 ::ffff:192.0.2.1 0.0.0.0 :: 255.255.255.255 224.0.0.1 ff02::1 fe80::1\ncheck tcp://:80\n}")
	f.Add("failover a.example.org {\nprimary 192.0.2.1@0.0.0.0 192.0.2.2@[fe80::1]:80\ncheck tcp://:80\n}")
	f.Fuzz(func(t *testing.T, input string) {
		for _, corefile := range []string{input, "failover " + input} {
			fo, err := parse(caddy.NewTestController("dns", corefile))
			if err != nil {
				if !strings.Contains(err.Error(), "Testfile:") {
					t.Errorf("error %q does not name the line", err)
				}
				continue
			}
			for _, b := range fo.blocks {
				for _, name := range b.names {
					// A name accepted is one a query presents: normalizing it again changes nothing.
					if again, err := queryName(name); err != nil || again != name {
						t.Errorf("accepted name %q that a query does not present (%q, %v)", name, again, err)
					}
				}
				for _, pl := range b.pools {
					for _, m := range pl.members {
						if m.addr.Is4In6() || unreachable(m.addr) != "" || unreachable(m.checkAddr) != "" {
							t.Errorf("accepted address %s (checked at %s) from %q", m.addr, m.checkAddr, corefile)
						}
					}
				}
				if len(b.names) == 0 || len(b.pools) == 0 || len(b.probe.Checks) == 0 ||
					b.probe.Timeout <= 0 || b.probe.Timeout >= b.probe.Interval || b.probe.Fall < 1 || b.probe.Rise < 1 {
					t.Errorf("accepted an invalid block %+v from %q", b, corefile)
				}
			}
		}
	})
}

// FuzzServeDNS feeds ServeDNS an arbitrary query and an arbitrary response from
// the next plugin, written as a message or as raw bytes. It must never panic nor
// change the next plugin's records or section slices.
func FuzzServeDNS(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed.query, seed.response, seed.raw)
	}
	fo, err := parse(caddy.NewTestController("dns", testBlocks))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, query, response []byte, raw bool) {
		req := new(dns.Msg)
		if req.Unpack(query) != nil || len(req.Question) == 0 {
			return // the server never hands such a query to a plugin
		}
		var sections [][]dns.RR
		var before string
		packable := false
		next := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, _ *dns.Msg) (int, error) {
			if raw {
				w.Write(response)
				return dns.RcodeSuccess, nil
			}
			m := new(dns.Msg)
			if m.Unpack(response) != nil {
				return dns.RcodeServerFailure, nil // wrote nothing
			}
			sections = [][]dns.RR{m.Answer, m.Ns, m.Extra}
			before = sectionStrings(sections...)
			_, err := m.Copy().Pack() // Pack writes the extended rcode into the OPT record: on a copy
			packable = err == nil
			w.WriteMsg(m)
			return m.Rcode, nil
		})
		fo.Next = next
		// Some endpoints down, so that every kind of choice is exercised.
		fo.state.Store(buildSnapshot(fo.blocks, func(m member) bool { return len(query)%3 != 0 || m.addr.Is6() }))
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		fo.ServeDNS(context.Background(), rec, req)
		if after := sectionStrings(sections...); after != before {
			t.Errorf("next plugin's records changed:\n%s\nto\n%s", before, after)
		}
		if rec.Msg != nil && packable {
			if _, err := rec.Msg.Pack(); err != nil {
				t.Errorf("packable response became unpackable: %v\n%s", err, rec.Msg)
			}
		}
	})
}

type fuzzSeed struct {
	query, response []byte
	raw             bool
}

func fuzzSeeds(f *testing.F) []fuzzSeed {
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	q := func(name string, qtype uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		return m
	}
	reply := func(req *dns.Msg, rcode int, rrs ...dns.RR) []byte {
		m := new(dns.Msg)
		m.SetRcode(req, rcode)
		m.Answer = rrs
		return pack(m)
	}
	a, www, aaaa := q("app.example.org.", dns.TypeA), q("www.example.org.", dns.TypeA), q("mixed.example.org.", dns.TypeAAAA)
	txt, mx, https := q("app.example.org.", dns.TypeTXT), q("example.org.", dns.TypeMX), q("app.example.org.", dns.TypeHTTPS)
	hint, err := dns.NewRR(`app.example.org. 300 IN HTTPS 1 . ipv4hint="203.0.113.9" ipv6hint="2001:db8::9"`)
	if err != nil {
		f.Fatal(err)
	}
	return []fuzzSeed{
		{pack(a), reply(a, dns.RcodeSuccess, test.A("app.example.org. 60 IN A 203.0.113.9")), false},
		{pack(a), reply(a, dns.RcodeNameError), false},
		{pack(a), nil, false},
		{pack(www), reply(www, dns.RcodeSuccess,
			test.CNAME("www.example.org. 60 IN CNAME app.example.org."),
			test.CNAME("app.example.org. 60 IN CNAME www.example.org."),
			test.A("app.example.org. 60 IN A 203.0.113.9")), false},
		{pack(www), reply(www, dns.RcodeSuccess, test.CNAME("www.example.org. 60 IN CNAME app.example.org.")), true},
		{pack(aaaa), reply(aaaa, dns.RcodeServerFailure), true},
		// Negative answers, referrals, the additional section and hints (negative.go, referral.go, additional.go, hints.go).
		{pack(txt), pack(withSections(txt, dns.RcodeNameError, nil, []dns.RR{test.SOA("example.org. 300 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 300")}, nil)), false},
		{pack(a), pack(withSections(a, dns.RcodeSuccess, nil, []dns.RR{test.NS("example.org. 300 IN NS ns.example.org.")}, []dns.RR{test.A("ns.example.org. 300 IN A 192.0.2.53")})), false},
		{pack(mx), pack(withSections(mx, dns.RcodeSuccess, []dns.RR{test.MX("example.org. 300 IN MX 10 app.example.org.")}, nil,
			[]dns.RR{test.A("app.example.org. 300 IN A 203.0.113.9"), test.AAAA("app.example.org. 300 IN AAAA 2001:db8::9")})), false},
		{pack(https), pack(withSections(https, dns.RcodeSuccess, []dns.RR{hint}, nil, nil)), false},
	}
}

// withSections returns the reply to req with rcode and the sections given.
func withSections(req *dns.Msg, rcode int, answer, ns, extra []dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	m.Answer, m.Ns, m.Extra = answer, ns, extra
	return m
}
