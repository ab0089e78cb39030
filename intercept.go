package failover

import "github.com/miekg/dns"

// intercepts reports whether failover must see the response to r: every A
// and AAAA query (its CNAME chain may lead to a governed name), every query
// of a type whose answers carry the addresses of other names in the
// additional section, and any query for a governed name or a name above it
// (their other types are NODATA). Every other query of a name failover does not govern passes
// through without an allocation.
func (s *snapshot) intercepts(r *dns.Msg) bool {
	if r.Opcode != dns.OpcodeQuery || len(r.Question) != 1 || r.Question[0].Qclass != dns.ClassINET {
		return false
	}
	switch q := r.Question[0]; q.Qtype {
	case dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeSRV, dns.TypeNS, dns.TypeSVCB, dns.TypeHTTPS, dns.TypeANY:
		return true
	case dns.TypeAXFR, dns.TypeIXFR:
		return false // a zone transfer is the zone as it is
	default:
		return s.exists(q.Name) != nil
	}
}
