package healthcheck

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// TestHTTPSResumesSessions probes a real TLS server 9 times under fall 3:
// the probes resume the session of the one before, with a full handshake
// every third probe (so a certificate served now is seen), and after a
// failed probe full handshakes until one passes. The server counts what it
// saw.
func TestHTTPSResumesSessions(t *testing.T) {
	const ip, name = "127.0.0.32", "app.example.org"
	ca := newTestCA(t)
	cert := ca.issue(t, name, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	var full, resumed atomic.Int64
	var failing atomic.Bool
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})}
	tlsLn := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, VerifyConnection: func(cs tls.ConnectionState) error {
		if cs.DidResume {
			resumed.Add(1)
		} else {
			full.Add(1)
		}
		return nil
	}})
	go srv.Serve(tlsLn)
	t.Cleanup(func() { srv.Close() })

	c, err := ParseCheck(fmt.Sprintf("https://%s:%d/", name, ln.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	probe := newProber(Settings{Checks: []*Check{c}, Fall: 3, TLS: &tls.Config{RootCAs: ca.pool}}, netip.MustParseAddr(ip))
	run := func(n int, pass bool) {
		t.Helper()
		for i := range n {
			if _, err := probeWithin(probe, time.Second); (err == nil) != pass {
				t.Fatalf("probe %d: %v, want passed=%v", i, err, pass)
			}
		}
	}
	run(9, true)
	if full.Load() != 3 || resumed.Load() != 6 {
		t.Errorf("9 probes: %d full handshakes and %d resumed, want 3 and 6", full.Load(), resumed.Load())
	}
	failing.Store(true)
	run(1, false)
	failing.Store(false)
	full.Store(0)
	resumed.Store(0)
	run(2, true)
	if full.Load() != 1 || resumed.Load() != 1 {
		t.Errorf("after a failure: %d full handshakes and %d resumed, want 1 then 1", full.Load(), resumed.Load())
	}
}

// TestHTTPSKeyExchange: a probe settles on X25519 with a server that offers
// Go's defaults (the post-quantum hybrid first), and still probes a server
// that takes P-256 alone.
func TestHTTPSKeyExchange(t *testing.T) {
	const ip, name = "127.0.0.33", "app.example.org"
	ca := newTestCA(t)
	cert := ca.issue(t, name, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	for _, tc := range []struct {
		server []tls.CurveID
		want   tls.CurveID
	}{
		{nil, tls.X25519},
		{[]tls.CurveID{tls.CurveP256}, tls.CurveP256},
	} {
		var got atomic.Uint32
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
		go srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, CurvePreferences: tc.server,
			VerifyConnection: func(cs tls.ConnectionState) error { got.Store(uint32(cs.CurveID)); return nil }}))
		c, err := ParseCheck(fmt.Sprintf("https://%s:%d/", name, ln.Addr().(*net.TCPAddr).Port))
		if err != nil {
			t.Fatal(err)
		}
		probe := newProber(Settings{Checks: []*Check{c}, Fall: 1, TLS: &tls.Config{RootCAs: ca.pool}}, netip.MustParseAddr(ip))
		if _, err := probeWithin(probe, time.Second); err != nil {
			t.Errorf("server curves %v: %v", tc.server, err)
		}
		if tls.CurveID(got.Load()) != tc.want {
			t.Errorf("server curves %v: the probe settled on %v, want %v", tc.server, tls.CurveID(got.Load()), tc.want)
		}
		srv.Close()
	}
}
