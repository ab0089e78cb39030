package healthcheck

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsServer is a real DNS server on UDP and TCP, on one port of loopback. It
// answers by the first label of the name asked, see answerDNS.
type dnsServer struct {
	port      int
	last      atomic.Pointer[dns.Msg] // the last query
	udp, tcp  atomic.Int64            // queries per transport
	tcpAnswer atomic.Pointer[dns.Msg] // the last answer over TCP
	silenced  chan struct{}           // a query left unanswered, if the test has not taken it yet
}

// newDNSServer serves answerDNS on a fresh port of ip, over UDP and TCP, until the test ends.
func newDNSServer(t *testing.T, ip string) *dnsServer {
	t.Helper()
	s := &dnsServer{silenced: make(chan struct{}, 1)}
	var (
		ln  net.Listener
		pc  net.PacketConn
		err error
	)
	for range 10 { // the TCP port may be taken over UDP
		if ln, err = net.Listen("tcp", net.JoinHostPort(ip, "0")); err != nil {
			t.Fatal(err)
		}
		if pc, err = net.ListenPacket("udp", ln.Addr().String()); err == nil {
			break
		}
		ln.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	for _, srv := range []*dns.Server{{Listener: ln}, {PacketConn: pc}} {
		srv.Handler = dns.HandlerFunc(s.answerDNS)
		started, done := make(chan struct{}), make(chan error, 1)
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { done <- srv.ActivateAndServe() }()
		select {
		case <-started:
		case err := <-done:
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.ShutdownContext(ctx); err != nil {
				t.Error(err)
			}
			<-done
		})
	}
	return s
}

// answerDNS answers by the first label of the name asked:
//
//	ok          NOERROR with an A record
//	servfail    SERVFAIL
//	nxdomain    NXDOMAIN
//	big         truncated over UDP, 100 A records over TCP
//	truncated   truncated over UDP and over TCP
//	silent      nothing
//	wrongid     an answer with another ID
//	tcpwrongid  truncated over UDP, an answer with another ID over TCP
//	wrongq      an answer to another question
//	noq         an answer without the question
//	echo        the query itself, QR bit clear
func (s *dnsServer) answerDNS(w dns.ResponseWriter, r *dns.Msg) {
	s.last.Store(r)
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	if udp {
		s.udp.Add(1)
	} else {
		s.tcp.Add(1)
	}
	m := new(dns.Msg)
	m.SetReply(r)
	q := r.Question[0]
	a := &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: net.IPv4(192, 0, 2, 1)}
	switch dns.SplitDomainName(q.Name)[0] {
	case "ok":
		m.Answer = []dns.RR{a}
	case "servfail":
		m.Rcode = dns.RcodeServerFailure
	case "nxdomain":
		m.Rcode = dns.RcodeNameError
	case "big":
		m.Truncated = udp
		if !udp {
			for i := range 100 { // over 512 bytes
				m.Answer = append(m.Answer, &dns.A{Hdr: a.Hdr, A: net.IPv4(192, 0, 2, byte(i))})
			}
		}
	case "truncated":
		m.Truncated = true
	case "silent":
		select {
		case s.silenced <- struct{}{}:
		default:
		}
		return
	case "wrongid":
		m.Id++
	case "tcpwrongid":
		m.Truncated = udp
		if !udp {
			m.Id++
		}
	case "wrongq":
		m.Question[0].Name = "other.example.org."
	case "noq":
		m.Question = nil
	case "echo":
		m = r
	}
	if !udp {
		s.tcpAnswer.Store(m)
	}
	w.WriteMsg(m)
}

