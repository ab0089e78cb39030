package healthcheck

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzProbeHTTP answers the HTTP prober's request with the fuzz bytes, verbatim,
// over a real connection that the endpoint closes after them. The probe must
// not panic, must end within its timeout, must give a short one-line reason,
// and must pass exactly when the bytes hold a response the HTTP client accepts
// with a status of 200-399 (see wantPass).
func FuzzProbeHTTP(f *testing.F) {
	const (
		ip      = "127.0.0.79"
		timeout = 200 * time.Millisecond
	)
	// A small header limit keeps the answers that cross it small: the fuzzer
	// minimizes each new input in time quadratic in its size, and inputs near
	// the real 64 KiB would take the whole run.
	f.Cleanup(func(limit int) func() { return func() { maxHeaderBytes = limit } }(maxHeaderBytes))
	maxHeaderBytes = 256

	f.Add([]byte("HTTP/1.1 200 OK\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 204 No Content\r\nServer: x\r\n\r\ntrailing bytes the probe never reads"))
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"))
	// Headers that end exactly at MaxResponseHeaderBytes pass; one byte more fails.
	for _, size := range []int{maxHeaderBytes, maxHeaderBytes + 1} {
		head := "HTTP/1.1 200 OK\r\nX: "
		f.Add([]byte(head + strings.Repeat("a", size-len(head)-len("\r\n\r\n")) + "\r\n\r\nbody"))
	}

	srv := newFaultServer(f, ip, silent)
	c, err := ParseCheck(fmt.Sprintf("http://:%d/", srv.port))
	if err != nil {
		f.Fatal(err)
	}
	probe := newProber(Settings{Checks: []*Check{c}}, netip.MustParseAddr(ip))

	f.Fuzz(func(t *testing.T, answer []byte) {
		srv.set(func(c *net.TCPConn) { c.Write(answer) })
		limit := timeout
		took, err := probeWithin(probe, limit)
		if isTimeout(err) {
			// The endpoint answers and closes at once: only a stalled machine
			// makes a probe time out. A stall passes; a hang repeats.
			limit *= 10
			took, err = probeWithin(probe, limit)
		}
		if isTimeout(err) {
			t.Fatalf("probe timed out twice on an endpoint that answers and closes: %v", err)
		}
		if took > limit+slack {
			t.Fatalf("probe took %v, past its %v timeout", took, limit)
		}
		if want := wantPass(answer); (err == nil) != want {
			t.Fatalf("probe passed=%v (%v), want %v", err == nil, err, want)
		}
		if err == nil {
			return
		}
		if r := Reason(err); r == "" || len(r) > maxReason || strings.ContainsAny(r, "\r\n") {
			t.Fatalf("reason %q (%d bytes) of error %v: want one short line", r, len(r), err)
		}
	})
}

// probeWithin runs one probe bounded by timeout and reports how long it took.
func probeWithin(probe prober, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	err := probe(ctx)
	return time.Since(start), err
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout()
}

// wantPass reports whether the prober should pass an endpoint that answers
// answer and closes. Plain http.ReadResponse on the bytes is not quite that:
// the HTTP transport around it reads past informational responses (1xx but
// 101: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n" passes), and
// reads at most maxHeaderBytes from the connection before the final response's
// headers end (longer headers fail, though ReadResponse would take them). So
// wantPass runs ReadResponse under those two rules, which makes the property
// an exact "if and only if" rather than one direction of it.
//
// What comes after the headers does not matter to either: the prober closes
// the body unread. Nor does segmentation: the limit counts bytes, not reads,
// and the endpoint closes after the answer, so the prober sees every byte of
// it, then EOF.
func wantPass(answer []byte) bool {
	br := bufio.NewReader(io.LimitReader(bytes.NewReader(answer), int64(maxHeaderBytes)))
	req, err := http.NewRequest(http.MethodGet, "http://endpoint/", nil)
	if err != nil {
		panic(err)
	}
	for {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return false
		}
		if code := resp.StatusCode; code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
			return code >= 200 && code <= 399
		}
	}
}
