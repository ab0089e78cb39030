package failover

import (
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// An SVCB or HTTPS record may carry the addresses of its target as hints
// (ipv4hint, ipv6hint; RFC 9460, section 7.3), which a client may connect to
// before its A and AAAA queries return. For a governed target they are what
// an A or AAAA query gets, as in the additional section: rewritten to
// failover's choice, or dropped when it has no address.

// rewriteHints returns section with the hints of the SVCB and HTTPS records
// whose target failover governs rewritten, and the signatures over those
// records dropped; section itself, and false, when there are none.
func rewriteHints(section []dns.RR, snap *snapshot) ([]dns.RR, bool) {
	var out []dns.RR
	var changed []dns.RR_Header // the owners and types of the records rewritten
	for i, rr := range section {
		svcb, target := serviceOf(rr)
		if svcb == nil || !hasGovernedHint(svcb, target, snap) {
			continue
		}
		if out == nil {
			out = slices.Clone(section) // the chain's slice may be shared
		}
		cp := dns.Copy(rr) // and so may its record
		cpSVCB, _ := serviceOf(cp)
		cpSVCB.Value = governedHints(cpSVCB.Value, target, snap)
		out[i] = cp
		changed = append(changed, *rr.Header())
	}
	if out == nil {
		return section, false
	}
	return slices.DeleteFunc(out, func(rr dns.RR) bool {
		sig, ok := rr.(*dns.RRSIG)
		return ok && slices.ContainsFunc(changed, func(h dns.RR_Header) bool {
			return h.Rrtype == sig.TypeCovered && strings.EqualFold(h.Name, sig.Hdr.Name)
		})
	}), true
}

// serviceOf returns the SVCB data of an SVCB or HTTPS record in service mode,
// and the name its hints are addresses of; nil for any other record.
func serviceOf(rr dns.RR) (*dns.SVCB, string) {
	var svcb *dns.SVCB
	switch rr := rr.(type) {
	case *dns.SVCB:
		svcb = rr
	case *dns.HTTPS:
		svcb = &rr.SVCB
	default:
		return nil, ""
	}
	if svcb.Priority == 0 {
		return nil, "" // alias mode: no parameters
	}
	if svcb.Target == "." {
		return svcb, svcb.Hdr.Name // "." is the owner itself
	}
	return svcb, svcb.Target
}

func hasGovernedHint(svcb *dns.SVCB, target string, snap *snapshot) bool {
	for _, kv := range svcb.Value {
		if qtype := hintType(kv); qtype != 0 && snap.lookup(target, qtype) != nil {
			return true
		}
	}
	return false
}

// governedHints returns values with the hints of the families failover
// governs for target set to its choice, or left out when it has no address.
func governedHints(values []dns.SVCBKeyValue, target string, snap *snapshot) []dns.SVCBKeyValue {
	out := make([]dns.SVCBKeyValue, 0, len(values))
	for _, kv := range values {
		qtype := hintType(kv)
		c := snap.lookup(target, qtype)
		switch {
		case qtype == 0 || c == nil:
			out = append(out, kv)
		case len(c.ips) == 0:
		case qtype == dns.TypeA:
			out = append(out, &dns.SVCBIPv4Hint{Hint: c.ips})
		default:
			out = append(out, &dns.SVCBIPv6Hint{Hint: c.ips})
		}
	}
	return out
}

// hintType returns the address type whose addresses kv hints at, or 0.
func hintType(kv dns.SVCBKeyValue) uint16 {
	switch kv.(type) {
	case *dns.SVCBIPv4Hint:
		return dns.TypeA
	case *dns.SVCBIPv6Hint:
		return dns.TypeAAAA
	}
	return 0
}
