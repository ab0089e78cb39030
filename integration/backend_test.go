package integration

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// backendMode is how a test backend answers its health check.
type backendMode int32

const (
	healthy     backendMode = iota // 200
	unavailable                    // 503
	hanging                        // never answers
)

// backend is a real HTTP health endpoint on a loopback address.
type backend struct {
	t     *testing.T
	ip    string
	port  int
	mode  atomic.Int32
	hits  atomic.Int64 // health checks received
	delay atomic.Int64 // before each answer, in nanoseconds

	mu  sync.Mutex
	srv *http.Server
}

// startBackends starts one healthy backend on each ip, all on the same port, so
// that one check URL serves them all.
func startBackends(t *testing.T, ips ...string) []*backend {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		port := 0
		var started []*backend
		for _, ip := range ips {
			b := &backend{t: t, ip: ip, port: port}
			if err := b.listen(); err != nil {
				break
			}
			port = b.port
			started = append(started, b)
		}
		if len(started) == len(ips) {
			for _, b := range started {
				t.Cleanup(b.close)
			}
			return started
		}
		for _, b := range started {
			b.close()
		}
	}
	t.Fatalf("no port free on all of %v", ips)
	return nil
}

func (b *backend) listen() error {
	ln, err := net.Listen("tcp", net.JoinHostPort(b.ip, fmt.Sprint(b.port)))
	if err != nil {
		return err
	}
	b.port = ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: http.HandlerFunc(b.serveHTTP)}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.t.Errorf("backend %s: %v", b.ip, err)
		}
	}()
	return nil
}

func (b *backend) serveHTTP(w http.ResponseWriter, r *http.Request) {
	b.hits.Add(1)
	if d := time.Duration(b.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
	}
	switch backendMode(b.mode.Load()) {
	case unavailable:
		w.WriteHeader(http.StatusServiceUnavailable)
	case hanging:
		<-r.Context().Done() // until the prober gives up or the server closes
	}
}

func (b *backend) set(m backendMode) { b.mode.Store(int32(m)) }

// close closes the listener and every connection: probes are refused.
func (b *backend) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		b.srv.Close()
		b.srv = nil
	}
}

// reopen listens again on the same address and port.
func (b *backend) reopen() {
	b.t.Helper()
	if err := b.listen(); err != nil {
		b.t.Fatalf("backend %s: reopen: %v", b.ip, err)
	}
}

// lookup asks server for name and qtype over UDP and returns the answered
// addresses, or the rcode's name when the answer is not NOERROR.
func lookup(server, name string, qtype uint16) (string, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Timeout: time.Second}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		return "", err
	}
	if r.Rcode != dns.RcodeSuccess {
		return dns.RcodeToString[r.Rcode], nil
	}
	var addrs string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			addrs += rr.A.String() + " "
		case *dns.AAAA:
			addrs += rr.AAAA.String() + " "
		}
	}
	if addrs == "" {
		return "NODATA", nil
	}
	return addrs[:len(addrs)-1], nil
}

// waitAnswer polls server until name answers want, and fails the test if that
// takes longer than within. It returns how long it took.
func waitAnswer(t *testing.T, server, name, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	var got string
	var err error
	for time.Now().Before(deadline) {
		got, err = lookup(server, name, dns.TypeA)
		if err == nil && got == want {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %q within %v: last answer %q, error %v", name, want, within, got, err)
	return 0
}
