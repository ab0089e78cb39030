package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// The loop's tests run on 127.0.0.40-127.0.0.44, real sockets each.

// startTestLoop starts a loop, stopped when the test ends.
func startTestLoop(t *testing.T) *connLoop {
	t.Helper()
	l := startConnLoop(nil)
	if l == nil {
		t.Fatal("no epoll set or eventfd")
	}
	t.Cleanup(l.stop)
	return l
}

// loopRequest is the request of an http check of /health on addr.
func loopRequest(t *testing.T, addr netip.AddrPort) *hop {
	t.Helper()
	p, err := newConnProber(&Check{Scheme: "http", Path: "/health"}, Settings{}, addr.Addr().String(), addr.Addr(), fmt.Sprint(addr.Port()), nil)
	if err != nil {
		t.Fatal(err)
	}
	return p.first
}

func TestConnLoopExchanges(t *testing.T) {
	noLeaks(t)
	l := startTestLoop(t)
	ln := listen(t, "127.0.0.40")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/elsewhere")
		w.WriteHeader(http.StatusTeapot)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	h := loopRequest(t, addr)

	r, ok := l.exchange(context.Background(), newLoopConn(addr, h.request, h.req))
	if !ok || r.err != nil || r.status != http.StatusTeapot || r.location != "/elsewhere" {
		t.Errorf("http: %+v, ran %v; want 418 and its Location", r, ok)
	}
	r, ok = l.exchange(context.Background(), newLoopConn(addr, nil, nil))
	if !ok || r.err != nil {
		t.Errorf("tcp: %+v, ran %v; want connected", r, ok)
	}
	ln.Close()
	r, _ = l.exchange(context.Background(), newLoopConn(addr, nil, nil))
	if Reason(r.err) != "connection refused" || r.err.Error() != fmt.Sprintf("dial tcp %s: connect: connection refused", addr) {
		t.Errorf("closed port: %v (reason %q); want the net package's refusal", r.err, Reason(r.err))
	}
}

// A probe taken back on its timeout ends at once, and its connection is
// closed: the endpoint, which never answers, sees it go.
func TestConnLoopTimeoutClosesTheConnection(t *testing.T) {
	noLeaks(t)
	l := startTestLoop(t)
	ln := listen(t, "127.0.0.41")
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	h := loopRequest(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	r, _ := l.exchange(ctx, newLoopConn(addr, h.request, h.req))
	took := time.Since(start)
	if Reason(r.err) != "timeout" || took > 100*time.Millisecond+slack {
		t.Errorf("%v after %v; want a timeout after 100ms", r.err, took)
	}
	c := <-accepted
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, c) // the request, then the end
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the endpoint read %v; want the probe's reset", err)
	}
}

// Stopping the loop ends the probes in flight, and then refuses new ones,
// which take the net package's path; its descriptors are closed.
func TestConnLoopStop(t *testing.T) {
	noLeaks(t)
	before := openFiles(t)
	l := startConnLoop(nil)
	ln := listen(t, "127.0.0.42")
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	h := loopRequest(t, addr)
	ended := make(chan loopResult, 1)
	go func() {
		r, _ := l.exchange(context.Background(), newLoopConn(addr, h.request, h.req))
		ended <- r
	}()
	c, err := ln.Accept() // the probe is in flight: it waits for an answer
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l.stop()
	if r := <-ended; !errors.Is(r.err, net.ErrClosed) {
		t.Errorf("a probe in flight at stop: %v; want net.ErrClosed", r.err)
	}
	if _, ok := l.exchange(context.Background(), newLoopConn(addr, nil, nil)); ok {
		t.Error("a stopped loop ran a probe")
	}
	c.Close()
	ln.Close()
	if after := openFiles(t); after != before {
		t.Errorf("%d descriptors open after the loop stopped, %d before", after, before)
	}
}

// An engine's tcp and http probes run on its scheduler's loop.
func TestEngineProbesOnTheLoop(t *testing.T) {
	noLeaks(t)
	ln := listen(t, "127.0.0.43")
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	g := NewEngine(nil)
	var endpoints []*Endpoint
	for _, check := range []string{"http://:%d/health", "tcp://:%d"} {
		s := faultSettings(t, fmt.Sprintf(check, port))
		endpoints = append(endpoints, g.Endpoint(netip.MustParseAddr("127.0.0.43"), s))
	}
	g.Start()
	defer g.Stop()
	for _, e := range endpoints {
		en := e.shared.Load()
		if loaded(&en.loop, en.addr) == nil {
			t.Errorf("%s: no loop", en)
		}
		within(t, time.Second, "probed", func() bool { return e.Probed() && e.Healthy() })
	}
}

func listen(t *testing.T, ip string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// A tcp:// probe passes on the SYN-ACK and resets in place of the
// handshake's last ACK (delayFinalACK): the server never has a connection
// to accept. On either path; the control, a connection that sends a byte,
// is accepted.
func TestTCPProbeLeavesNothingToAccept(t *testing.T) {
	noLeaks(t)
	l := startTestLoop(t)
	ln := listen(t, "127.0.0.44").(*net.TCPListener)
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	check, err := ParseCheck(fmt.Sprintf("tcp://:%d", addr.Port()))
	if err != nil {
		t.Fatal(err)
	}
	netPath := newProber(Settings{Checks: []*Check{check}}, addr.Addr())
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := netPath(ctx); err != nil {
			t.Fatalf("net path, probe %d: %v", i, err)
		}
		if r, _ := l.exchange(ctx, newLoopConn(addr, nil, nil)); r.err != nil {
			t.Fatalf("loop, probe %d: %v", i, r.err)
		}
		cancel()
	}
	if n := queued(t, ln); n != 0 {
		t.Fatalf("the server had %d connections of tcp probes to accept", n)
	}

	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte{0})
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	if n := queued(t, ln); n != 1 {
		t.Fatalf("control: %d connections to accept, want 1", n)
	}
}

// queued accepts what ln's queue holds and returns how many: connections
// reset before they were accepted count too, where net.Listener.Accept
// passes over them in silence (ECONNABORTED).
func queued(t *testing.T, ln *net.TCPListener) int {
	t.Helper()
	f, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	syscall.SetNonblock(fd, true)
	for n := 0; ; n++ {
		c, _, err := syscall.Accept4(fd, syscall.SOCK_CLOEXEC)
		switch err {
		case nil:
			syscall.Close(c)
		case syscall.ECONNABORTED:
		case syscall.EAGAIN:
			return n
		default:
			t.Fatal(err)
		}
	}
}

// One loop takes endpoints up to loopRate probes a second; past that the
// next loop starts, up to one per processor, and each endpoint goes to the
// loop with the fewest.
func TestLoopsFollowTheRate(t *testing.T) {
	noLeaks(t)
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one processor: one loop")
	}
	s := startScheduler()
	defer s.stop()
	every := func(interval time.Duration) *entry {
		return &entry{settings: Settings{Interval: interval}, direct: &loopProbe{}}
	}
	first := s.loopFor(every(time.Second / loopRate * 2)) // half a loop's rate
	if s.loopFor(every(time.Second/loopRate*2)) != first || len(s.loops) != 1 {
		t.Fatalf("%d loops for one loop's rate", len(s.loops))
	}
	second := s.loopFor(every(time.Second))
	if second == first || len(s.loops) != 2 {
		t.Fatalf("%d loops past one loop's rate; want a second", len(s.loops))
	}
	if s.loopFor(every(time.Second)) != second {
		t.Error("an endpoint went to the loop with more probes a second")
	}
}
