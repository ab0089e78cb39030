package healthcheck

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// statusError is a probe failure on an HTTP status the check does not expect.
type statusError int

func (e statusError) Error() string { return "status " + strconv.Itoa(int(e)) }

// newHTTPProberCloser returns the prober of an http or https check for the
// endpoint at addr, reached at target, and a function closing the connections
// it keeps alive between probes.
func newHTTPProberCloser(c *Check, s Settings, addr netip.Addr, target string, loop *loopRef) (prober, func()) {
	opts := s.HTTP
	host := checkHost(c, addr)
	// The request names the service (host); the transport dials the endpoint
	// (target). A redirect keeps to the endpoint's address: only its port
	// (http to https, say) and its request change.
	ip, port, _ := net.SplitHostPort(target)
	if !opts.KeepAlive {
		p, err := newConnProber(c, s, host, addr, port, loop)
		if err != nil { // ParseCheck took the URL: only a bug gets here
			return func(context.Context) error { return err }, nil
		}
		return p.probe, nil
	}
	reqURL := c.Scheme + "://" + net.JoinHostPort(host, port) + c.Path
	// No TCP keep-alive probes: a probe's connection lives for one exchange,
	// or idles between probes with keepalive, and setting them up costs a
	// system call per probe.
	dialer := &net.Dialer{KeepAlive: -1}
	transport := &http.Transport{
		// A kept-alive connection can hide a listener that no longer accepts:
		// unless asked, every probe opens a connection of its own, as Route 53
		// and gdnsd do.
		DisableKeepAlives: !opts.KeepAlive,
		Proxy:             nil, // never HTTP(S)_PROXY from the environment
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			conn, err := dialer.DialContext(ctx, network, net.JoinHostPort(ip, port))
			if err == nil && !opts.KeepAlive {
				closeWithReset(conn)
			}
			if reset, ok := ctx.Value(connResetKey{}).(*connReset); ok && err == nil {
				conn = &resetRecorder{Conn: conn, reset: reset}
			}
			return conn, err
		},
		TLSClientConfig:        tlsConfigFor(c.Scheme, s.TLS, host),
		DisableCompression:     true,
		MaxResponseHeaderBytes: int64(maxHeaderBytes),
	}
	if opts.KeepAlive {
		transport.MaxIdleConnsPerHost = 1
	}
	return func(ctx context.Context) error {
		reset := &connReset{}
		ctx = context.WithValue(ctx, connResetKey{}, reset)
		resp, err := roundTrip(ctx, transport, &opts, reqURL)
		if err != nil {
			// A reset in the middle of a line reaches the client as the part
			// of the line that came before it: say it was reset, not malformed.
			if r := reset.Load(); r != nil && !errors.Is(err, syscall.ECONNRESET) {
				return fmt.Errorf("%w: %w", err, *r)
			}
			return err
		}
		defer resp.Body.Close()
		if !opts.passes(resp.StatusCode) {
			return statusError(resp.StatusCode)
		}
		if opts.BodyContains == "" {
			// Only the status counts; the body is never read, so its size cannot matter.
			return nil
		}
		return bodyContains(resp.Body, opts.BodyContains, opts.bodyLimit())
	}, transport.CloseIdleConnections
}

// roundTrip sends the probe's request with the transport alone, not an
// http.Client: unless asked to follow, a redirect is an answer whatever its
// Location says (a Client parses Location even when told not to follow).
func roundTrip(ctx context.Context, transport *http.Transport, opts *HTTPOptions, reqURL string) (*http.Response, error) {
	for redirects := 0; ; redirects++ {
		req, err := probeRequest(ctx, opts, reqURL)
		if err != nil {
			return nil, err
		}
		resp, err := transport.RoundTrip(req)
		if err != nil || !opts.FollowRedirects || !isRedirect(resp.StatusCode) {
			return resp, err
		}
		resp.Body.Close()
		if redirects == maxRedirects {
			return nil, redirectError(fmt.Sprintf("stopped after %d redirects", maxRedirects))
		}
		next, err := req.URL.Parse(resp.Header.Get("Location"))
		if err != nil || resp.Header.Get("Location") == "" {
			return nil, redirectError(fmt.Sprintf("redirect %d without a valid Location", resp.StatusCode))
		}
		reqURL = next.String()
	}
}

// probeRequest is the request a probe sends to reqURL: the check's method
// and headers, a Host header naming the service, and our User-Agent.
func probeRequest(ctx context.Context, opts *HTTPOptions, reqURL string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, opts.method(), reqURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header = opts.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if host := req.Header.Get("Host"); host != "" {
		req.Host = host
		req.Header.Del("Host")
	}
	req.Header.Set("User-Agent", userAgent)
	return req, nil
}

// redirectError is a probe failure on a redirect that cannot be followed.
type redirectError string

func (e redirectError) Error() string { return string(e) }

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// bodyError is a probe failure on a body without the expected text.
type bodyError struct {
	want  string
	limit int
}

func (e bodyError) Error() string {
	return fmt.Sprintf("body does not contain %q in its first %d bytes", e.want, e.limit)
}

// bodyContains reads at most limit bytes of body and looks for want in them.
func bodyContains(body io.Reader, want string, limit int) error {
	buf, err := io.ReadAll(io.LimitReader(body, int64(limit)))
	if strings.Contains(string(buf), want) {
		return nil
	}
	if err != nil {
		return err
	}
	return bodyError{want, limit}
}

// connReset holds the read error of a probe's connection that was reset, if it was.
type connReset struct{ atomic.Pointer[error] }

// connResetKey carries a probe's *connReset in its context, to its dial.
type connResetKey struct{}

// resetRecorder is a probe's connection; it records a reset in reset.
type resetRecorder struct {
	net.Conn
	reset *connReset
}

func (c *resetRecorder) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if errors.Is(err, syscall.ECONNRESET) {
		c.reset.CompareAndSwap(nil, &err)
	}
	return n, err
}

// tlsConfigFor returns the TLS configuration of an https check, and none for
// http: at thousands of endpoints the copies would add up for nothing.
func tlsConfigFor(scheme string, base *tls.Config, host string) *tls.Config {
	if scheme != "https" {
		return nil
	}
	return clientTLS(base, host)
}

// clientTLS returns a copy of base, or of the defaults when base is nil, that
// names host as the server unless base names one, and allows no TLS below 1.2.
func clientTLS(base *tls.Config, host string) *tls.Config {
	cfg := &tls.Config{}
	if base != nil {
		cfg = base.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if cfg.CurvePreferences == nil {
		cfg.CurvePreferences = probeCurves
	}
	return cfg
}

// probeCurves are the key exchanges a probe offers: X25519, then P-256 for
// the servers without it; not Go's default post-quantum hybrid first
// (X25519MLKEM768). That hybrid cost a probe 35% more CPU and the server 25%
// more per handshake (bench/scale -check https, 1,000 endpoints), for
// secrecy a probe hardly needs long: its request is a path and perhaps a
// token that is rotated, its answer a status.
var probeCurves = []tls.CurveID{tls.X25519, tls.CurveP256}

const userAgent = "coredns-failover"

// maxHeaderBytes bounds what an HTTP probe reads of a response: its status
// line and headers. A variable for tests.
var maxHeaderBytes = 64 << 10
