package failover

import (
	"context"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	_ "github.com/coredns/coredns/plugin/loadbalance" // the yardstick for rewriting a response
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// hostsLike answers every A query the way the hosts plugin does: a new message
// with new records, the name's address at TTL 3600.
var hostsLike = plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.Answer = []dns.RR{&dns.A{
		Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 3600},
		A:   []byte{203, 0, 113, 9},
	}}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
})

// passThrough is the least a plugin can do: hand the query on.
var passThrough = plugin.HandlerFunc(func(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	return plugin.NextOrFailure("passthrough", hostsLike, ctx, w, r)
})

// loadbalanceOver returns CoreDNS's loadbalance plugin, set up from a Corefile line, over next.
func loadbalanceOver(b *testing.B, next plugin.Handler) plugin.Handler {
	c := caddy.NewTestController("dns", "loadbalance")
	setup, err := caddy.DirectiveAction("dns", "loadbalance")
	if err != nil {
		b.Fatal(err)
	}
	if err := setup(c); err != nil {
		b.Fatal(err)
	}
	return dnsserver.GetConfig(c).Plugin[0](next)
}

// BenchmarkServeDNS measures what failover adds to a query, against passThrough
// (a plugin that only calls the next one) and loadbalance (a plugin that
// rewrites the same answer). Compare allocs/op and ns/op within one run.
func BenchmarkServeDNS(b *testing.B) {
	const corefile = `failover app.example.org {
		primary   192.0.2.1 192.0.2.2
		secondary 198.51.100.1
		check     tcp://:80
	}`
	newFailover := func(b *testing.B, next plugin.Handler, down ...string) plugin.Handler {
		f, err := parse(caddy.NewTestController("dns", corefile))
		if err != nil {
			b.Fatal(err)
		}
		f.Next = next
		f.state.Store(buildSnapshot(f.blocks, func(m member) bool {
			for _, d := range down {
				if m.addr.String() == d {
					return false
				}
			}
			return true
		}))
		return f
	}

	cases := []struct {
		name    string
		handler func(b *testing.B) plugin.Handler
		qname   string
		qtype   uint16 // A when 0
	}{
		{"baseline: pass-through plugin", func(*testing.B) plugin.Handler { return passThrough }, "other.example.org.", 0},
		{"not governed", func(b *testing.B) plugin.Handler { return newFailover(b, hostsLike) }, "other.example.org.", 0},
		{"not governed, mixed case", func(b *testing.B) plugin.Handler { return newFailover(b, hostsLike) }, "Other.Example.org.", 0},
		{"yardstick: loadbalance rewriting hosts", func(b *testing.B) plugin.Handler { return loadbalanceOver(b, hostsLike) }, "app.example.org.", 0},
		{"governed, primary healthy, rewriting hosts", func(b *testing.B) plugin.Handler { return newFailover(b, hostsLike) }, "app.example.org.", 0},
		{"governed, failed over, rewriting hosts", func(b *testing.B) plugin.Handler {
			return newFailover(b, hostsLike, "192.0.2.1", "192.0.2.2")
		}, "app.example.org.", 0},
		{"governed, answered by failover alone", func(b *testing.B) plugin.Handler { return newFailover(b, nil) }, "app.example.org.", 0},
		{"not governed, TXT", func(b *testing.B) plugin.Handler { return newFailover(b, hostsLike) }, "other.example.org.", dns.TypeTXT},
		{"not governed, MX (additional section checked)", func(b *testing.B) plugin.Handler { return newFailover(b, hostsLike) }, "other.example.org.", dns.TypeMX},
		{"governed, TXT denied: NODATA made", func(b *testing.B) plugin.Handler { return newFailover(b, nil) }, "app.example.org.", dns.TypeTXT},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			h := tc.handler(b)
			req := new(dns.Msg)
			qtype := tc.qtype
			if qtype == 0 {
				qtype = dns.TypeA
			}
			req.SetQuestion(tc.qname, qtype)
			w := &test.ResponseWriter{}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeDNS(ctx, w, req)
			}
		})
	}
}
