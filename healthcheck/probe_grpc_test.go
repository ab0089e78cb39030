package healthcheck

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
)

// grpcServer is a real gRPC server on loopback with the standard health
// service, or none. It records the :authority and user agent of the last call.
type grpcServer struct {
	port      int
	health    *health.Server // nil: no health service
	authority atomic.Pointer[string]
	userAgent atomic.Pointer[string]
}

// newGRPCServer serves on a fresh port of ip until the test ends: over TLS
// when cert is not nil, the health service when withHealth. Its health
// service says SERVING for the server as a whole and for "up.example",
// NOT_SERVING for "down.example", UNKNOWN for "unknown.example" and
// SERVICE_UNKNOWN for "gone.example".
func newGRPCServer(t *testing.T, ip string, withHealth bool, cert *tls.Certificate) *grpcServer {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	s := &grpcServer{port: ln.Addr().(*net.TCPAddr).Port}
	opts := []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		authority, userAgent := strings.Join(md[":authority"], ","), strings.Join(md["user-agent"], ",")
		s.authority.Store(&authority)
		s.userAgent.Store(&userAgent)
		return handler(ctx, req)
	})}
	if cert != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{*cert}})))
	}
	srv := grpc.NewServer(opts...)
	if withHealth {
		s.health = health.NewServer() // SERVING for ""
		s.health.SetServingStatus("up.example", healthpb.HealthCheckResponse_SERVING)
		s.health.SetServingStatus("down.example", healthpb.HealthCheckResponse_NOT_SERVING)
		s.health.SetServingStatus("unknown.example", healthpb.HealthCheckResponse_UNKNOWN)
		s.health.SetServingStatus("gone.example", healthpb.HealthCheckResponse_SERVICE_UNKNOWN)
		healthpb.RegisterHealthServer(srv, s.health)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s
}

// probeSettings runs one probe of ip under s, bounded by timeout.
func probeSettings(t *testing.T, s Settings, ip string, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return newProber(s, netip.MustParseAddr(ip))(ctx)
}

// grpcSettings are Settings with the one check rawCheck and tlsConfig.
func grpcSettings(t *testing.T, rawCheck string, tlsConfig *tls.Config) Settings {
	t.Helper()
	c, err := ParseCheck(rawCheck)
	if err != nil {
		t.Fatal(err)
	}
	return Settings{Checks: []*Check{c}, TLS: tlsConfig}
}

func TestProbeGRPC(t *testing.T) {
	noLeaks(t)
	const ip = "127.0.0.95"
	s := newGRPCServer(t, ip, true, nil)
	bare := newGRPCServer(t, ip, false, nil)
	hang, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close() // accepted by the kernel backlog, never answered

	tests := []struct {
		check      string
		timeout    time.Duration
		wantReason string // "" means the probe passes
	}{
		{fmt.Sprintf("grpc://:%d", s.port), time.Second, ""},
		{fmt.Sprintf("grpc://:%d/", s.port), time.Second, ""},
		{fmt.Sprintf("grpc://:%d/up.example", s.port), time.Second, ""},
		{fmt.Sprintf("grpc://:%d/down.example", s.port), time.Second, "grpc status NOT_SERVING"},
		{fmt.Sprintf("grpc://:%d/unknown.example", s.port), time.Second, "grpc status UNKNOWN"},
		{fmt.Sprintf("grpc://:%d/gone.example", s.port), time.Second, "grpc status SERVICE_UNKNOWN"},
		{fmt.Sprintf("grpc://:%d/missing.example", s.port), time.Second, "grpc: NotFound: unknown service"},
		{fmt.Sprintf("grpc://:%d", bare.port), time.Second, "grpc: Unimplemented: unknown service grpc.health.v1.Health"},
		{fmt.Sprintf("grpc://:%d", freePort(t, ip)), time.Second, "connection refused"},
		{fmt.Sprintf("grpc://:%d", hang.Addr().(*net.TCPAddr).Port), 200 * time.Millisecond, "timeout"},
		{fmt.Sprintf("grpcs://:%d", s.port), time.Second, "tls: endpoint does not speak TLS"}, // TLS to a clear-text server
	}
	for _, tc := range tests {
		start := time.Now()
		err := probeOnce(t, tc.check, ip, tc.timeout)
		if got := Reason(err); got != tc.wantReason {
			t.Errorf("%s: reason %q (err %v), want %q", tc.check, got, err, tc.wantReason)
		}
		if took := time.Since(start); took > tc.timeout+slack {
			t.Errorf("%s: probe took %v, past its %v timeout", tc.check, took, tc.timeout)
		}
	}

	// A later status is the next probe's answer: nothing is kept between probes.
	check := fmt.Sprintf("grpc://:%d/up.example", s.port)
	s.health.SetServingStatus("up.example", healthpb.HealthCheckResponse_NOT_SERVING)
	if got := Reason(probeOnce(t, check, ip, time.Second)); got != "grpc status NOT_SERVING" {
		t.Errorf("%s after NOT_SERVING: reason %q", check, got)
	}
	s.health.SetServingStatus("up.example", healthpb.HealthCheckResponse_SERVING)
	if err := probeOnce(t, check, ip, time.Second); err != nil {
		t.Errorf("%s after SERVING again: %v", check, err)
	}
}