func TestProbeDNS(t *testing.T) {
	noLeaks(t)
	const ip = "127.0.0.90"
	s := newDNSServer(t, ip)
	url := func(name, query string) string { return fmt.Sprintf("dns://:%d/%s.example.org%s", s.port, name, query) }

	tests := []struct {
		check      string
		timeout    time.Duration
		wantReason string // "" means the probe passes
		udp, tcp   int64  // queries the server gets
	}{
		{url("ok", ""), time.Second, "", 1, 0},
		{url("ok", "?type=aaaa"), time.Second, "", 1, 0},
		{url("servfail", ""), time.Second, "rcode SERVFAIL", 1, 0},
		{url("nxdomain", ""), time.Second, "rcode NXDOMAIN", 1, 0},
		{url("servfail", "?rcode=any"), time.Second, "", 1, 0},
		{url("nxdomain", "?type=MX&rcode=any"), time.Second, "", 1, 0},
		{url("big", ""), time.Second, "", 1, 1},
		{url("truncated", ""), time.Second, "truncated over TCP", 1, 1},
		{url("truncated", "?rcode=any"), time.Second, "truncated over TCP", 1, 1},
		{url("silent", ""), 200 * time.Millisecond, "timeout", 1, 0},
		{url("silent", "?rcode=any"), 200 * time.Millisecond, "timeout", 1, 0},
		// Over UDP a reply with another ID is not the reply: the probe waits for it.
		{url("wrongid", ""), 200 * time.Millisecond, "timeout", 1, 0},
		{url("tcpwrongid", ""), time.Second, "dns: id mismatch", 1, 1},
		{url("wrongq", "?rcode=any"), time.Second, "reply is not to the question asked", 1, 0},
		{url("noq", "?rcode=any"), time.Second, "reply is not to the question asked", 1, 0},
		{url("echo", "?rcode=any"), time.Second, "reply is a query, not a response", 1, 0},
	}
	for _, tc := range tests {
		s.udp.Store(0)
		s.tcp.Store(0)
		start := time.Now()
		err := probeOnce(t, tc.check, ip, tc.timeout)
		if got := Reason(err); got != tc.wantReason {
			t.Errorf("%s: reason %q (err %v), want %q", tc.check, got, err, tc.wantReason)
		}
		if took := time.Since(start); took > tc.timeout+slack {
			t.Errorf("%s: probe took %v, past its %v timeout", tc.check, took, tc.timeout)
		}
		if udp, tcp := s.udp.Load(), s.tcp.Load(); udp != tc.udp || tcp != tc.tcp {
			t.Errorf("%s: server got %d UDP and %d TCP queries, want %d and %d", tc.check, udp, tcp, tc.udp, tc.tcp)
		}
	}
}

func TestProbeDNSQuery(t *testing.T) {
	noLeaks(t)
	const ip = "127.0.0.91"
	s := newDNSServer(t, ip)
	if err := probeOnce(t, fmt.Sprintf("dns://:%d/ok.Example.org?type=aaaa", s.port), ip, time.Second); err != nil {
		t.Fatal(err)
	}
	q := s.last.Load()
	want := dns.Question{Name: "ok.Example.org.", Qtype: dns.TypeAAAA, Qclass: dns.ClassINET}
	if len(q.Question) != 1 || q.Question[0] != want || !q.RecursionDesired || q.Opcode != dns.OpcodeQuery {
		t.Errorf("server got %v, want a recursive query for %v", q, want)
	}
	// A big answer comes in full over TCP.
	if err := probeOnce(t, fmt.Sprintf("dns://:%d/big.example.org", s.port), ip, time.Second); err != nil {
		t.Fatal(err)
	}
	if n := len(s.tcpAnswer.Load().Answer); n != 100 {
		t.Errorf("TCP answer has %d records, want 100", n)
	}
}

