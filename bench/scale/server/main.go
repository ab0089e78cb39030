// Command server is the far side of the scale benchmark (see ../main.go): it
// answers HTTP 200 on one port of many loopback addresses, one listener each,
// and reports its own CPU time and the requests each address got. With
// -check https it answers over TLS, with a certificate for scale.example.org
// that it makes at start, signed by a CA it writes to -ca; with -check tcp it
// speaks no HTTP: it accepts each connection and closes it at once.
//
// It prints "ready PORT" once every address listens, then answers each line
// "stats" on its standard input with
//
//	stats USER_NS SYS_NS REQUESTS MIN MAX RESUMED FULL
//
// its CPU time since it started, and the requests (connections, for tcp)
// since the previous "stats": in all, and the fewest and most one answering
// address got; and the TLS handshakes since then, resumed and full. A line
//
//	fail MODE FIRST COUNT STRIDE
//
// makes COUNT addresses fail, the address of index FIRST and every STRIDE-th
// after it, and is answered "failed COUNT" once they do. MODE is refuse (the
// listener is closed: connections are refused), hang (requests are read and
// never answered) or error (HTTP 503). It exits when its standard input
// closes.
package main

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	first := flag.String("base", "127.1.0.1", "first address; the others follow it")
	n := flag.Int("n", 10000, "addresses")
	port := flag.Int("port", 0, "port on every address; 0: a free one of the first address")
	hang := flag.Int("hang", 0, "how many of the addresses, the last ones, read the request and never answer")
	check := flag.String("check", "http", "what to serve: http, https, or tcp (accept and close)")
	certKey := flag.String("cert-key", "ecdsa", "with -check https: the key of the certificate, ecdsa (P-256) or rsa (2048)")
	caFile := flag.String("ca", "", "with -check https: write the CA of the certificate here, in PEM")
	flag.Parse()
	base, err := netip.ParseAddr(*first)
	// Loopback, or addresses local to a network namespace of the caller's.
	if err != nil || !base.Is4() {
		fatalf("-base %q: want an IPv4 address", *first)
	}
	// A descriptor for each listener, and for the connections in flight.
	if err := raiseFileLimit(uint64(*n) + 2048); err != nil {
		fatalf("%v", err)
	}

	s := &server{base: ip4(base), counts: make([]atomic.Uint64, *n), modes: make([]atomic.Uint32, *n), hangFrom: *n - *hang}
	for i := s.hangFrom; i < *n; i++ {
		s.modes[i].Store(modeHang)
	}
	listeners := make([]io.Closer, *n) // closed, an address refuses
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          stdlog.New(io.Discard, "", 0),
	}
	var tlsConfig *tls.Config
	switch *check {
	case "http", "tcp":
	case "https":
		if *caFile == "" {
			fatalf("-check https needs -ca")
		}
		cert, err := makeCertificate(*certKey, *caFile)
		if err != nil {
			fatalf("%v", err)
		}
		// Session tickets are on, as in any Go server: a probe may resume.
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, VerifyConnection: s.countHandshake}
	default:
		fatalf("-check %q: want http, https or tcp", *check)
	}
	for i := range *n {
		addr := netip.AddrPortFrom(s.addr(i), uint16(*port))
		ln, err := net.Listen("tcp", addr.String())
		if err != nil {
			fatalf("listen on %d addresses: %v", i, err)
		}
		*port = ln.Addr().(*net.TCPAddr).Port
		listeners[i] = ln
		switch *check {
		case "tcp":
			f := rawListener(ln)
			listeners[i] = f
			go s.acceptAndClose(f, i)
		case "https":
			go srv.Serve(tls.NewListener(ln, tlsConfig))
		default:
			go srv.Serve(ln)
		}
	}
	fmt.Printf("ready %d\n", *port)

	last := make([]uint64, *n)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if strings.HasPrefix(in.Text(), "fail ") {
			fmt.Printf("failed %d\n", s.fail(in.Text(), listeners))
			continue
		}
		if in.Text() != "stats" {
			continue
		}
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		var total, fewest, most uint64
		fewest = ^uint64(0)
		for i := range s.counts {
			c := s.counts[i].Load()
			d := c - last[i]
			last[i] = c
			total += d
			if i < s.hangFrom {
				fewest, most = min(fewest, d), max(most, d)
			}
		}
		if s.hangFrom == 0 {
			fewest = 0
		}
		resumed, full := s.resumed.Swap(0), s.full.Swap(0)
		fmt.Printf("stats %d %d %d %d %d %d %d\n", ru.Utime.Nano(), ru.Stime.Nano(), total, fewest, most, resumed, full)
	}
}

