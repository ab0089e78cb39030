package failover

import (
	"strings"

	"github.com/miekg/dns"
)

// A governed name at or below a zone cut belongs to the delegated zone, not to
// the zone of the rest of the chain: a resolver must follow the referral and
// ask the delegated servers, and an authoritative answer from failover there
// would contradict them. The referral goes on as it is (but for the glue of
// governed names, see additional.go), and failover warns once per name that
// it does not answer for it.

// referredName returns the name that res refers to another server for, when
// res is a referral for a name failover governs: NOERROR, not authoritative,
// no record of the name, NS records of it or an ancestor in the authority
// section and no SOA. It returns "" otherwise.
func referredName(req, res *dns.Msg, snap *snapshot) (string, *decision) {
	if res.Rcode != dns.RcodeSuccess || res.Authoritative || len(res.Ns) == 0 {
		return "", nil
	}
	name := deniedName(req.Question[0], res.Answer)
	d := snap.exists(name)
	if d == nil || owns(res.Answer, name) {
		return "", nil
	}
	cut := false
	for _, rr := range res.Ns {
		switch rr.Header().Rrtype {
		case dns.TypeSOA:
			return "", nil
		case dns.TypeNS:
			cut = cut || dns.IsSubDomain(rr.Header().Name, name)
		}
	}
	if !cut {
		return "", nil
	}
	return name, d
}

// warnReferral logs, once per name of the block, that the rest of the chain
// delegates it.
func (b *block) warnReferral(name string) {
	lower := strings.ToLower(name)
	if _, warned := b.referralWarned.LoadOrStore(lower, true); warned {
		return
	}
	log.Warningf("failover block at line %d: the rest of the chain answers %s with a referral: the name is below a zone cut, "+
		"failover passes the referral on and does not answer for it", b.line, lower)
}
