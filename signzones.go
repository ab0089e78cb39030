package failover

import (
	"context"
	"net"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/dnssec"
	"github.com/miekg/dns"
)

// findSigner looks for the dnssec plugin in cfg, the configuration of f's
// server block, and makes f sign with it (sign.go). It runs at startup: the
// plugins of a server block are known once CoreDNS has built its chain.
func (f *Failover) findSigner(cfg *dnsserver.Config) error {
	d, ok := cfg.Handler("dnssec").(dnssec.Dnssec)
	if !ok {
		return nil
	}
	s := newSigner(d, f.blocks)
	if s != nil {
		log.Infof("server block %s: the answers failover makes for names in %v are signed with dnssec's keys", f.server, []string(s.zones))
	}
	f.signer.Store(s)
	return nil
}

// newSigner returns the signer of the governed names of blocks with d, the
// dnssec plugin of their server block, or nil when none of them is in a zone
// d signs.
//
// dnssec keeps its zones to itself; what it shows of them is that it answers
// DNSKEY queries for their apexes. A copy of it, with a next plugin that
// answers nothing, is asked for the DNSKEY of each governed name and of every
// name above it: the most specific apex above a name is the zone dnssec signs
// it in. dnssec answers those queries from its keys, without signing
// (the queries do not ask for DNSSEC records), and its copy shares nothing
// that the queries change.
func newSigner(d dnssec.Dnssec, blocks []*block) *signer {
	probe := d
	probe.Next = answersNothing
	asked := map[string]bool{}
	var zones plugin.Zones
	for _, b := range blocks {
		for _, name := range b.names {
			for off, end := 0, false; ; off, end = dns.NextLabel(name, off) {
				apex := "."
				if !end {
					apex = name[off:]
				}
				if asked[apex] {
					break // and every name above it
				}
				asked[apex] = true
				if answersDNSKEY(probe, apex) {
					zones = append(zones, apex)
				}
				if end {
					break
				}
			}
		}
	}
	if len(zones) == 0 {
		return nil
	}
	s := &signer{dnssec: d, zones: zones, signed: map[string]bool{}}
	for _, b := range blocks {
		for _, name := range b.names {
			if zones.Matches(name) != "" {
				s.signed[name] = true
			}
		}
	}
	return s
}

// answersNothing is the next plugin of the copy of dnssec that newSigner asks:
// a query that dnssec does not answer itself is not answered at all.
var answersNothing = plugin.HandlerFunc(func(context.Context, dns.ResponseWriter, *dns.Msg) (int, error) {
	return dns.RcodeSuccess, nil
})

// answersDNSKEY reports whether d answers a DNSKEY query for name with keys:
// whether name is the apex of a zone that d signs.
func answersDNSKEY(d dnssec.Dnssec, name string) bool {
	r := new(dns.Msg)
	r.SetQuestion(name, dns.TypeDNSKEY)
	w := &keysWriter{}
	d.ServeDNS(context.Background(), w, r)
	return w.res != nil && len(w.res.Answer) > 0 && w.res.Answer[0].Header().Rrtype == dns.TypeDNSKEY
}

// keysWriter keeps the response written to the question newSigner asks.
type keysWriter struct{ res *dns.Msg }

func (w *keysWriter) WriteMsg(m *dns.Msg) error   { w.res = m; return nil }
func (w *keysWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *keysWriter) LocalAddr() net.Addr         { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (w *keysWriter) RemoteAddr() net.Addr        { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (w *keysWriter) Close() error                { return nil }
func (w *keysWriter) TsigStatus() error           { return nil }
func (w *keysWriter) TsigTimersOnly(bool)         {}
func (w *keysWriter) Hijack()                     {}
