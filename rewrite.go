package failover

import (
	"net"
	"strings"

	"github.com/miekg/dns"
)

// rewrite returns the response of the rest of the chain as failover sends it:
// the addresses of a governed name replaced (rewriteAddresses), a denied
// governed name made a NODATA with an SOA (settleNegative), the addresses of
// governed names in the additional section rewritten (rewriteAdditional). A
// referral for a governed name goes on as a referral: only its glue may change.
//
// As loadbalance and minimal do, rewrite changes the fields of res itself: the
// message is the response of this query alone. The records and the section
// slices it points to are never changed: a cache or a zone may share them.
//
// It also returns the governed name and the choice applied, if any.
func rewrite(req, res *dns.Msg, snap *snapshot) (*dns.Msg, string, *choice) {
	if res == nil || len(res.Question) == 0 || len(req.Question) == 0 {
		return res, "", nil
	}
	if name, d := referredName(req, res, snap); d != nil {
		// Its glue is an additional section like any other.
		d.block.warnReferral(name)
		return rewriteAdditional(req, res, snap), "", nil
	}
	out, owner, c := rewriteAddresses(req, res, snap)
	out = settleNegative(req, out, snap, c)
	return rewriteAdditional(req, out, snap), owner, c
}

// rewriteAddresses returns res with the addresses of the governed name it
// answers an A or AAAA query for replaced by the ones failover chooses, or res
// untouched when it answers for no governed name. The governed name is the
// query name, or a name the answer's CNAME chain leads to.
func rewriteAddresses(req, res *dns.Msg, snap *snapshot) (*dns.Msg, string, *choice) {
	if !isAddressQuery(req) {
		return res, "", nil
	}
	switch res.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError, dns.RcodeServerFailure, dns.RcodeRefused:
	default:
		return res, "", nil // about the query itself (FORMERR, NOTIMP, ...), not about the name
	}
	q := req.Question[0]
	owner, hops, c := governedOwner(res.Answer, q, snap)
	if c == nil {
		return res, "", nil
	}
	if c.rcode != dns.RcodeSuccess {
		return new(dns.Msg).SetRcode(req, c.rcode), owner, c
	}

	// The names from the governed one to the end of its own CNAME chain: their
	// addresses, CNAMEs and the signatures over those are replaced. A chain
	// that loops back stops before the names that lead from the query name to
	// the governed one: their CNAMEs link the answer to the question.
	var chainBuf [4]string
	replaced := cnameChain(append(chainBuf[:0], owner), res.Answer)
	replaced = cutLoop(replaced, res.Answer, q.Name, hops)

	var drawBuf [8]net.IP
	ips := c.drawn(drawBuf[:])
	answer, room := newAnswer(len(res.Answer)+len(ips), q.Qtype, len(ips))
	ttl := c.ttl
	hadAddresses := false
	for _, rr := range res.Answer {
		h := rr.Header()
		if !containsFold(replaced, h.Name) {
			answer = append(answer, rr)
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
		answer = append(answer, rr)
	}
	hdr := dns.RR_Header{Name: owner, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: ttl}
	res.Answer = room.appendAddresses(answer, hdr, ips)

	// Records failover made cannot carry the zone's signatures.
	res.AuthenticatedData = false
	if len(c.ips) > 0 && (res.Rcode != dns.RcodeSuccess || !hadAddresses) {
		// The rest of the chain had no address for the name; failover answers
		// for it, and the chain's negative answer (SOA, NSEC) no longer holds.
		// Without addresses (all_down nodata) the answer is a NODATA, which
		// settleNegative makes from the chain's SOA.
		res.Rcode = dns.RcodeSuccess
		res.Authoritative = true
		res.Ns = nil
	}
	return res, owner, c
}

// governedOwner follows the CNAME chain in answer from the query name and returns
// the first name on it that failover governs for the query type, how many
// CNAMEs lead to it, and its choice.
func governedOwner(answer []dns.RR, q dns.Question, snap *snapshot) (string, int, *choice) {
	owner := q.Name
	// A chain cannot be longer than the answer; the bound also ends CNAME loops.
	for hops := 0; hops <= len(answer); hops++ {
		if c := snap.lookup(owner, q.Qtype); c != nil {
			return owner, hops, c
		}
		target, ok := cnameTarget(answer, owner)
		if !ok {
			break
		}
		owner = target
	}
	return "", 0, nil
}

// cutLoop returns chain (from the governed name on) up to the first name that
// is one of the hops names leading from qname to it.
func cutLoop(chain []string, answer []dns.RR, qname string, hops int) []string {
	if hops == 0 {
		return chain
	}
	for i, name := range chain[1:] {
		link := qname
		for range hops {
			if strings.EqualFold(link, name) {
				return chain[:i+1]
			}
			link, _ = cnameTarget(answer, link)
		}
	}
	return chain
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

// addressRecords is the storage of the address records of one answer; one of
// the two is used.
type addressRecords struct {
	a    []dns.A
	aaaa []dns.AAAA
}

// newAnswer returns an empty answer section with room for capacity records,
// and storage for n address records of qtype.
func newAnswer(capacity int, qtype uint16, n int) ([]dns.RR, addressRecords) {
	if qtype == dns.TypeA {
		answer, records := room[dns.A](capacity, n)
		return answer, addressRecords{a: records}
	}
	answer, records := room[dns.AAAA](capacity, n)
	return answer, addressRecords{aaaa: records}
}

// room returns an answer section with room for capacity records and n address
// records. The usual answers, one address or two after a CNAME or two, take
// one allocation of just their size: every rewrite pays for it in garbage.
func room[R dns.A | dns.AAAA](capacity, n int) ([]dns.RR, []R) {
	switch {
	case capacity <= 2 && n <= 1:
		r := new(struct {
			answer  [2]dns.RR
			records [1]R
		})
		return r.answer[:0], r.records[:n]
	case capacity <= 4 && n <= 2:
		r := new(struct {
			answer  [4]dns.RR
			records [2]R
		})
		return r.answer[:0], r.records[:n]
	}
	return make([]dns.RR, 0, capacity), make([]R, n)
}

// appendAddresses appends a fresh record with header hdr for each of ips. The
// records are fresh because plugins before failover may change them (rewrite
// does); the addresses they point to are shared and never changed.
func (r addressRecords) appendAddresses(answer []dns.RR, hdr dns.RR_Header, ips []net.IP) []dns.RR {
	for i, ip := range ips {
		if r.a != nil {
			r.a[i] = dns.A{Hdr: hdr, A: ip}
			answer = append(answer, &r.a[i])
		} else {
			r.aaaa[i] = dns.AAAA{Hdr: hdr, AAAA: ip}
			answer = append(answer, &r.aaaa[i])
		}
	}
	return answer
}
