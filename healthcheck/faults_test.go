package healthcheck

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Fault injection: an endpoint that answers well until the test breaks it, on
// real sockets on loopback. Each test asserts the endpoint's verdict, the reason
// a probe gives, and how long it took, against bounds derived from the
// settings. The faults live on 127.0.0.70-127.0.0.78, one address each.

const (
	// slack absorbs scheduling on a loaded machine (two shared cores, -race).
	slack = time.Second
	// directTimeout bounds the probes a test runs itself, to see what one
	// probe under a fault does: long enough that no healthy probe reaches it.
	directTimeout = 1500 * time.Millisecond
)

// faultSettings probe quickly; Fall 3 lets no single slow probe move a verdict.
func faultSettings(t *testing.T, rawCheck string) Settings {
	t.Helper()
	c, err := ParseCheck(rawCheck)
	if err != nil {
		t.Fatal(err)
	}
	return Settings{Checks: []*Check{c}, Interval: 100 * time.Millisecond, Timeout: 80 * time.Millisecond, Fall: 3, Rise: 2}
}

// downWithin bounds how long a healthy endpoint takes to go down once a fault
// appears: the probe running then may miss it, the Fall-th probe after it
// starts at most Fall intervals later, and it ends within Timeout.
func downWithin(s Settings) time.Duration {
	return time.Duration(s.Fall)*s.Interval + s.Timeout + slack
}

// upWithin bounds how long a down endpoint takes to come back once the fault is gone.
func upWithin(s Settings) time.Duration {
	return time.Duration(s.Rise)*s.Interval + s.Timeout + slack
}

// watch probes ip with s on an engine of its own, stopped when the test ends.
func watch(t *testing.T, ip string, s Settings) *Endpoint {
	t.Helper()
	g := NewEngine(nil)
	e := g.Endpoint(netip.MustParseAddr(ip), s)
	g.Start()
	t.Cleanup(g.Stop)
	return e
}

// watchHealthy is watch, returning once the endpoint is healthy.
func watchHealthy(t *testing.T, ip string, s Settings) *Endpoint {
	t.Helper()
	e := watch(t, ip, s)
	// A first probe slowed past Timeout counts as a failure: allow Rise more.
	within(t, s.Timeout+upWithin(s), "healthy before the fault", func() bool { return e.Probed() && e.Healthy() })
	return e
}

func TestFaultsTakeEndpointDown(t *testing.T) {
	noLeaks(t)
	var hugeHeaderBytes atomic.Int64 // most bytes one connection took before hanging up
	tests := []struct {
		name   string
		ip     string
		inject func(*faultServer)
		reason string // what Reason says of a probe under the fault
	}{
		{"refuses connections", "127.0.0.70", (*faultServer).refuse, "connection refused"},
		{"accepts and never answers", "127.0.0.71", func(s *faultServer) { s.set(silent) }, "timeout"},
		{"resets mid-response", "127.0.0.72", func(s *faultServer) { s.set(resetMidResponse) }, "connection reset"},
		{"answers garbage", "127.0.0.73", func(s *faultServer) { s.set(garbage) }, "malformed HTTP response"},
		{"sends endless headers", "127.0.0.74", func(s *faultServer) { s.set(endlessHeaders(&hugeHeaderBytes)) }, "response headers too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFaultServer(t, tc.ip, answer(200))
			s := faultSettings(t, fmt.Sprintf("http://:%d/", srv.port))
			e := watchHealthy(t, tc.ip, s)

			tc.inject(srv)
			took := within(t, downWithin(s), "down", func() bool { return !e.Healthy() })
			t.Logf("down %v after the fault (bound %v)", took.Round(time.Millisecond), downWithin(s))

			// The reason the engine logs, from a probe with time to spare:
			// only the fault that never answers may use all of it.
			took, err := probeWithin(e.shared.Load().probe, directTimeout)
			if got := Reason(err); got != tc.reason {
				t.Errorf("reason %q (err %v), want %q", got, err, tc.reason)
			}
			if took > directTimeout+slack {
				t.Errorf("probe took %v, past its %v timeout", took, directTimeout)
			}
		})
	}
	// The prober stops reading at MaxResponseHeaderBytes; what the server got
	// rid of past that sits in the two sockets' buffers, a few MiB.
	n := hugeHeaderBytes.Load()
	t.Logf("at most %d bytes of headers written to one probe", n)
	if n > 16<<20 {
		t.Errorf("a probe took %d bytes of endless headers", n)
	}
}

