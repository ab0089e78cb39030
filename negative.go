package failover

import (
	"strings"

	"github.com/coredns/coredns/plugin/pkg/dnsutil"
	"github.com/miekg/dns"
)

// A name failover answers A or AAAA for exists, whatever the rest of the chain
// says. Its other types, and a family no pool has an address of, are NODATA
// (RFC 2308, section 2.2), never NXDOMAIN: a resolver caches an NXDOMAIN for
// the whole name (RFC 8020), and one that asked HTTPS or AAAA first would then
// deny the A that failover answers. Like every negative answer, the NODATA
// carries the zone's SOA: without one a resolver caches it briefly or not at
// all, or discards it.

// settleNegative makes res a NODATA with an SOA when it denies a name that
// failover governs, or one above it (ent.go): the rest of the chain said NXDOMAIN for it, or NOERROR with
// neither records nor SOA, or failover itself removed its addresses (decided
// is a choice without addresses, all_down nodata). The chain's real records of
// the name and its own NODATA are kept, and so is every answer about another
// name.
//
// The name is the query name or, for a query that follows CNAMEs, the end of
// the answer's CNAME chain: the NODATA is about the name the chain leads to.
func settleNegative(req, res *dns.Msg, snap *snapshot, decided *choice) *dns.Msg {
	q := req.Question[0]
	made := decided != nil && decided.rcode == dns.RcodeSuccess && len(decided.ips) == 0
	if !made && res.Rcode != dns.RcodeNameError && res.Rcode != dns.RcodeSuccess {
		return res
	}
	name := deniedName(q, res.Answer)
	// The cheap checks of the answer first: most answers have records, and
	// most names are not governed.
	if !made {
		if owns(res.Answer, name) {
			return res // the chain's records of the name: a TXT, the AAAA of a family failover leaves alone
		}
		if res.Rcode == dns.RcodeSuccess && soaOf(res.Ns, name) != nil {
			return res // the chain's own NODATA
		}
	}
	d := snap.exists(name)
	if d == nil {
		return res
	}
	res.Rcode = dns.RcodeSuccess
	res.Authoritative = true
	// The chain's proof of non-existence (NSEC, NSEC3 and their signatures)
	// no longer holds; a validator will not trust the answer either way.
	res.AuthenticatedData = false
	ttl := d.block.ttl
	if made {
		ttl = decided.ttl // short while a change may come (ttl SECONDS MIN)
	}
	res.Ns = []dns.RR{negativeSOA(res.Ns, d, name, ttl)}
	return res
}

// deniedName is the name a negative answer to q is about: the end of the
// answer's CNAME chain from the query name, or the query name for the types
// that do not follow CNAMEs.
func deniedName(q dns.Question, answer []dns.RR) string {
	if q.Qtype == dns.TypeCNAME || q.Qtype == dns.TypeANY || len(answer) == 0 {
		return q.Name
	}
	var chainBuf [4]string
	chain := cnameChain(append(chainBuf[:0], q.Name), answer)
	return chain[len(chain)-1]
}

// owns reports whether section has a record owned by name.
func owns(section []dns.RR, name string) bool {
	for _, rr := range section {
		if strings.EqualFold(rr.Header().Name, name) {
			return true
		}
	}
	return false
}

// soaOf returns the SOA of ns that can stand for name: one owned by name or
// an ancestor of it. Resolvers discard any other.
func soaOf(ns []dns.RR, name string) *dns.SOA {
	for _, rr := range ns {
		if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(soa.Hdr.Name, name) {
			return soa
		}
	}
	return nil
}

// negativeSOA returns the SOA of a NODATA that failover makes for name: a
// copy of the zone's from the rest of the chain when it is the server block's
// zone or one below it, else one made for the zone of the server block (see
// soaOwner). Its TTL, which resolvers cache the NODATA for (RFC 2308, section
// 5), is the SOA minimum bounded by ttl, the block's: a name whose answer can
// change with health is not denied for longer than its addresses are cached.
func negativeSOA(ns []dns.RR, d *decision, name string, ttl uint32) *dns.SOA {
	zone := d.block.soaOwner(name)
	if soa := soaOf(ns, name); soa != nil {
		ttl = min(soa.Hdr.Ttl, soa.Minttl, ttl)
		if dns.IsSubDomain(zone, soa.Hdr.Name) {
			cp := *soa // the chain's record may be shared by a cache or a zone
			cp.Hdr.Ttl = ttl
			return &cp
		}
	}
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:      dnsutil.Join("ns.dns", zone),
		Mbox:    dnsutil.Join("hostmaster", zone),
		Serial:  d.block.serial,
		Refresh: 7200, // as the SOA that kubernetes and etcd make
		Retry:   1800,
		Expire:  86400,
		Minttl:  ttl,
	}
}

// soaOwner is the owner of the SOA of a NODATA for name: the most specific
// zone of the server block that holds it.
//
// A root server block (a forwarding server) is authoritative for no zone but
// failover's names: there each name is its own zone. The SOA that its
// upstream gives (example.net's, from a public resolver) is not CoreDNS's,
// and a resolver discards an SOA above the zone it forwards or stubs to
// CoreDNS: BIND 9.18 with a forward zone for the name alone answers SERVFAIL,
// Unbound's stub zone drops the SOA. An SOA owned by the name is inside every
// such zone.
func (b *block) soaOwner(name string) string {
	zone := b.zones.Matches(name)
	if zone == "" || zone == "." {
		return dns.Fqdn(strings.ToLower(name))
	}
	return zone
}