func TestProbeGRPCConnectsToEndpoint(t *testing.T) {
	noLeaks(t)
	const ip = "127.0.0.96"
	s := newGRPCServer(t, ip, true, nil)

	// The host names the service; the probe connects to the endpoint.
	if err := probeOnce(t, fmt.Sprintf("grpc://app.example.org:%d/", s.port), ip, time.Second); err != nil {
		t.Fatal(err)
	}
	if got, want := *s.authority.Load(), fmt.Sprintf("app.example.org:%d", s.port); got != want {
		t.Errorf("server saw :authority %q, want %q", got, want)
	}
	if got := *s.userAgent.Load(); !strings.HasPrefix(got, userAgent+" ") {
		t.Errorf("server saw user agent %q, want it to start with %q", got, userAgent)
	}
	// Without a host, the endpoint's address; the port is the settings' port
	// when they have one, as it is where the probe connects.
	settings := grpcSettings(t, "grpc://:1", nil)
	settings.Port = uint16(s.port)
	if err := probeSettings(t, settings, ip, time.Second); err != nil {
		t.Fatal(err)
	}
	if got, want := *s.authority.Load(), fmt.Sprintf("%s:%d", ip, s.port); got != want {
		t.Errorf("server saw :authority %q, want %q", got, want)
	}
	// Nothing listens on the port of another address.
	if got := Reason(probeOnce(t, fmt.Sprintf("grpc://:%d", s.port), "127.0.0.97", time.Second)); got != "connection refused" {
		t.Errorf("probe of another address: reason %q, want connection refused", got)
	}
}

func TestProbeGRPCTLS(t *testing.T) {
	noLeaks(t)
	const ip = "127.0.0.98"
	ca := newTestCA(t)
	cert := ca.issue(t, "grpc.example.org", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	s := newGRPCServer(t, ip, true, &cert)
	trustCA := &tls.Config{RootCAs: ca.pool}

	tests := []struct {
		check      string
		tls        *tls.Config
		wantReason string // "" means the probe passes
	}{
		{fmt.Sprintf("grpcs://grpc.example.org:%d/up.example", s.port), trustCA, ""},
		{fmt.Sprintf("grpcs://grpc.example.org:%d/down.example", s.port), trustCA, "grpc status NOT_SERVING"},
		{fmt.Sprintf("grpcs://grpc.example.org:%d", s.port), nil, "tls: certificate signed by unknown authority"},
		{fmt.Sprintf("grpcs://:%d", s.port), trustCA, "tls: certificate is not valid for " + ip},
		{fmt.Sprintf("grpcs://other.example.org:%d", s.port), trustCA, "tls: certificate is not valid for other.example.org"},
		// The settings' server name is verified; the host stays the :authority.
		{fmt.Sprintf("grpcs://other.example.org:%d", s.port), &tls.Config{RootCAs: ca.pool, ServerName: "grpc.example.org"}, ""},
		// grpc:// is clear text, whatever the TLS settings.
		{fmt.Sprintf("grpc://grpc.example.org:%d", s.port), trustCA, "grpc: Unavailable"},
	}
	for _, tc := range tests {
		err := probeSettings(t, grpcSettings(t, tc.check, tc.tls), ip, time.Second)
		if got := Reason(err); !strings.HasPrefix(got, tc.wantReason) || (tc.wantReason == "") != (got == "") {
			t.Errorf("%s with TLS %v: reason %q (err %v), want %q", tc.check, tc.tls != nil, got, err, tc.wantReason)
		}
	}
	if got, want := *s.authority.Load(), fmt.Sprintf("other.example.org:%d", s.port); got != want {
		t.Errorf("server saw :authority %q, want %q", got, want)
	}
}

func TestProbeGRPCStops(t *testing.T) {
	noLeaks(t)
	const ip = "127.0.0.99"
	hang, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	settings := grpcSettings(t, fmt.Sprintf("grpc://:%d", hang.Addr().(*net.TCPAddr).Port), nil)
	// A probe of an endpoint that never answers ends when its context is
	// cancelled, long before its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- newProber(settings, netip.MustParseAddr(ip))(ctx) }()
	hang.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	conn, err := hang.Accept()
	if err != nil {
		t.Fatalf("probe did not connect: %v", err)
	}
	defer conn.Close()
	expectCancelled(t, cancel, done)
}

func TestParseCheckGRPC(t *testing.T) {
	good := []struct {
		in, scheme, host, service string
		port                      uint16
	}{
		{"grpc://:50051", "grpc", "", "", 50051},
		{"grpc://:50051/", "grpc", "", "", 50051},
		{"grpc://:50051/grpc.health.v1.Health", "grpc", "", "grpc.health.v1.Health", 50051},
		{"grpc://app.example.org:443/my.pkg.Service", "grpc", "app.example.org", "my.pkg.Service", 443},
		{"grpcs://app.example.org:443", "grpcs", "app.example.org", "", 443},
		{"grpcs://[2001:db8::1]:8443/svc", "grpcs", "2001:db8::1", "svc", 8443},
	}
	for _, tc := range good {
		c, err := ParseCheck(tc.in)
		if err != nil {
			t.Errorf("ParseCheck(%q): unexpected error %v", tc.in, err)
			continue
		}
		if c.Scheme != tc.scheme || c.Host != tc.host || c.Service != tc.service || c.Port != tc.port || c.Path != "" {
			t.Errorf("ParseCheck(%q) = %+v, want scheme %q host %q service %q port %d", tc.in, c, tc.scheme, tc.host, tc.service, tc.port)
		}
	}

	bad := []badCheck{
		{"grpc://app.example.org/svc", `check URL "grpc://app.example.org/svc": a grpc check needs a port: grpc://[HOST]:PORT[/SERVICE]`},
		{"grpc://", "a grpc check needs a port"},
		{"grpcs://app.example.org", "a grpcs check needs a port: grpcs://"},
		{"grpc://:50051/svc?x=1", "a grpc check takes no query"},
		{"grpc://:0", `bad port "0"`},
		{"grpc://user@:50051", "user information is not supported"},
		{"grpc://:50051/#x", "a fragment is not supported"},
	}
	expectParseErrors(t, bad)
}