type server struct {
	base     uint32
	counts   []atomic.Uint64 // requests per address
	modes    []atomic.Uint32 // how each address answers: modeOK, modeHang or modeError
	hangFrom int             // addresses from this index on never answer, from the start

	resumed, full atomic.Uint64 // TLS handshakes since the last stats
}

// countHandshake counts a TLS handshake, resumed or full. It runs on every
// handshake the server completes, resumed ones included.
func (s *server) countHandshake(cs tls.ConnectionState) error {
	if cs.DidResume {
		s.resumed.Add(1)
	} else {
		s.full.Add(1)
	}
	return nil
}

// acceptAndClose serves address i of -check tcp: each connection is counted
// and closed at once, as a TCP check needs no more. A failed address (mode
// hang) keeps its connections open until the prober closes them; mode error
// has no meaning without HTTP, and closes them as an answering one does.
//
// It accepts with accept4 itself rather than net.Listener.Accept, which
// retries in silence on ECONNABORTED: Linux returns that for a connection
// that was established and then reset before it was accepted, which a
// prober that closes with a reset as soon as it connects (HAProxy's tcp
// check) does nearly every time. Those connections cost the server as much,
// and are counted too.
func (s *server) acceptAndClose(ln *os.File, i int) {
	rc, err := ln.SyscallConn()
	if err != nil {
		fatalf("%v", err)
	}
	for {
		var acceptErr error
		err := rc.Read(func(fd uintptr) bool {
			for {
				nfd, _, err := syscall.Accept4(int(fd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
				switch err {
				case nil:
					s.counts[i].Add(1)
					s.closeAccepted(nfd, i)
				case syscall.ECONNABORTED:
					s.counts[i].Add(1)
				case syscall.EINTR:
				case syscall.EAGAIN:
					return false // wait until the listener is readable again
				default:
					acceptErr = err
					return true
				}
			}
		})
		if err != nil {
			return // closed: the address refuses
		}
		if acceptErr != nil {
			fatalf("accept on address %d: %v", i, acceptErr)
		}
	}
}

// rawListener returns ln as a file whose descriptor its RawConn can wait
// on (a net.Listener's RawConn cannot), and closes ln: the file's duplicate
// descriptor keeps the socket listening.
func rawListener(ln net.Listener) *os.File {
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		fatalf("%v", err)
	}
	ln.Close()
	return f
}

// closeAccepted closes a connection of address i at once, or, while the
// address hangs, once the prober closes it.
func (s *server) closeAccepted(fd, i int) {
	if s.modes[i].Load() != modeHang {
		syscall.Close(fd)
		return
	}
	f := os.NewFile(uintptr(fd), "")
	conn, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return
	}
	go func() { io.Copy(io.Discard, conn); conn.Close() }()
}

const (
	modeOK uint32 = iota
	modeHang
	modeError
)

// fail carries out the command "fail MODE FIRST COUNT STRIDE" and returns
// how many addresses it made fail.
func (s *server) fail(command string, listeners []io.Closer) int {
	var mode string
	var first, count, stride int
	if _, err := fmt.Sscanf(command, "fail %s %d %d %d", &mode, &first, &count, &stride); err != nil || stride < 1 {
		fatalf("bad command %q: want fail MODE FIRST COUNT STRIDE", command)
	}
	failed := 0
	for i := first; failed < count && i < len(listeners); i += stride {
		switch mode {
		case "refuse":
			listeners[i].Close()
		case "hang":
			s.modes[i].Store(modeHang)
		case "error":
			s.modes[i].Store(modeError)
		default:
			fatalf("bad mode %q: want refuse, hang or error", mode)
		}
		failed++
	}
	return failed
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := -1
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			i = int(ip4(ip.Unmap()) - s.base)
		}
	}
	if i < 0 || i >= len(s.counts) {
		http.Error(w, "unknown address", http.StatusInternalServerError)
		return
	}
	s.counts[i].Add(1)
	switch s.modes[i].Load() {
	case modeHang:
		<-r.Context().Done() // the prober hangs up at its timeout
		return
	case modeError:
		http.Error(w, "failing", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Length", "2")
	io.WriteString(w, "ok")
}

func (s *server) addr(i int) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], s.base+uint32(i))
	return netip.AddrFrom4(b)
}

func ip4(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

// raiseFileLimit makes sure the process may open want descriptors. Go raises
// the soft limit to the hard one when it starts; past that it takes privilege.
func raiseFileLimit(want uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= want {
		return nil
	}
	lim.Cur = want
	lim.Max = max(lim.Max, want)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("open files: need %d, and raising the limit failed: %v (try ulimit -n %d)", want, err, want)
	}
	return nil
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "server: "+format+"\n", args...)
	os.Exit(1)
}
