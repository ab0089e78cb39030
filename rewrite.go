package failover

import (
	"net"
	"strings"

	"github.com/miekg/dns"
)

// rewrite returns res with the addresses of the governed name it answers for
// replaced by the ones failover chooses, or res itself when it answers for no
// governed name. The governed name is the query name, or a name the answer's
// CNAME chain leads to. res and its records are never modified: they may be
// shared with a cache or a zone.
func rewrite(req, res *dns.Msg, snap *snapshot) *dns.Msg {
	if res == nil || len(res.Question) == 0 || !isAddressQuery(req) {
		return res
	}
	switch res.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError, dns.RcodeServerFailure, dns.RcodeRefused:
	default:
		return res // about the query itself (FORMERR, NOTIMP, ...), not about the name
	}
	q := req.Question[0]
	owner, c := governedOwner(res.Answer, q, snap)
	if c == nil {
		return res
	}
	if c.rcode != dns.RcodeSuccess {
		return new(dns.Msg).SetRcode(req, c.rcode)
	}

	// The names from the governed one to the end of its own CNAME chain: their
	// addresses, CNAMEs and the signatures over those are replaced.
	var chainBuf [4]string
	replaced := cnameChain(append(chainBuf[:0], owner), res.Answer)

	rep := newReply(res, len(res.Answer)+len(c.ips))
	out := &rep.msg
	ttl := c.ttl
	hadAddresses := false
	for _, rr := range res.Answer {
		h := rr.Header()
		if !containsFold(replaced, h.Name) {
			out.Answer = append(out.Answer, rr)
			continue
		}
		switch h.Rrtype {
		case q.Qtype:
			hadAddresses = true
			ttl = min(ttl, h.Ttl)
			continue
		case dns.TypeCNAME:
			continue
		case dns.TypeRRSIG:
			if covered := rr.(*dns.RRSIG).TypeCovered; covered == q.Qtype || covered == dns.TypeCNAME {
				continue
			}
		}
		out.Answer = append(out.Answer, rr)
	}
	out.Answer = rep.appendAddresses(out.Answer, owner, q.Qtype, c.ips, ttl)

	// Records failover made cannot carry the zone's signatures.
	out.AuthenticatedData = false
	if res.Rcode != dns.RcodeSuccess || len(c.ips) > 0 && !hadAddresses {
		// The rest of the chain had no address for the name; failover answers
		// for it, and the chain's negative answer (SOA, NSEC) no longer holds.
		out.Rcode = dns.RcodeSuccess
		out.Authoritative = true
		out.Ns = nil
	}
	return out
}

// governedOwner follows the CNAME chain in answer from the query name and returns
// the first name on it that failover governs for the query type, with its choice.
func governedOwner(answer []dns.RR, q dns.Question, snap *snapshot) (string, *choice) {
	owner := q.Name
	// A chain cannot be longer than the answer; the bound also ends CNAME loops.
	for hops := 0; hops <= len(answer); hops++ {
		if c := snap.lookup(owner, q.Qtype); c != nil {
			return owner, c
		}
		target, ok := cnameTarget(answer, owner)
		if !ok {
			break
		}
		owner = target
	}
	return "", nil
}

// cnameChain appends to chain, which holds one name, the names that name's
// CNAMEs lead to, in order.
func cnameChain(chain []string, answer []dns.RR) []string {
	name := chain[0]
	for range answer {
		target, ok := cnameTarget(answer, name)
		if !ok || containsFold(chain, target) {
			break
		}
		chain = append(chain, target)
		name = target
	}
	return chain
}

func cnameTarget(answer []dns.RR, name string) (string, bool) {
	for _, rr := range answer {
		if cname, ok := rr.(*dns.CNAME); ok && strings.EqualFold(cname.Hdr.Name, name) {
			return cname.Target, true
		}
	}
	return "", false
}

func containsFold(names []string, name string) bool {
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// reply is a rewritten message with room for a typical answer, so that it
// costs one allocation.
type reply struct {
	msg    dns.Msg
	answer [4]dns.RR
	a      [2]dns.A
	aaaa   [2]dns.AAAA
}

// newReply returns a shallow copy of res with an empty answer section of the given capacity.
func newReply(res *dns.Msg, capacity int) *reply {
	r := &reply{msg: *res}
	if capacity <= len(r.answer) {
		r.msg.Answer = r.answer[:0]
	} else {
		r.msg.Answer = make([]dns.RR, 0, capacity)
	}
	return r
}

// appendAddresses appends a fresh record for each of ips, owned by owner. The
// records are fresh because plugins before failover may change them (rewrite
// does); the addresses they point to are shared and never changed.
func (rep *reply) appendAddresses(answer []dns.RR, owner string, qtype uint16, ips []net.IP, ttl uint32) []dns.RR {
	hdr := dns.RR_Header{Name: owner, Rrtype: qtype, Class: dns.ClassINET, Ttl: ttl}
	if qtype == dns.TypeA {
		records := rep.a[:]
		if len(ips) > len(records) {
			records = make([]dns.A, len(ips))
		}
		for i, ip := range ips {
			records[i] = dns.A{Hdr: hdr, A: ip}
			answer = append(answer, &records[i])
		}
		return answer
	}
	records := rep.aaaa[:]
	if len(ips) > len(records) {
		records = make([]dns.AAAA, len(ips))
	}
	for i, ip := range ips {
		records[i] = dns.AAAA{Hdr: hdr, AAAA: ip}
		answer = append(answer, &records[i])
	}
	return answer
}