// resetMidResponse starts a status line and headers, then resets the connection.
func resetMidResponse(c *net.TCPConn) {
	c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Le"))
	c.SetLinger(0) // close sends RST
	c.Close()
}

// garbage answers what an SSH server says: not HTTP.
func garbage(c *net.TCPConn) { c.Write([]byte("SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n")) }

// endlessHeaders answers a status line and header lines until the prober hangs
// up, and records in most the most bytes one connection wrote.
func endlessHeaders(most *atomic.Int64) behaviour {
	line := []byte("X-Filler: " + strings.Repeat("a", 1000) + "\r\n")
	return func(c *net.TCPConn) {
		n, err := c.Write([]byte("HTTP/1.1 200 OK\r\n"))
		for written := int64(n); err == nil; written += int64(n) {
			storeMax(most, written)
			n, err = c.Write(line)
		}
	}
}

func TestFaultBodyStalls(t *testing.T) {
	noLeaks(t)
	const ip = "127.0.0.75"
	srv := newFaultServer(t, ip, answer(200))
	e := watchHealthy(t, ip, faultSettings(t, fmt.Sprintf("http://:%d/", srv.port)))
	staysHealthy(t, e, srv.set(stallBody))
}

func TestFaultEndlessBody(t *testing.T) {
	noLeaks(t)
	const ip = "127.0.0.76"
	srv := newFaultServer(t, ip, answer(200))
	e := watchHealthy(t, ip, faultSettings(t, fmt.Sprintf("http://:%d/", srv.port)))
	var most atomic.Int64
	staysHealthy(t, e, srv.set(endlessBody(&most)))
	// What the server got rid of sits in the two sockets' buffers, a few MiB;
	// a prober reading the body until directTimeout would take gigabytes.
	n := most.Load()
	t.Logf("at most %d bytes of body written to one probe", n)
	if n > 16<<20 {
		t.Errorf("a probe took %d bytes of the body", n)
	}
}

// staysHealthy asserts that e, healthy, stays so, its verdict unmoved, while m
// serves several probes; and that a probe under m passes well before a timeout
// it would reach if it read the body.
func staysHealthy(t *testing.T, e *Endpoint, m *mode) {
	t.Helper()
	const probes = 6
	s := e.Settings
	since := e.Since()
	within(t, probes*s.Interval+s.Timeout+slack, fmt.Sprintf("%d probes under the fault", probes), func() bool {
		if !e.Healthy() || !e.Since().Equal(since) {
			t.Fatalf("verdict moved under the fault: healthy=%v since %v", e.Healthy(), e.Since())
		}
		return m.served.Load() >= probes
	})
	for range 3 {
		took, err := probeWithin(e.shared.Load().probe, directTimeout)
		if err != nil {
			t.Fatalf("probe failed after %v: %s", took, Reason(err))
		}
		if took > directTimeout/3 {
			t.Errorf("probe took %v of its %v: it waited for the body", took, directTimeout)
		}
	}
}

// stallBody answers a status line and headers announcing a body that never comes.
func stallBody(c *net.TCPConn) {
	c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\nthe start of it"))
	silent(c)
}

// endlessBody answers a status line and headers, then a body until the prober
// hangs up, and records in most the most bytes one connection wrote.
func endlessBody(most *atomic.Int64) behaviour {
	chunk := bytes.Repeat([]byte("body "), 32<<10/5)
	return func(c *net.TCPConn) {
		n, err := c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"))
		for written := int64(n); err == nil; written += int64(n) {
			storeMax(most, written)
			n, err = c.Write(chunk)
		}
	}
}

func storeMax(most *atomic.Int64, n int64) {
	for {
		old := most.Load()
		if n <= old || most.CompareAndSwap(old, n) {
			return
		}
	}
}

