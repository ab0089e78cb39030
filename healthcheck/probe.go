package healthcheck

import (
	"context"
	"net"
	"net/netip"
	"strconv"
)

// prober runs one probe of one endpoint. It returns nil when the endpoint passed.
// The context carries the probe's timeout.
type prober func(ctx context.Context) error

// newProber returns the prober of the endpoint at addr under s: every check of
// s, in order, each of which must pass.
func newProber(s Settings, addr netip.Addr) prober {
	probers := make([]prober, len(s.Checks))
	for i, c := range s.Checks {
		probers[i] = newCheckProber(c, s, addr)
	}
	if len(probers) == 1 {
		return probers[0]
	}
	return func(ctx context.Context) error {
		for _, p := range probers {
			if err := p(ctx); err != nil {
				return err
			}
		}
		return nil
	}
}

// newCheckProber returns the prober of one check for the endpoint at addr.
func newCheckProber(c *Check, s Settings, addr netip.Addr) prober {
	port := c.Port
	if s.Port != 0 {
		port = s.Port
	}
	target := net.JoinHostPort(addr.String(), strconv.Itoa(int(port)))
	switch c.Scheme {
	case "tcp":
		return func(ctx context.Context) error { return probeTCP(ctx, target) }
	case "dns":
		return newDNSProber(c, target)
	case "grpc", "grpcs":
		return newGRPCProber(c, s, addr, target)
	default:
		return newHTTPProber(c, s, addr, target)
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