func TestProbeDNSConnectsToEndpoint(t *testing.T) {
	noLeaks(t)
	const ip = "127.0.0.92"
	s := newDNSServer(t, ip)
	c, err := ParseCheck("dns:///ok.example.org") // port 53, overridden below
	if err != nil {
		t.Fatal(err)
	}
	settings := Settings{Checks: []*Check{c}, Port: uint16(s.port)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := newProber(settings, netip.MustParseAddr(ip))(ctx); err != nil {
		t.Errorf("probe of the endpoint on the settings' port: %v", err)
	}
	if s.udp.Load() != 1 {
		t.Errorf("server got %d queries, want 1", s.udp.Load())
	}

	// Nothing listens on the port of another address.
	if err := probeOnce(t, fmt.Sprintf("dns://:%d/ok.example.org", s.port), "127.0.0.93", time.Second); Reason(err) != "connection refused" {
		t.Errorf("probe of another address: reason %q (err %v), want connection refused", Reason(err), err)
	}
}

func TestProbeDNSStops(t *testing.T) {
	noLeaks(t)
	const ip = "127.0.0.94"
	s := newDNSServer(t, ip)
	c, err := ParseCheck(fmt.Sprintf("dns://:%d/silent.example.org", s.port))
	if err != nil {
		t.Fatal(err)
	}
	// A probe of a silent server ends when its context is cancelled, long
	// before its deadline: the engine does not wait for it to stop.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- newProber(Settings{Checks: []*Check{c}}, netip.MustParseAddr(ip))(ctx) }()
	select {
	case <-s.silenced:
	case <-time.After(5 * time.Second):
		t.Fatal("no query reached the server")
	}
	expectCancelled(t, cancel, done)
}

func TestParseCheckDNS(t *testing.T) {
	good := []struct {
		in       string
		port     uint16
		name     string
		qtype    uint16
		anyRcode bool
	}{
		{"dns:///example.org", 53, "example.org.", dns.TypeA, false},
		{"dns://:5353/example.org.", 5353, "example.org.", dns.TypeA, false},
		{"dns:///.", 53, ".", dns.TypeA, false},
		{"dns:///example.org?type=aaaa", 53, "example.org.", dns.TypeAAAA, false},
		{"dns:///example.org?type=SOA&rcode=any", 53, "example.org.", dns.TypeSOA, true},
		{"dns:///example.org?rcode=ANY", 53, "example.org.", dns.TypeA, true},
		{"dns:///_sip._udp.example.org?type=srv", 53, "_sip._udp.example.org.", dns.TypeSRV, false},
		{"dns://ns.example.org/example.org", 53, "example.org.", dns.TypeA, false},
		{"dns://192.0.2.1:5300/example.org", 5300, "example.org.", dns.TypeA, false},
	}
	for _, tc := range good {
		c, err := ParseCheck(tc.in)
		if err != nil {
			t.Errorf("ParseCheck(%q): unexpected error %v", tc.in, err)
			continue
		}
		if c.Scheme != "dns" || c.Path != "" || c.Port != tc.port || c.Name != tc.name || c.Qtype != tc.qtype || c.AnyRcode != tc.anyRcode {
			t.Errorf("ParseCheck(%q) = %+v, want port %d name %q type %s rcode any %v", tc.in, c, tc.port, tc.name, dns.TypeToString[tc.qtype], tc.anyRcode)
		}
	}

	bad := []badCheck{
		{"dns://:53", "a dns check needs a name"},
		{"dns:///", "a dns check needs a name"},
		{"dns:///a..b", `bad name "a..b"`},
		{"dns:///example.org/x", `bad name "example.org/x"`},
		{"dns:///" + strings.Repeat("a", 64) + ".org", "bad name"},
		{"dns:///example.org?type=bogus", `check URL "dns:///example.org?type=bogus": unknown type "bogus"`},
		{"dns:///example.org?type=", `unknown type ""`},
		{"dns:///example.org?type=none", `unknown type "none"`},
		{"dns:///example.org?type=axfr", "type AXFR cannot be probed"},
		{"dns:///example.org?type=OPT", "type OPT cannot be probed"},
		{"dns:///example.org?type=A&type=AAAA", `option "type" given 2 times`},
		{"dns:///example.org?rcode=servfail", `bad rcode "servfail": want rcode=any`},
		{"dns:///example.org?class=CH", `unknown option "class": want type or rcode`},
		{"dns:///example.org?a=1&type=bogus", `unknown option "a"`},
		{"dns:///example.org?type=%zz", "bad query"},
		{"dns://:0/example.org", `bad port "0"`},
		{"dns:///example.org#x", "a fragment is not supported"},
	}
	expectParseErrors(t, bad)
}
