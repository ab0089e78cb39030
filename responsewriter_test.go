package failover

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// A plugin below may keep the writer after ServeDNS returns and use it from
// another goroutine: it still names the query's client, and a late response
// goes out at once, rewritten. Run under -race, two queries at once.
func TestWriterOutlivesItsQuery(t *testing.T) {
	var late sync.WaitGroup
	kept := make(chan dns.ResponseWriter, 2)
	next := plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		kept <- w
		late.Add(1)
		go func() {
			defer late.Done()
			m := new(dns.Msg).SetReply(r)
			m.Answer = []dns.RR{test.A(r.Question[0].Name + " 300 IN A 203.0.113.9")}
			w.WriteMsg(m)
		}()
		return dns.RcodeSuccess, nil // written, as far as the server knows
	})
	f := newTestFailover(t, testBlocks, next, "192.0.2.1")

	clients := []string{"10.240.0.1", "10.240.0.2"}
	recorders := make([]*dnstest.Recorder, len(clients))
	var queries sync.WaitGroup
	for i, client := range clients {
		recorders[i] = dnstest.NewRecorder(&clientWriter{addr: &net.UDPAddr{IP: net.ParseIP(client), Port: 53}})
		queries.Add(1)
		go func() {
			defer queries.Done()
			req := new(dns.Msg).SetQuestion("app.example.org.", dns.TypeA)
			f.ServeDNS(context.Background(), recorders[i], req)
		}()
	}
	queries.Wait()
	late.Wait()
	close(kept)

	for w := range kept {
		addr := w.RemoteAddr().String()
		if addr != "10.240.0.1:53" && addr != "10.240.0.2:53" {
			t.Errorf("a writer kept after its query names client %s", addr)
		}
	}
	for i, rec := range recorders {
		if rec.Msg == nil {
			t.Fatalf("client %s: the late response was not sent", clients[i])
		}
		if got := sectionStrings(rec.Msg.Answer); got != "app.example.org.\t30\tIN\tA\t192.0.2.2\n--\n" {
			t.Errorf("client %s: late response %q, want it rewritten to the healthy primary", clients[i], got)
		}
	}
}

// clientWriter is a test.ResponseWriter for a client at addr.
type clientWriter struct {
	test.ResponseWriter
	addr net.Addr
}

func (w *clientWriter) RemoteAddr() net.Addr { return w.addr }
