package healthcheck

import (
	"context"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/miekg/dns"
)

// rcodeError is a probe failure on a DNS reply whose rcode is not NOERROR.
type rcodeError int

func (e rcodeError) Error() string {
	if s, ok := dns.RcodeToString[int(e)]; ok {
		return "rcode " + s
	}
	return "rcode " + strconv.Itoa(int(e))
}

var (
	errTruncatedTCP  = errors.New("truncated over TCP")
	errNotResponse   = errors.New("reply is a query, not a response")
	errWrongQuestion = errors.New("reply is not to the question asked")
)

// newDNSProber asks the endpoint at target c's question, recursion desired,
// over UDP, and again over TCP when the UDP reply is truncated. It passes on a
// NOERROR reply, or on any reply when c.AnyRcode.
//
// A UDP reply with another ID is ignored, as a resolver does, and the probe
// waits on for the right one until its timeout; over TCP it fails the probe.
func newDNSProber(c *Check, target string) prober {
	return func(ctx context.Context) error {
		query := new(dns.Msg)
		query.SetQuestion(c.Name, c.Qtype) // a fresh ID, recursion desired
		reply, err := exchangeDNS(ctx, "udp", query, target)
		if err == nil && reply.Truncated {
			reply, err = exchangeDNS(ctx, "tcp", query, target)
			if err == nil && reply.Truncated {
				return errTruncatedTCP
			}
		}
		if err != nil {
			return err
		}
		switch {
		case !reply.Response:
			return errNotResponse
		case len(reply.Question) != 1 || !sameQuestion(reply.Question[0], query.Question[0]):
			return errWrongQuestion
		case reply.Rcode != dns.RcodeSuccess && !c.AnyRcode:
			return rcodeError(reply.Rcode)
		}
		return nil
	}
}

// exchangeDNS sends query to target over network and reads the reply with the
// same ID. The probe's context bounds it: its deadline through dns.Client, its
// cancellation by closing the connection, which dns.Client does not watch for.
func exchangeDNS(ctx context.Context, network string, query *dns.Msg, target string) (*dns.Msg, error) {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, network, target)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	// Timeout only lifts the client's own 2s default above any probe timeout:
	// the earlier of it and the context's deadline applies.
	client := &dns.Client{Net: network, Timeout: time.Hour}
	reply, _, err := client.ExchangeWithConnContext(ctx, query, &dns.Conn{Conn: conn})
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err() // the deadline, or the engine stopping
	}
	return reply, err
}

// sameQuestion reports whether a and b ask the same: names compare without
// regard to ASCII case, which a server may change (draft-vixie-dnsext-dns0x20).
func sameQuestion(a, b dns.Question) bool {
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && dns.CanonicalName(a.Name) == dns.CanonicalName(b.Name)
}
