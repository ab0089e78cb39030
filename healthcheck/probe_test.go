package healthcheck

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// newProber returns the prober of the endpoint at addr under s, for tests
// that never keep connections between probes.
func newProber(s Settings, addr netip.Addr) prober {
	p, _ := newProberCloser(s, addr, nil)
	return p
}

// expectCancelled cancels a running probe, whose result done delivers, and
// checks that it returns context.Canceled promptly.
func expectCancelled(t *testing.T, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Errorf("cancelled probe returned %v, want %v", err, context.Canceled)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled probe did not return")
	}
}

// serve starts handler on a fresh port of ip and returns that port.
func serve(t *testing.T, ip string, handler http.Handler) (port int) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: handler}}
	srv.Start()
	t.Cleanup(srv.Close)
	return ln.Addr().(*net.TCPAddr).Port
}

// freePort returns a port on ip that nothing listens on.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func probeOnce(t *testing.T, rawCheck, ip string, timeout time.Duration) error {
	t.Helper()
	c, err := ParseCheck(rawCheck)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return newProber(Settings{Checks: []*Check{c}}, netip.MustParseAddr(ip))(ctx)
}

func TestProbeHTTP(t *testing.T) {
	const ip = "127.0.0.21"
	var gotHost, gotPath string
	port := serve(t, ip, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost, gotPath = r.Host, r.URL.RequestURI()
		switch r.URL.Path {
		case "/ok":
			fmt.Fprint(w, "ok")
		case "/redirect":
			http.Redirect(w, r, "http://192.0.2.1/elsewhere", http.StatusFound)
		case "/bad-redirect":
			w.Header().Set("Location", "%") // not a URL
			w.WriteHeader(http.StatusMovedPermanently)
		case "/unavailable":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))

	tests := []struct {
		check      string
		wantReason string // "" means the probe passes
		wantHost   string
	}{
		{fmt.Sprintf("http://:%d/ok", port), "", fmt.Sprintf("%s:%d", ip, port)},
		{fmt.Sprintf("http://app.example.org:%d/ok?deep=1", port), "", fmt.Sprintf("app.example.org:%d", port)},
		{fmt.Sprintf("http://:%d/redirect", port), "", ""},
		{fmt.Sprintf("http://:%d/bad-redirect", port), "", ""},
		{fmt.Sprintf("http://:%d/unavailable", port), "status 503", ""},
		{fmt.Sprintf("http://:%d/missing", port), "status 404", ""},
	}
	for _, tc := range tests {
		gotHost = ""
		err := probeOnce(t, tc.check, ip, time.Second)
		if got := Reason(err); got != tc.wantReason {
			t.Errorf("%s: reason %q (err %v), want %q", tc.check, got, err, tc.wantReason)
		}
		if tc.wantHost != "" && gotHost != tc.wantHost {
			t.Errorf("%s: endpoint saw Host %q, want %q", tc.check, gotHost, tc.wantHost)
		}
	}
	if gotPath != "/missing" {
		t.Errorf("last request path %q, want /missing", gotPath)
	}
}

func TestProbeHTTPIgnoresProxyEnvironment(t *testing.T) {
	const ip = "127.0.0.21"
	t.Setenv("HTTP_PROXY", fmt.Sprintf("http://%s:%d", ip, freePort(t, ip)))
	port := serve(t, ip, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	if err := probeOnce(t, fmt.Sprintf("http://app.example.org:%d/", port), ip, time.Second); err != nil {
		t.Fatalf("probe went through the proxy from the environment: %v", err)
	}
}

func TestProbeFailures(t *testing.T) {
	const ip = "127.0.0.22"
	closed := freePort(t, ip)

	hang, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close() // accepted by the kernel backlog, never answered

	// httptest's certificate is self-signed, for 127.0.0.1 and ::1 only.
	tlsServer := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tlsServer.Config.ErrorLog = stdlog.New(io.Discard, "", 0)
	tlsServer.StartTLS()
	defer tlsServer.Close()
	tlsPort := tlsServer.Listener.Addr().(*net.TCPAddr).Port
	hangPort := hang.Addr().(*net.TCPAddr).Port
	wrongName, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	wrongNameServer := &httptest.Server{Listener: wrongName, Config: &http.Server{ErrorLog: tlsServer.Config.ErrorLog}}
	wrongNameServer.StartTLS()
	defer wrongNameServer.Close()
	wrongNamePort := wrongName.Addr().(*net.TCPAddr).Port

	tests := []struct{ ip, check, wantReason string }{
		{ip, fmt.Sprintf("tcp://:%d", closed), "connection refused"},
		{ip, fmt.Sprintf("http://:%d/", closed), "connection refused"},
		{ip, fmt.Sprintf("http://:%d/", hangPort), "timeout"},
		{"127.0.0.1", fmt.Sprintf("https://:%d/", tlsPort), "tls: certificate signed by unknown authority"},
		{ip, fmt.Sprintf("https://:%d/", wrongNamePort), "tls: certificate is not valid for 127.0.0.22"},
		{"127.0.0.1", fmt.Sprintf("http://:%d/", tlsPort), "status 400"}, // plain HTTP to a TLS port
	}
	for _, tc := range tests {
		start := time.Now()
		err := probeOnce(t, tc.check, tc.ip, 300*time.Millisecond)
		if got := Reason(err); !strings.Contains(got, tc.wantReason) {
			t.Errorf("%s: reason %q (err %v), want %q", tc.check, got, err, tc.wantReason)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s: probe took %v, past its 300ms timeout", tc.check, took)
		}
	}
}

func TestProbeTCP(t *testing.T) {
	const ip = "127.0.0.23"
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	if err := probeOnce(t, fmt.Sprintf("tcp://:%d", port), ip, time.Second); err != nil {
		t.Fatalf("tcp probe of a listening port failed: %v", err)
	}
	// The probe connects to the endpoint's address, not to the loopback default.
	if err := probeOnce(t, fmt.Sprintf("tcp://:%d", port), "127.0.0.24", time.Second); err == nil {
		t.Fatal("tcp probe of another address passed")
	}
}

func TestClientTLS(t *testing.T) {
	if c := clientTLS(nil, "app.example.org"); c.ServerName != "app.example.org" || c.MinVersion != tls.VersionTLS12 || c.InsecureSkipVerify || c.RootCAs != nil {
		t.Errorf("defaults: %+v", c)
	}
	base := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10}
	c := clientTLS(base, "app.example.org")
	if c == base || base.ServerName != "" || base.MinVersion != tls.VersionTLS10 {
		t.Error("the base configuration was changed, not copied")
	}
	if !c.InsecureSkipVerify || c.ServerName != "app.example.org" || c.MinVersion != tls.VersionTLS12 {
		t.Errorf("copy of %+v: %+v", base, c)
	}
	c = clientTLS(&tls.Config{ServerName: "other.example.net", MinVersion: tls.VersionTLS13}, "app.example.org")
	if c.ServerName != "other.example.net" || c.MinVersion != tls.VersionTLS13 {
		t.Errorf("the base's server name and version were not kept: %+v", c)
	}
}
