package failover

import (
	"slices"
	"strings"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/dnssec"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// CoreDNS runs dnssec after cache, and so after failover: dnssec signs the
// answer of the rest of the chain, and failover then replaces records of it.
// The records failover makes (the addresses of a governed name, in the answer
// and the additional section, the hints of SVCB and HTTPS records, the NODATA
// of a name that exists) cannot carry the chain's signatures. With dnssec in
// the server block, failover has them signed by dnssec itself: with its keys,
// its signature cache, and for a NODATA its denial of existence (an NSEC
// "black lie"), as dnssec would have signed them had the rest of the chain
// answered them. The records failover keeps (a CNAME that leads to a governed
// name, the chain's own NODATA) keep the chain's signatures. failover stays
// before cache, so that a health change reaches answers served from cache.

// signer signs, for the queries that ask for DNSSEC records, the records
// failover makes, with the dnssec plugin of the server block.
type signer struct {
	dnssec dnssec.Dnssec
	zones  plugin.Zones    // the zones of dnssec that hold a governed name: the signer of its records
	signed map[string]bool // the governed names in one of them, looked up without an allocation
}

// signTTL is the TTL of the records failover has dnssec sign. dnssec keys its
// signature cache on the records' text, TTL included, and the TTL of an
// answer changes (cache counts it down): signed at a TTL of their own, the
// same records hit the cache on every query. The signature does not depend on
// the TTL: dnssec signs at an original TTL of its own (3600), which the RRSIG
// carries and validators check against.
const signTTL = 3600

// sign returns res, the response to req that failover rewrote, with the
// records failover made signed, when req asks for DNSSEC records (the DO bit):
//
//   - a NODATA that failover made (an authority section of one unsigned
//     SOA): the SOA and dnssec's NSEC for the denied name, with their
//     signatures, as dnssec signs a NODATA of the chain;
//   - in an answer with records: the address records of governed names, in
//     the answer and the additional section, and the SVCB and HTTPS records
//     whose hints failover rewrote (those left unsigned).
//
// A referral and the chain's NODATA are left as they are: dnssec signs no
// additional records there. server labels dnssec's cache metrics.
func (s *signer) sign(server string, req, res *dns.Msg, snap *snapshot) *dns.Msg {
	if res == nil || res.Rcode != dns.RcodeSuccess || len(req.Question) == 0 || !wantsDNSSEC(req) {
		return res
	}
	now := time.Now().UTC()
	s.signNODATA(server, now, req.Question[0], res)
	if len(res.Answer) > 0 {
		s.signRecords(server, now, req, res, snap)
	}
	return res
}

// wantsDNSSEC reports whether req has the DO bit: dnssec signs those alone.
func wantsDNSSEC(req *dns.Msg) bool {
	opt := req.IsEdns0()
	return opt != nil && opt.Do()
}

// signNODATA signs the NODATA that failover made for the name that res, the
// response to q, denies: it asks dnssec to sign the message dnssec would have
// seen had the chain made that NODATA, whose question is the denied name.
func (s *signer) signNODATA(server string, now time.Time, q dns.Question, res *dns.Msg) {
	if len(res.Ns) != 1 {
		return
	}
	soa, ok := res.Ns[0].(*dns.SOA)
	name := deniedName(q, res.Answer)
	if !ok || owns(res.Answer, name) {
		return
	}
	zone := s.zones.Matches(name)
	if zone == "" {
		return
	}
	// dnssec signs the SOA with the zone's keys, as the SOA of that zone;
	// failover makes its SOA for the server block's zone, which may lie
	// above the zone dnssec signs.
	cp := *soa
	if !dns.IsSubDomain(zone, cp.Hdr.Name) {
		cp.Hdr.Name = zone
	}
	ttl := cp.Hdr.Ttl
	cp.Hdr.Ttl = signTTL
	m := new(dns.Msg)
	m.Question = []dns.Question{{Name: strings.ToLower(name), Qtype: q.Qtype, Qclass: dns.ClassINET}}
	m.Ns = []dns.RR{&cp}
	m = s.dnssec.Sign(request.Request{Req: m, Zone: zone}, now, server)
	if len(m.Ns)+len(m.Answer) == 1 {
		return // not signed: dnssec could not sign with its keys
	}
	cp.Hdr.Ttl = ttl
	// As dnssec, the denial answers a query for NSEC in the answer section.
	res.Answer = appendStamped(slices.Clip(res.Answer), m.Answer, ttl, "")
	res.Ns = appendStamped(nil, m.Ns, ttl, "")
}

// rrset is an RRset of a section of res that failover made, to be signed.
type rrset struct {
	section *[]dns.RR
	name    string // as res has it
	rrtype  uint16
	ttl     uint32 // the lowest of its records'
}

// signRecords signs the RRsets that failover made in the answer and the
// additional section of res, a response with records.
func (s *signer) signRecords(server string, now time.Time, req, res *dns.Msg, snap *snapshot) {
	var setsBuf [2]rrset
	sets := s.madeIn(setsBuf[:0], &res.Answer, snap)
	sets = s.madeIn(sets, &res.Extra, snap)
	if len(sets) == 0 {
		return
	}
	// One message for dnssec to sign: the copies of the records at signTTL,
	// each RRset once, under a lower-case name (dnssec's cache keys on the
	// case too, and a resolver may ask in any case).
	m := new(dns.Msg)
	m.Question = req.Question
	for i, set := range sets {
		if slices.ContainsFunc(sets[:i], set.same) {
			continue // the RRset of the answer, in the additional section too
		}
		for _, rr := range *set.section {
			if h := rr.Header(); h.Rrtype == set.rrtype && strings.EqualFold(h.Name, set.name) {
				cp := copyRR(rr)
				cp.Header().Name = strings.ToLower(h.Name)
				cp.Header().Ttl = signTTL
				m.Answer = append(m.Answer, cp)
			}
		}
	}
	records := len(m.Answer)
	m = s.dnssec.Sign(request.Request{Req: m}, now, server)
	for _, set := range sets {
		// The section slices may be the chain's: appended to, they are copied.
		section := slices.Clip(*set.section)
		for _, rr := range m.Answer[records:] {
			if sig, ok := rr.(*dns.RRSIG); ok && sig.TypeCovered == set.rrtype && strings.EqualFold(sig.Hdr.Name, set.name) {
				section = appendStamped(section, []dns.RR{sig}, set.ttl, set.name)
			}
		}
		*set.section = section
	}
}

// madeIn appends to sets the RRsets of section that failover made: the
// address records of a governed name and family in a zone that dnssec signs,
// and the SVCB and HTTPS records left without a signature whose target is
// governed (failover rewrote their hints, and dropped the signature).
func (s *signer) madeIn(sets []rrset, section *[]dns.RR, snap *snapshot) []rrset {
	first := len(sets)
	for _, rr := range *section {
		h := rr.Header()
		set := rrset{section: section, name: h.Name, rrtype: h.Rrtype, ttl: h.Ttl}
		if !slices.ContainsFunc(sets[first:], set.same) && s.made(rr, *section, snap) {
			sets = append(sets, set)
		}
	}
	// An RRset has one TTL, the lowest of its records' if they differ.
	for i := first; i < len(sets); i++ {
		for _, rr := range *section {
			if h := rr.Header(); h.Rrtype == sets[i].rrtype && strings.EqualFold(h.Name, sets[i].name) {
				sets[i].ttl = min(sets[i].ttl, h.Ttl)
			}
		}
	}
	return sets
}

// made reports whether rr, a record of section, belongs to an RRset that
// failover made and that is to be signed.
func (s *signer) made(rr dns.RR, section []dns.RR, snap *snapshot) bool {
	h := rr.Header()
	if h.Class != dns.ClassINET {
		return false
	}
	switch h.Rrtype {
	case dns.TypeA, dns.TypeAAAA:
		c := snap.lookup(h.Name, h.Rrtype)
		return c != nil && s.signed[c.name]
	case dns.TypeSVCB, dns.TypeHTTPS:
		svcb, target := serviceOf(rr)
		governed := svcb != nil && (snap.lookup(target, dns.TypeA) != nil || snap.lookup(target, dns.TypeAAAA) != nil)
		return governed && !slices.ContainsFunc(section, func(rr dns.RR) bool {
			sig, ok := rr.(*dns.RRSIG)
			return ok && sig.TypeCovered == h.Rrtype && strings.EqualFold(sig.Hdr.Name, h.Name)
		})
	}
	return false
}

// same reports whether r and o are the same RRset, in any section.
func (r rrset) same(o rrset) bool {
	return r.rrtype == o.rrtype && strings.EqualFold(r.name, o.name)
}

// appendStamped appends to section the records dnssec returned, at ttl, the
// TTL of the records they sign or deny. The signatures come from dnssec's
// cache, shared by every query: each is copied. name, when not empty, is the
// owner the signatures take: the name as the response has it.
func appendStamped(section, records []dns.RR, ttl uint32, name string) []dns.RR {
	for _, rr := range records {
		if sig, ok := rr.(*dns.RRSIG); ok {
			cp := *sig
			if name != "" {
				cp.Hdr.Name = name
			}
			rr = &cp
		}
		// The SOA is failover's copy, and the NSEC dnssec made for this message.
		rr.Header().Ttl = ttl
		section = append(section, rr)
	}
	return section
}

// copyRR returns a copy of rr; an address record, the usual one, shares its
// address, which nobody changes.
func copyRR(rr dns.RR) dns.RR {
	switch rr := rr.(type) {
	case *dns.A:
		cp := *rr
		return &cp
	case *dns.AAAA:
		cp := *rr
		return &cp
	}
	return dns.Copy(rr)
}
