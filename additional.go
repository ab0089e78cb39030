package failover

import (
	"strings"

	"github.com/miekg/dns"
)

// The additional section carries the addresses of the names the answer
// points to: MX, SRV, SVCB and HTTPS targets, the servers of an NS set, glue.
// A resolver uses them as it would an answer to an A or AAAA query, so a
// governed name there must not name an endpoint that such a query would not
// get.

// rewriteAdditional replaces the A and AAAA records of governed names in the
// additional section, and in the answer to an ANY query, with the addresses
// failover answers for them; when it answers none (all_down nodata or
// servfail), they are dropped. Signatures over them go too. Sections without
// such records are kept as they are, without an allocation.
//
// The hints of SVCB and HTTPS records (hints.go) are rewritten likewise.
func rewriteAdditional(req, res *dns.Msg, snap *snapshot) *dns.Msg {
	var changed [4]bool
	res.Extra, changed[0] = governedAddresses(res.Extra, snap)
	res.Extra, changed[1] = rewriteHints(res.Extra, snap)
	switch req.Question[0].Qtype {
	case dns.TypeANY:
		res.Answer, changed[2] = governedAddresses(res.Answer, snap)
		res.Answer, changed[3] = rewriteHints(res.Answer, snap)
	case dns.TypeSVCB, dns.TypeHTTPS:
		res.Answer, changed[3] = rewriteHints(res.Answer, snap)
	}
	if changed != [4]bool{} {
		res.AuthenticatedData = false // records failover made carry no signature
	}
	return res
}

// governedAddresses returns section with the address records of governed
// names rewritten, or section itself, and false, when it has none.
func governedAddresses(section []dns.RR, snap *snapshot) ([]dns.RR, bool) {
	first := -1
	for i, rr := range section {
		if governedAddress(rr, snap) != nil {
			first = i
			break
		}
	}
	if first < 0 {
		return section, false
	}
	out := make([]dns.RR, first, len(section)+4)
	copy(out, section[:first])
	var done []dns.RR_Header // the names and families already rewritten
	for _, rr := range section[first:] {
		c := governedAddress(rr, snap)
		if c == nil {
			out = append(out, rr)
			continue
		}
		h := rr.Header()
		if h.Rrtype == dns.TypeRRSIG || rewritten(done, h) {
			continue
		}
		done = append(done, *h)
		hdr := dns.RR_Header{Name: h.Name, Rrtype: h.Rrtype, Class: dns.ClassINET, Ttl: min(h.Ttl, c.ttl)}
		for _, ip := range c.ips {
			if h.Rrtype == dns.TypeA {
				out = append(out, &dns.A{Hdr: hdr, A: ip})
			} else {
				out = append(out, &dns.AAAA{Hdr: hdr, AAAA: ip})
			}
		}
	}
	return out, true
}

// governedAddress returns failover's choice for rr when rr is an A or AAAA
// record of a name and family failover governs, or a signature over one.
func governedAddress(rr dns.RR, snap *snapshot) *choice {
	h := rr.Header()
	qtype := h.Rrtype
	if sig, ok := rr.(*dns.RRSIG); ok {
		qtype = sig.TypeCovered
	}
	if h.Class != dns.ClassINET || qtype != dns.TypeA && qtype != dns.TypeAAAA {
		return nil
	}
	return snap.lookup(h.Name, qtype)
}

func rewritten(done []dns.RR_Header, h *dns.RR_Header) bool {
	for _, d := range done {
		if d.Rrtype == h.Rrtype && strings.EqualFold(d.Name, h.Name) {
			return true
		}
	}
	return false
}
