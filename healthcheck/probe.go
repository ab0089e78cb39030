package healthcheck

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"strconv"
)

// prober runs one probe of one endpoint. It returns nil when the endpoint passed.
// The context carries the probe's timeout.
type prober func(ctx context.Context) error

// newProber returns the prober of check c for the endpoint at addr.
func newProber(c *Check, addr netip.Addr) prober {
	target := c.dialAddress(addr.String())
	switch c.Scheme {
	case "tcp":
		return func(ctx context.Context) error { return probeTCP(ctx, target) }
	default:
		return newHTTPProber(c, addr, target)
	}
}

func probeTCP(ctx context.Context, target string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return err
	}
	return conn.Close()
}

// statusError is a probe failure on an HTTP status outside 200-399.
type statusError int

func (e statusError) Error() string { return "status " + strconv.Itoa(int(e)) }

func newHTTPProber(c *Check, addr netip.Addr, target string) prober {
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
			return dialer.DialContext(ctx, network, target)
		},
		TLSClientConfig:        &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12},
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxHeaderBytes,
	}
	client := &http.Client{
		Transport: transport,
		// A redirect is an answer: 3xx passes, and the probe never leaves the endpoint.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, reqURL, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", userAgent)
		resp, err := client.Do(req)
		if err != nil {
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

const (
	userAgent      = "coredns-failover"
	maxHeaderBytes = 64 << 10
)
