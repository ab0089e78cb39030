package failover

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	stdlog "log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

// pki is a CA made up for one test, with PEM files of a server certificate for
// app.example.org and a client certificate, all signed by it.
type pki struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
	pool                                                 *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &pki{caFile: filepath.Join(dir, "ca.pem"), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	writePEM(t, p.caFile, "CERTIFICATE", caDER)

	issue := func(name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
			DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		writePEM(t, certFile, "CERTIFICATE", der)
		writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
		return certFile, keyFile
	}
	p.serverCert, p.serverKey = issue("app.example.org", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = issue("prober", x509.ExtKeyUsageClientAuth)
	return p
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// serveHTTPS serves 200 over TLS on ip with p's server certificate, asking for
// a client certificate signed by p's CA when mutual is set.
func serveHTTPS(t *testing.T, ip string, p *pki, mutual bool) int {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	if mutual {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, p.pool
	}
	srv := &httptest.Server{
		Listener: ln, TLS: cfg,
		Config: &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ErrorLog: stdlog.New(io.Discard, "", 0)},
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return ln.Addr().(*net.TCPAddr).Port
}

// verdictOf starts the probes of a one-endpoint Corefile and returns the
// endpoint's first verdict: Start returns once every endpoint has one.
func verdictOf(t *testing.T, corefile string) bool {
	t.Helper()
	f, err := parse(caddy.NewTestController("dns", corefile))
	if err != nil {
		t.Fatal(err)
	}
	f.OnStartup()
	defer f.OnShutdown()
	return f.blocks[0].pools[0].members[0].endpoint.Healthy()
}

// TestTLSOptionsAgainstRealServers probes real HTTPS servers whose certificate
// a made-up CA signed, with the TLS options of a Corefile.
func TestTLSOptionsAgainstRealServers(t *testing.T) {
	p := newPKI(t)
	plain := serveHTTPS(t, "127.0.0.68", p, false)
	mutual := serveHTTPS(t, "127.0.0.69", p, true)
	block := func(ip string, port int, options string) string {
		return fmt.Sprintf("failover a.example.org {\nprimary %s\ncheck https://app.example.org:%d/\ninterval 1s\ntimeout 500ms\n%s\n}", ip, port, options)
	}
	tests := []struct {
		name    string
		ip      string
		port    int
		options string
		healthy bool
	}{
		{"system roots do not know the CA", "127.0.0.68", plain, "", false},
		{"tls CA", "127.0.0.68", plain, "tls " + p.caFile, true},
		{"tls CA, another server name", "127.0.0.68", plain, "tls " + p.caFile + "\ntls_servername other.example.org", false},
		{"opted out of verification", "127.0.0.68", plain, "tls_insecure_skip_verify", true},
		{"mutual TLS without a client certificate", "127.0.0.69", mutual, "tls " + p.caFile, false},
		{"mutual TLS with tls CERT KEY CA", "127.0.0.69", mutual, fmt.Sprintf("tls %s %s %s", p.clientCert, p.clientKey, p.caFile), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := verdictOf(t, block(tc.ip, tc.port, tc.options)); got != tc.healthy {
				t.Errorf("healthy %t, want %t", got, tc.healthy)
			}
		})
	}
}

// TestCheckAtAnotherAddress serves a virtual address while probing a real
// backend behind it: the virtual address is answered while the backend passes.
func TestCheckAtAnotherAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.66:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	go srv.Serve(ln)
	defer srv.Close()

	corefile := func(override string) string {
		// The secondary is checked on loopback too, where port 1 refuses at once.
		return fmt.Sprintf("failover a.example.org {\nprimary 192.0.2.10@%s\nsecondary 192.0.2.20@127.0.0.65\ncheck http://:1/\ninterval 1s\ntimeout 500ms\n}", override)
	}
	// The check URL names port 1, where nothing listens: only the override's port reaches the backend.
	if !verdictOf(t, corefile(fmt.Sprintf("127.0.0.66:%d", port))) {
		t.Error("the backend behind the virtual address is up, and its endpoint is down")
	}
	if verdictOf(t, corefile("127.0.0.67:"+fmt.Sprint(port))) {
		t.Error("nothing listens at the address to check, and its endpoint is up")
	}
}

// TestInsecureTLSWarnsAtStartup checks that opting out of verification is
// logged when the block starts.
func TestInsecureTLSWarnsAtStartup(t *testing.T) {
	var buf syncBuffer
	stdlog.SetOutput(&buf)
	defer stdlog.SetOutput(io.Discard)
	verdictOf(t, "failover a.example.org {\nprimary 127.0.0.68\ncheck https://:1/\ntls_insecure_skip_verify\n}")
	if got := buf.String(); !strings.Contains(got, "[WARNING] plugin/failover: failover block for a.example.org. (line 1): tls_insecure_skip_verify") {
		t.Errorf("no warning at startup; log:\n%s", got)
	}
}

// syncBuffer is a bytes.Buffer that probe goroutines may log to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
