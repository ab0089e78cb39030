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

// newProberCloser returns the prober of the endpoint at addr under s: every
// check of s, in order, each of which must pass. It also returns a function
// that closes the connections kept alive between probes (keepalive), so that
// no goroutine of theirs outlives the engine.
func newProberCloser(s Settings, addr netip.Addr) (prober, func()) {
	probers := make([]prober, len(s.Checks))
	var closers []func()
	for i, c := range s.Checks {
		var closeIdle func()
		probers[i], closeIdle = newCheckProber(c, s, addr)
		if closeIdle != nil {
			closers = append(closers, closeIdle)
		}
	}
	closeIdle := func() {
		for _, c := range closers {
			c()
		}
	}
	if len(probers) == 1 {
		return probers[0], closeIdle
	}
	return func(ctx context.Context) error {
		for _, p := range probers {
			if err := p(ctx); err != nil {
				return err
			}
		}
		return nil
	}, closeIdle
}

// newCheckProber returns the prober of one check for the endpoint at addr,
// and the function closing its idle connections, if it keeps any.
func newCheckProber(c *Check, s Settings, addr netip.Addr) (prober, func()) {
	port := c.Port
	if s.Port != 0 {
		port = s.Port
	}
	target := net.JoinHostPort(addr.String(), strconv.Itoa(int(port)))
	switch c.Scheme {
	case "tcp":
		return func(ctx context.Context) error { return probeTCP(ctx, target) }, nil
	case "dns":
		return newDNSProber(c, target), nil
	case "grpc", "grpcs":
		return newGRPCProber(c, s, addr, target), nil
	default:
		return newHTTPProberCloser(c, s, addr, target)
	}
}

func probeTCP(ctx context.Context, target string) error {
	d := net.Dialer{KeepAlive: -1} // no TCP keep-alive set-up for a connection closed at once
	conn, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return err
	}
	closeWithReset(conn)
	return conn.Close()
}

// closeWithReset makes the close of conn, a probe's connection used once, a
// reset rather than a FIN: the prober's side then keeps no socket in
// TIME_WAIT for a minute. At thousands of probes a second those would fill
// the kernel's table (tcp_max_tw_buckets), past which it drops TIME_WAIT
// state for every connection of the host. HAProxy ends its health checks
// the same way. By the time a probe closes, it has its answer: nothing
// unsent or unread matters.
func closeWithReset(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
}
