package healthcheck

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"syscall"
)

// prober runs one probe of one endpoint. It returns nil when the endpoint passed.
// The context carries the probe's timeout.
type prober func(ctx context.Context) error

// newProberCloser returns the prober of the endpoint at addr under s: every
// check of s, in order, each of which must pass. It also returns a function
// that closes the connections kept alive between probes (keepalive), so that
// no goroutine of theirs outlives the engine. Its probes run their
// connections on the loop that loop holds, once it holds one (nil: never).
func newProberCloser(s Settings, addr netip.Addr, loop *loopRef) (prober, func()) {
	probers := make([]prober, len(s.Checks))
	var closers []func()
	for i, c := range s.Checks {
		var closeIdle func()
		probers[i], closeIdle = newCheckProber(c, s, addr, loop)
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
func newCheckProber(c *Check, s Settings, addr netip.Addr, loop *loopRef) (prober, func()) {
	port := checkPort(c, s)
	target := net.JoinHostPort(addr.String(), strconv.Itoa(int(port)))
	switch c.Scheme {
	case "tcp":
		addrPort := netip.AddrPortFrom(addr, port)
		return func(ctx context.Context) error {
			if l := loaded(loop, addr); l != nil {
				if r, ok := l.exchange(ctx, newLoopConn(addrPort, nil, nil)); ok {
					return r.err
				}
			}
			return probeTCP(ctx, target)
		}, nil
	case "dns":
		return newDNSProber(c, target), nil
	case "grpc", "grpcs":
		return newGRPCProber(c, s, addr, target), nil
	default:
		return newHTTPProberCloser(c, s, addr, target, loop)
	}
}

// probeDialer dials the connections of tcp:// checks, and of http(s)://
// checks without keepalive: no TCP keep-alive set-up for a connection
// closed at once, and no ACK of its own to end the handshake.
var probeDialer = net.Dialer{KeepAlive: -1, Control: delayFinalACK}

func probeTCP(ctx context.Context, target string) error {
	conn, err := probeDialer.DialContext(ctx, "tcp", target)
	if err != nil {
		return err
	}
	closeWithReset(conn)
	return conn.Close()
}

// delayFinalACK turns quick ACKs off on a probe's socket before it
// connects, as HAProxy does for its checks: the handshake's last ACK then
// waits for data (or for the delayed-ACK timer, 40 ms at least) rather than
// going out alone at once. An http(s) probe's request, written at once,
// carries it: one packet fewer each way through both kernels. A tcp://
// probe sends nothing, and the reset that closes it goes in the ACK's
// place: the SYN-ACK has proved that the endpoint listens, and the server
// never has a connection to build, accept and close, which is most of the
// kernel's work for a check that only connects.
func delayFinalACK(_, _ string, rc syscall.RawConn) error {
	var err error
	rc.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 0)
	})
	return err
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

// checkPort is the port c probes under s.
func checkPort(c *Check, s Settings) uint16 {
	if s.Port != 0 {
		return s.Port
	}
	return c.Port
}

// checkHost is the host an http(s) check names: the endpoint's address
// unless the check names one.
func checkHost(c *Check, addr netip.Addr) string {
	if c.Host != "" {
		return c.Host
	}
	return addr.String()
}

// loaded returns the loop in ref, if there is one and it can reach addr: a
// zone (fe80::1%eth0) takes the net package's path.
func loaded(ref *loopRef, addr netip.Addr) *connLoop {
	if ref == nil || addr.Zone() != "" {
		return nil
	}
	return ref.Load()
}
