package integration

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// upstream is a real DNS server on a loopback address, over UDP and TCP, that
// answers every A query with one address and a short TTL, until a test makes
// it silent: it then reads queries and never answers, as a server whose
// network went away.
type upstream struct {
	addr    string // HOST:PORT, the same port for UDP and TCP
	answer  net.IP
	ttl     uint32
	silent  atomic.Bool
	queries atomic.Int64 // queries received, answered or not

	mu      sync.Mutex
	servers []*dns.Server
}

// startUpstream serves on a free port of ip until the test ends.
func startUpstream(t *testing.T, ip string, answer net.IP, ttl uint32) *upstream {
	t.Helper()
	u := &upstream{answer: answer, ttl: ttl}
	for attempt := 0; attempt < 20; attempt++ {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			continue // the port is taken for TCP: another one
		}
		u.addr = pc.LocalAddr().String()
		u.serve(&dns.Server{PacketConn: pc, Handler: u})
		u.serve(&dns.Server{Listener: ln, Handler: u})
		t.Cleanup(u.close)
		return u
	}
	t.Fatalf("no port of %s free for both UDP and TCP", ip)
	return nil
}

func (u *upstream) serve(s *dns.Server) {
	started := make(chan struct{})
	s.NotifyStartedFunc = func() { close(started) }
	u.mu.Lock()
	u.servers = append(u.servers, s)
	u.mu.Unlock()
	go s.ActivateAndServe()
	<-started
}

// ServeDNS implements dns.Handler.
func (u *upstream) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	u.queries.Add(1)
	if u.silent.Load() {
		return
	}
	m := new(dns.Msg).SetReply(r)
	if q := r.Question[0]; q.Qtype == dns.TypeA {
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: u.ttl}, A: u.answer}}
	}
	w.WriteMsg(m)
}

func (u *upstream) close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, s := range u.servers {
		s.Shutdown()
	}
}