// TestFaultCertificates breaks a healthy https endpoint's certificate three
// ways, one at a time. Each break takes down the endpoint that verifies, with a
// reason naming the defect, and leaves up the one that opted out.
func TestFaultCertificates(t *testing.T) {
	noLeaks(t)
	const ip, name = "127.0.0.77", "app.example.org"
	ca := newTestCA(t)
	now := time.Now()
	valid := ca.issue(t, name, now.Add(-time.Hour), now.Add(time.Hour))
	defects := []struct {
		name   string
		cert   tls.Certificate
		reason string
	}{
		{"expired", ca.issue(t, name, now.Add(-48*time.Hour), now.Add(-24*time.Hour)), "tls: certificate has expired or is not yet valid"},
		{"self-signed", selfSigned(t, name), "tls: certificate signed by unknown authority"},
		{"wrong name", ca.issue(t, "other.example.net", now.Add(-time.Hour), now.Add(time.Hour)), "tls: certificate is not valid for " + name},
	}

	var cert atomic.Pointer[tls.Certificate]
	cert.Store(&valid)
	port := serveTLS(t, ip, func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert.Load(), nil })

	s := faultSettings(t, fmt.Sprintf("https://%s:%d/", name, port))
	g := NewEngine(nil)
	addr := netip.MustParseAddr(ip)
	s.TLS = &tls.Config{RootCAs: ca.pool}
	verify := g.Endpoint(addr, s)
	s.TLS = &tls.Config{InsecureSkipVerify: true}
	skip := g.Endpoint(addr, s)
	s.TLS = nil
	system := g.Endpoint(addr, s)
	if verify == skip || skip == system || system == verify {
		t.Fatal("endpoints with different TLS configurations are shared")
	}
	g.Start()
	t.Cleanup(g.Stop)

	within(t, s.Timeout+upWithin(s), "verifying endpoint healthy", func() bool { return verify.Probed() && verify.Healthy() })
	within(t, s.Timeout+upWithin(s), "opted-out endpoint healthy", func() bool { return skip.Probed() && skip.Healthy() })
	within(t, s.Timeout+slack, "first probe against the system roots", system.Probed)
	if system.Healthy() {
		t.Error("a certificate of the test's CA passed against the system roots")
	}
	skipSince := skip.Since()
	for _, d := range defects {
		cert.Store(&d.cert)
		took := within(t, downWithin(s), d.name+": down", func() bool { return !verify.Healthy() })
		t.Logf("%s: down %v after the change (bound %v)", d.name, took.Round(time.Millisecond), downWithin(s))
		took, err := probeWithin(verify.shared.Load().probe, directTimeout)
		if got := Reason(err); got != d.reason {
			t.Errorf("%s: reason %q (err %v), want %q", d.name, got, err, d.reason)
		}
		if took > directTimeout/3 {
			t.Errorf("%s: probe took %v of its %v timeout", d.name, took, directTimeout)
		}
		if took, err := probeWithin(skip.shared.Load().probe, directTimeout); err != nil {
			t.Errorf("%s: probe that skips verification failed after %v: %v", d.name, took, err)
		}

		cert.Store(&valid)
		within(t, upWithin(s), d.name+": up again", verify.Healthy)
	}
	if !skip.Healthy() || !skip.Since().Equal(skipSince) {
		t.Errorf("the endpoint that skips verification moved: healthy=%v since %v", skip.Healthy(), skip.Since())
	}
}

// serveTLS serves 200 over TLS with the certificates of getCert on a fresh port of ip.
func serveTLS(t *testing.T, ip string, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) (port int) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{
		Listener: ln,
		Config: &http.Server{
			Handler:  http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
			ErrorLog: stdlog.New(io.Discard, "", 0), // every rejected handshake
		},
		TLS: &tls.Config{GetCertificate: getCert},
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return ln.Addr().(*net.TCPAddr).Port
}

// TestFaultFlapping runs an endpoint whose answer alternates on every probe,
// faster than Fall and Rise: after the first result the verdict never moves.
func TestFaultFlapping(t *testing.T) {
	noLeaks(t)
	const ip = "127.0.0.78"
	for _, first := range []int{200, 503} {
		t.Run(fmt.Sprintf("first answer %d", first), func(t *testing.T) {
			var n atomic.Int64 // probes served
			srv := newFaultServer(t, ip, func(c *net.TCPConn) {
				if n.Add(1)%2 == 1 {
					answer(first)(c)
				} else {
					answer(200 + 503 - first)(c)
				}
			})
			s := faultSettings(t, fmt.Sprintf("http://:%d/", srv.port))
			e := watch(t, ip, s)

			// The second probe starts after the first result is recorded.
			within(t, s.Interval+s.Timeout+slack, "two probes", func() bool { return n.Load() >= 2 })
			healthy, since := e.Healthy(), e.Since()
			if healthy != (first == 200) {
				t.Fatalf("first answer %d: healthy=%v", first, healthy)
			}
			const probes = 12
			within(t, probes*s.Interval+s.Timeout+slack, fmt.Sprintf("%d probes", probes), func() bool {
				if e.Healthy() != healthy || !e.Since().Equal(since) {
					t.Fatalf("verdict moved after %d probes: healthy=%v since %v", n.Load(), e.Healthy(), e.Since())
				}
				return n.Load() >= probes
			})
		})
	}
}
