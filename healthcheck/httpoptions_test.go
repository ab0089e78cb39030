package healthcheck

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseStatus(t *testing.T) {
	good := map[string]StatusRange{"204": {204, 204}, "200-299": {200, 299}, "2xx": {200, 299}, "5XX": {500, 599}, "301-301": {301, 301}}
	for in, want := range good {
		if got, err := ParseStatus(in); err != nil || got != want {
			t.Errorf("ParseStatus(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "20", "2000", "600", "099", "299-200", "2xy", "6xx", "0xx", "200-", "-200", "ok"} {
		if _, err := ParseStatus(in); err == nil || !strings.Contains(err.Error(), "'"+in+"' is not a status code") {
			t.Errorf("ParseStatus(%q): error %v", in, err)
		}
	}
}

// probeWith probes the endpoint at ip once with check and options.
func probeWith(t *testing.T, ip, check string, opts HTTPOptions) error {
	t.Helper()
	c, err := ParseCheck(check)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return newProber(Settings{Checks: []*Check{c}, HTTP: opts}, netip.MustParseAddr(ip))(ctx)
}

func TestHTTPOptions(t *testing.T) {
	const ip = "127.0.0.64"
	var mu sync.Mutex
	var lastMethod, lastHost, lastAuth string
	port := serve(t, ip, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastMethod, lastHost, lastAuth = r.Method, r.Host, r.Header.Get("Authorization")
		mu.Unlock()
		switch r.URL.Path {
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
		case "/body":
			fmt.Fprint(w, strings.Repeat("x", 100)+"READY"+strings.Repeat("y", 10000)+"LATE")
		case "/redirect":
			http.Redirect(w, r, "/teapot", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		}
	}))
	url := func(path string) string { return fmt.Sprintf("http://:%d%s", port, path) }
	last := func() (string, string, string) {
		mu.Lock()
		defer mu.Unlock()
		return lastMethod, lastHost, lastAuth
	}

	cases := []struct {
		name    string
		path    string
		opts    HTTPOptions
		wantErr string
	}{
		{"418 fails by default", "/teapot", HTTPOptions{}, "status 418"},
		{"418 passes when listed", "/teapot", HTTPOptions{Status: []StatusRange{{200, 200}, {418, 418}}}, ""},
		{"200 fails when not listed", "/", HTTPOptions{Status: []StatusRange{{204, 204}}}, "status 200"},
		{"body found", "/body", HTTPOptions{BodyContains: "READY"}, ""},
		{"body found at the limit's edge", "/body", HTTPOptions{BodyContains: "READY", BodyLimit: 105}, ""},
		{"body beyond the limit", "/body", HTTPOptions{BodyContains: "READY", BodyLimit: 104}, `body does not contain "READY" in its first 104 bytes`},
		{"body beyond the default limit", "/body", HTTPOptions{BodyContains: "LATE"}, `body does not contain "LATE" in its first 5120 bytes`},
		{"redirect passes, not followed", "/redirect", HTTPOptions{}, ""},
		{"redirect followed", "/redirect", HTTPOptions{FollowRedirects: true}, "status 418"},
		{"redirect loop", "/loop", HTTPOptions{FollowRedirects: true}, "stopped after 10 redirects"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := probeWith(t, ip, url(tc.path), tc.opts)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("probe error %v, want %q", err, tc.wantErr)
			}
		})
	}

	t.Run("method and headers", func(t *testing.T) {
		opts := HTTPOptions{Method: http.MethodHead}
		opts.AddHeader("Authorization", "Bearer s3cret")
		opts.AddHeader("Host", "app.example.org")
		if err := probeWith(t, ip, url("/"), opts); err != nil {
			t.Fatal(err)
		}
		if method, host, auth := last(); method != "HEAD" || host != "app.example.org" || auth != "Bearer s3cret" {
			t.Errorf("server saw %s, Host %q, Authorization %q", method, host, auth)
		}
		if strings.Contains(opts.identity(), "s3cret") != true {
			t.Error("header values do not tell probes apart")
		}
	})
}

// TestHTTPKeepAlive counts the connections three probes open: one each, or one
// in all when the user asks for reuse.
func TestHTTPKeepAlive(t *testing.T) {
	const ip = "127.0.0.65"
	var conns atomic.Int64
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
		ConnState: func(_ net.Conn, s http.ConnState) { countNew(&conns, s) },
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c, _ := ParseCheck(fmt.Sprintf("http://:%d/", ln.Addr().(*net.TCPAddr).Port))

	for _, keepAlive := range []bool{false, true} {
		conns.Store(0)
		probe := newProber(Settings{Checks: []*Check{c}, HTTP: HTTPOptions{KeepAlive: keepAlive}}, netip.MustParseAddr(ip))
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if err := probe(ctx); err != nil {
				t.Fatal(err)
			}
			cancel()
		}
		want := int64(3)
		if keepAlive {
			want = 1
		}
		if got := conns.Load(); got != want {
			t.Errorf("keepalive %t: %d connections for 3 probes, want %d", keepAlive, got, want)
		}
	}
}

func countNew(n *atomic.Int64, s http.ConnState) {
	if s == http.StateNew {
		n.Add(1)
	}
}

// TestKeepAliveClosedOnStop checks that connections kept between probes, and
// their goroutines, end with the engine.
func TestKeepAliveClosedOnStop(t *testing.T) {
	const ip = "127.0.0.63"
	port := serve(t, ip, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	noLeaks(t)
	c, _ := ParseCheck(fmt.Sprintf("http://:%d/", port))
	g := NewEngine(nil)
	e := g.Endpoint(netip.MustParseAddr(ip), Settings{Checks: []*Check{c}, Interval: time.Second, Timeout: 500 * time.Millisecond,
		Fall: 1, Rise: 1, HTTP: HTTPOptions{KeepAlive: true}})
	g.Start()
	if !e.Healthy() {
		t.Fatal("endpoint answering 200 is down")
	}
	g.Stop()
}

// TestEveryCheckMustPass probes one endpoint with a TCP and an HTTP check: it
// passes only while both do.
func TestEveryCheckMustPass(t *testing.T) {
	const ip = "127.0.0.62"
	var failing atomic.Bool
	port := serve(t, ip, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	tcp, _ := ParseCheck(fmt.Sprintf("tcp://:%d", port))
	web, _ := ParseCheck(fmt.Sprintf("http://:%d/", port))
	closed, _ := ParseCheck(fmt.Sprintf("tcp://:%d", freePort(t, ip)))
	probe := func(checks ...*Check) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return newProber(Settings{Checks: checks}, netip.MustParseAddr(ip))(ctx)
	}
	if err := probe(tcp, web); err != nil {
		t.Errorf("both checks pass, probe failed: %v", err)
	}
	failing.Store(true)
	if err := probe(tcp, web); err == nil || err.Error() != "status 503" {
		t.Errorf("HTTP check fails, probe error %v", err)
	}
	failing.Store(false)
	if err := probe(closed, web); err == nil || Reason(err) != "connection refused" {
		t.Errorf("TCP check fails, probe error %v", err)
	}
}
