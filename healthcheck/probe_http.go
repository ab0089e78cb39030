package healthcheck

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"syscall"
)

// statusError is a probe failure on an HTTP status outside 200-399.
type statusError int

func (e statusError) Error() string { return "status " + strconv.Itoa(int(e)) }

func newHTTPProber(c *Check, s Settings, addr netip.Addr, target string) prober {
	host := c.Host
	if host == "" {
		host = addr.String()
	}
	// The request names the service (host); the transport dials the endpoint (target).
	reqURL := c.Scheme + "://" + net.JoinHostPort(host, strconv.Itoa(int(c.Port))) + c.Path
	dialer := &net.Dialer{}
	transport := &http.Transport{
		// A kept-alive connection can hide a listener that no longer accepts:
		// every probe opens a connection of its own, as Route 53 and gdnsd do.
		DisableKeepAlives: true,
		Proxy:             nil, // never HTTP(S)_PROXY from the environment
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, target)
			if reset, ok := ctx.Value(connResetKey{}).(*connReset); ok && err == nil {
				conn = &resetRecorder{Conn: conn, reset: reset}
			}
			return conn, err
		},
		TLSClientConfig:        clientTLS(s.TLS, host),
		DisableCompression:     true,
		MaxResponseHeaderBytes: int64(maxHeaderBytes),
	}
	return func(ctx context.Context) error {
		reset := &connReset{}
		req, err := http.NewRequestWithContext(context.WithValue(ctx, connResetKey{}, reset), http.MethodGet, reqURL, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", userAgent)
		// The transport alone, not an http.Client: a redirect is an answer, so
		// 3xx passes whatever its Location says, and the probe never leaves
		// the endpoint. (A Client parses Location even when told not to follow.)
		resp, err := transport.RoundTrip(req)
		if err != nil {
			// A reset in the middle of a line reaches the client as the part
			// of the line that came before it: say it was reset, not malformed.
			if r := reset.Load(); r != nil && !errors.Is(err, syscall.ECONNRESET) {
				return fmt.Errorf("%w: %w", err, *r)
			}
			return err
		}
		// Only the status counts; the body is never read, so its size cannot matter.
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 399 {
			return statusError(resp.StatusCode)
		}
		return nil
	}
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
	return cfg
}

const userAgent = "coredns-failover"

// maxHeaderBytes bounds what an HTTP probe reads of a response: its status
// line and headers. A variable for tests.
var maxHeaderBytes = 64 << 10
