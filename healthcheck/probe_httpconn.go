package healthcheck

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// An http or https check without keepalive opens a connection per probe,
// writes one request and reads one response. net/http's Transport is built
// for the opposite, connections kept and shared: for each probe it starts a
// reader and a writer goroutine, and hands the request and response between
// them over channels. At thousands of probes a second that was more CPU
// than the probed server spent answering. So such a probe writes the
// request, made once by net/http (Request.Write), straight onto its own
// connection and reads the answer with net/http's parser (ReadResponse),
// in the probing goroutine. The Transport still serves `keepalive`.

// connProber probes one endpoint over a connection of its own per probe.
type connProber struct {
	addr  netip.Addr // the endpoint's address: every hop, redirects included, dials it
	loop  *loopRef   // where http hops run their connections (connloop.go)
	opts  *HTTPOptions
	first *hop
	base  *tls.Config // the Settings' TLS, for the hops a redirect takes to https
	tls   *sessions   // of https hops; nil for an http check
}

// hop is one request of a probe: the check's, or one a redirect leads to.
type hop struct {
	url     *url.URL
	port    uint16
	req     *http.Request // its method tells ReadResponse whether a body follows
	request []byte        // as written on the wire
}

func newConnProber(c *Check, s Settings, host string, addr netip.Addr, port string, loop *loopRef) (*connProber, error) {
	p := &connProber{addr: addr, loop: loop, opts: &s.HTTP, base: s.TLS}
	if c.Scheme == "https" {
		p.tls = newSessions(clientTLS(s.TLS, host), s.Fall)
	}
	u, err := url.Parse(c.Scheme + "://" + net.JoinHostPort(host, port) + c.Path)
	if err != nil {
		return nil, err
	}
	p.first, err = p.hopTo(u)
	return p, err
}

// hopTo makes the request of u, as the Transport would send it.
func (p *connProber) hopTo(u *url.URL) (*hop, error) {
	req, err := probeRequest(context.Background(), p.opts, u.String())
	if err != nil {
		return nil, err
	}
	req.Close = true // Connection: close
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		return nil, err
	}
	port := uint16(80)
	if u.Scheme == "https" {
		port = 443
	}
	if u.Port() != "" {
		n, err := strconv.ParseUint(u.Port(), 10, 16)
		if err != nil {
			return nil, err
		}
		port = uint16(n)
	}
	return &hop{url: u, port: port, req: req, request: buf.Bytes()}, nil
}

func (p *connProber) probe(ctx context.Context) error {
	err := p.follow(ctx)
	if p.tls != nil {
		p.tls.probed(err == nil)
	}
	return err
}

func (p *connProber) follow(ctx context.Context) error {
	h := p.first
	for redirects := 0; ; redirects++ {
		status, location, err := p.exchange(ctx, h)
		if err != nil {
			return err
		}
		if !p.opts.FollowRedirects || !isRedirect(status) {
			if !p.opts.passes(status) {
				return statusError(status)
			}
			return nil
		}
		if redirects == maxRedirects {
			return redirectError(fmt.Sprintf("stopped after %d redirects", maxRedirects))
		}
		next, err := h.url.Parse(location)
		if err != nil || location == "" {
			return redirectError(fmt.Sprintf("redirect %d without a valid Location", status))
		}
		if h, err = p.hopTo(next); err != nil {
			return redirectError(fmt.Sprintf("redirect %d to %s: %v", status, location, err))
		}
	}
}

// exchange makes h's request on a new connection to the endpoint, and returns
// the final status and Location. With BodyContains, a status that passes
// must come with the text in its body.
func (p *connProber) exchange(ctx context.Context, h *hop) (status int, location string, err error) {
	addrPort := netip.AddrPortFrom(p.addr, h.port)
	if l := loaded(p.loop, p.addr); l != nil && h.url.Scheme == "http" && p.opts.BodyContains == "" {
		if r, ok := l.exchange(ctx, newLoopConn(addrPort, h.request, h.req)); ok {
			return r.status, r.location, r.err
		}
	}
	raw, err := probeDialer.DialContext(ctx, "tcp", addrPort.String())
	if err != nil {
		return 0, "", err
	}
	closeWithReset(raw)
	defer raw.Close()
	// The context bounds every read and write, and its end (the engine
	// stopping) cuts them short.
	if deadline, ok := ctx.Deadline(); ok {
		raw.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	reset := &resetRecorder{Conn: raw, reset: &connReset{}}
	conn := net.Conn(reset)
	if h.url.Scheme == "https" {
		var cfg *tls.Config
		if p.tls != nil {
			cfg = p.tls.config()
		} else { // an http check redirected to https
			cfg = clientTLS(p.base, h.url.Hostname())
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return 0, "", err
		}
		conn = tc
	}
	if _, err := conn.Write(h.request); err != nil {
		return 0, "", withReset(err, reset.reset)
	}

	limit := &headerLimit{r: conn, left: maxHeaderBytes}
	br := readers.Get().(*bufio.Reader)
	br.Reset(limit)
	defer func() {
		br.Reset(nil) // the pool keeps no connection alive
		readers.Put(br)
	}()
	resp, err := readFinalResponse(br, h.req)
	if err != nil {
		return 0, "", withReset(err, reset.reset)
	}
	limit.left = -1 // the body is bounded by bodyLimit alone
	if p.opts.BodyContains == "" || !p.opts.passes(resp.StatusCode) || (p.opts.FollowRedirects && isRedirect(resp.StatusCode)) {
		// Only the status counts; the body is never read, so its size cannot matter.
		return resp.StatusCode, resp.Header.Get("Location"), nil
	}
	if err := bodyContains(resp.Body, p.opts.BodyContains, p.opts.bodyLimit()); err != nil {
		return 0, "", withReset(err, reset.reset)
	}
	return resp.StatusCode, "", nil
}

// readFinalResponse reads past informational responses (1xx but 101), as
// the Transport does, and returns the final one.
func readFinalResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	for {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		if code := resp.StatusCode; code >= 200 || code < 100 || code == http.StatusSwitchingProtocols {
			return resp, nil
		}
	}
}

// readers are the buffers probes read responses with: one per probe in
// flight, not one per endpoint.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}

// headerLimit bounds what a probe reads before the final response's headers
// end, as the Transport's MaxResponseHeaderBytes does: past it, reading
// fails with the Transport's words, which Reason knows.
type headerLimit struct {
	r    io.Reader
	left int // bytes that may still be read; -1 once the headers are read
}

func (l *headerLimit) Read(b []byte) (int, error) {
	if l.left < 0 {
		return l.r.Read(b)
	}
	if l.left == 0 {
		return 0, headersTooLarge(maxHeaderBytes)
	}
	if len(b) > l.left {
		b = b[:l.left]
	}
	n, err := l.r.Read(b)
	l.left -= n
	return n, err
}

// headersTooLarge is a probe failure on headers longer than the limit.
type headersTooLarge int

func (e headersTooLarge) Error() string {
	return fmt.Sprintf("server response headers exceeded %d bytes; aborted", int(e))
}

// withReset says that the connection was reset when a read saw it, though
// the parser reports what it made of the bytes before (a line cut short).
func withReset(err error, reset *connReset) error {
	if r := reset.Load(); r != nil && !errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("%w: %w", err, *r)
	}
	return err
}
