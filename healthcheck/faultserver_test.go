package healthcheck

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// faultServer is a raw TCP endpoint on loopback whose behaviour a test
// switches while probes run. Each connection reads one request and then gets
// the mode current at that moment; the server closes the connection when the
// behaviour returns.
type faultServer struct {
	ln   net.Listener
	port int
	mode atomic.Pointer[mode]

	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// behaviour answers one request on c.
type behaviour func(c *net.TCPConn)

// mode is one behaviour and the requests it got.
type mode struct {
	answer behaviour
	served atomic.Int64 // requests read, counted before the answer starts
}

// newFaultServer serves b on a fresh port of ip until the test ends.
func newFaultServer(t testing.TB, ip string, b behaviour) *faultServer {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	s := &faultServer{ln: ln, port: ln.Addr().(*net.TCPAddr).Port, conns: map[net.Conn]struct{}{}}
	s.set(b)
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

// set switches every later request to b and returns the mode that counts them.
func (s *faultServer) set(b behaviour) *mode {
	m := &mode{answer: b}
	s.mode.Store(m)
	return m
}

func (s *faultServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.handle(c.(*net.TCPConn))
	}
}

func (s *faultServer) handle(c *net.TCPConn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	// A backstop only: no behaviour may outlive a stuck test by much.
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
		return
	}
	m := s.mode.Load()
	m.served.Add(1)
	m.answer(c)
}

// refuse closes the listener: from now on connections are refused.
func (s *faultServer) refuse() { s.ln.Close() }

func (s *faultServer) close() {
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// answer responds with status and an empty body.
func answer(status int) behaviour {
	return func(c *net.TCPConn) {
		fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status, http.StatusText(status))
	}
}

// silent accepts the request and never answers; it returns when the prober hangs up.
func silent(c *net.TCPConn) { io.Copy(io.Discard, c) }

// noLeaks fails t if a goroutine started during the test outlives it and its cleanups.
func noLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // registered first, so it runs last
}

// within polls cond until it holds, fails t if that takes longer than limit,
// and returns how long it took.
func within(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if took := time.Since(start); took > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}
