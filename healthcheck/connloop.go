package healthcheck

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The connections of tcp:// probes, and of http:// probes without
// keepalive or body_contains, run on one goroutine per scheduler with an
// epoll set of its own: the connLoop. The probing worker hands it the
// address and the request, and waits for the status.
//
// Why: through the net package, every probe paid for a netFD and its
// finalizer, the Dialer's address handling, a poller registration and its
// removal, deadline timers and a context callback: about 40 µs of user CPU
// a probe, three times HAProxy's (bench/scale -compare haproxy), which made
// the prober dearer than the server it probed. The loop makes the system
// calls a probe needs and no more (socket, connect, one epoll registration
// that the close drops, write, read, close), and wakes once for all the
// probes ready together.
//
// What it does not change: the request is still made by net/http, the
// answer is still read by net/http's parser under the same header limit,
// with 1xx answers skipped, and a reset or an early close gives the same
// errors as on the net package's path, which every other probe still takes.
// The probe's timeout is its worker's context: on expiry the worker takes
// its connection back from the loop, which closes it.

// loopRef is where an endpoint's probers find the loop of the scheduler
// that probes it; nil before it is scheduled, and for probers built alone
// (tests), which then take the net package's path.
type loopRef = atomic.Pointer[connLoop]

// connLoop runs probe connections on one goroutine, from start to stop.
type connLoop struct {
	epfd, wakefd int

	mu       sync.Mutex
	incoming []*loopConn // handed over, not yet started
	cancels  []*loopConn // taken back by their workers
	stopping bool
	asleep   atomic.Bool // in epoll_wait with nothing pending: a hand-over must wake it

	conns map[int32]*loopConn // started, by descriptor; the loop goroutine's own
	done  chan struct{}       // closed when the goroutine has returned
}

// loopConn is one probe's connection: its address and request, and what
// the loop has made of it so far.
type loopConn struct {
	addr    netip.AddrPort
	request []byte        // written once connected; nil for a tcp:// probe
	req     *http.Request // tells the parser whether a body follows

	result chan loopResult // gets exactly one
	cause  error           // why the worker took it back; set before the cancel

	// The loop goroutine's own.
	fd        int
	connected bool
	written   int
	buf       []byte // what has been read, up to maxHeaderBytes
	finished  bool
}

// loopResult is the end of a probe's connection: the final status and
// Location of an http probe, or why it failed.
type loopResult struct {
	status   int
	location string
	err      error
}

// startConnLoop starts a loop, or returns nil if the kernel gives no epoll
// set or eventfd: the probes then take the net package's path.
func startConnLoop() *connLoop {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	wake, _, errno := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if errno != 0 {
		syscall.Close(epfd)
		return nil
	}
	l := &connLoop{epfd: epfd, wakefd: int(wake), conns: map[int32]*loopConn{}, done: make(chan struct{})}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(l.wakefd)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, l.wakefd, &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(l.wakefd)
		return nil
	}
	go l.run()
	return l
}

// stop ends every connection still running, with net.ErrClosed, and
// returns once the goroutine has.
func (l *connLoop) stop() {
	l.mu.Lock()
	l.stopping = true
	l.mu.Unlock()
	l.wake()
	<-l.done
}

// exchange runs c on the loop and returns its result; ok is false if the
// loop has stopped, and c did not run. On the end of ctx (the probe's
// timeout, or its engine stopping) it takes c back, and the loop closes
// its connection.
func (l *connLoop) exchange(ctx context.Context, c *loopConn) (r loopResult, ok bool) {
	l.mu.Lock()
	if l.stopping {
		l.mu.Unlock()
		return r, false
	}
	l.incoming = append(l.incoming, c)
	asleep := l.asleep.Swap(false)
	l.mu.Unlock()
	if asleep {
		l.wake()
	}
	select {
	case r = <-c.result:
	case <-ctx.Done():
		l.mu.Lock()
		c.cause = ctx.Err()
		l.cancels = append(l.cancels, c)
		asleep := l.asleep.Swap(false)
		l.mu.Unlock()
		if asleep {
			l.wake()
		}
		r = <-c.result // the loop lets go of c
	}
	return r, true
}

func (l *connLoop) wake() {
	one := uint64(1)
	syscall.Write(l.wakefd, (*[8]byte)(unsafe.Pointer(&one))[:])
}

func (l *connLoop) run() {
	defer close(l.done)
	events := make([]syscall.EpollEvent, 128)
	var incoming, cancels []*loopConn
	for {
		l.mu.Lock()
		incoming, l.incoming = l.incoming, incoming[:0]
		cancels, l.cancels = l.cancels, cancels[:0]
		stopping := l.stopping
		if len(incoming) == 0 && len(cancels) == 0 && !stopping {
			l.asleep.Store(true)
		}
		l.mu.Unlock()
		for _, c := range cancels {
			l.finish(c, loopResult{err: c.cause})
		}
		for _, c := range incoming {
			if stopping {
				l.finish(c, loopResult{err: net.ErrClosed})
			} else if !c.finished { // unless taken back before it started
				l.start(c)
			}
		}
		clear(incoming)
		clear(cancels)
		if stopping {
			l.close()
			return
		}
		if !l.asleep.Load() {
			continue // more was handed over meanwhile
		}
		n, err := syscall.EpollWait(l.epfd, events, -1)
		l.asleep.Store(false)
		if err != nil && err != syscall.EINTR {
			// Not seen; the probes in flight end on their timeouts.
			continue
		}
		for _, ev := range events[:max(n, 0)] {
			if int(ev.Fd) == l.wakefd {
				var b [8]byte
				syscall.Read(l.wakefd, b[:])
				continue
			}
			if c := l.conns[ev.Fd]; c != nil {
				l.progress(c, ev.Events)
			}
		}
	}
}

// start opens c's connection and registers it for every event, edge
// triggered: one registration a connection, which its close drops.
func (l *connLoop) start(c *loopConn) {
	family, sa := syscall.AF_INET, syscall.Sockaddr(&syscall.SockaddrInet4{Port: int(c.addr.Port()), Addr: c.addr.Addr().As4()})
	if !c.addr.Addr().Is4() {
		family, sa = syscall.AF_INET6, &syscall.SockaddrInet6{Port: int(c.addr.Port()), Addr: c.addr.Addr().As16()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		c.fd = -1
		l.finish(c, loopResult{err: c.opError("dial", "socket", err)})
		return
	}
	c.fd = fd
	// See delayFinalACK.
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 0)
	if err := syscall.Connect(fd, sa); err != nil && err != syscall.EINPROGRESS {
		l.finish(c, loopResult{err: c.opError("dial", "connect", err)})
		return
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | -syscall.EPOLLET, Fd: int32(fd)}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.finish(c, loopResult{err: c.opError("dial", "epoll_ctl", err)})
		return
	}
	l.conns[int32(fd)] = c
}

// progress moves c on after events: connected, request written, answer read.
func (l *connLoop) progress(c *loopConn, events uint32) {
	if !c.connected {
		if events&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) == 0 {
			return
		}
		errno, err := syscall.GetsockoptInt(c.fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
		switch {
		case err != nil:
			l.finish(c, loopResult{err: c.opError("dial", "getsockopt", err)})
			return
		case errno != 0:
			l.finish(c, loopResult{err: c.opError("dial", "connect", syscall.Errno(errno))})
			return
		}
		c.connected = true
		if c.request == nil {
			l.finish(c, loopResult{}) // a tcp:// probe: connected is all it asks
			return
		}
	}
	if c.written < len(c.request) {
		n, err := syscall.Write(c.fd, c.request[c.written:])
		if err == syscall.EAGAIN {
			return // the next EPOLLOUT
		}
		if err != nil {
			l.finish(c, loopResult{err: c.opError("write", "write", err)})
			return
		}
		c.written += n
		if c.written < len(c.request) {
			return
		}
	}
	if events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		l.read(c)
	}
}

// read reads what c's connection holds, and ends c once net/http's parser
// has the final response's headers, or an error. A read that leaves room in
// the buffer has likely taken all there was: the parser is asked then,
// rather than after one more read that would find nothing.
func (l *connLoop) read(c *loopConn) {
	parsed := -1 // the bytes the parser found too few
	for {
		end := errNeedMore // what follows the bytes read
		if len(c.buf) == maxHeaderBytes {
			end = headersTooLarge(maxHeaderBytes)
		} else {
			if len(c.buf) == cap(c.buf) {
				grown := make([]byte, len(c.buf), min(max(2*cap(c.buf), 1<<10), maxHeaderBytes))
				copy(grown, c.buf)
				c.buf = grown
			}
			n, err := syscall.Read(c.fd, c.buf[len(c.buf):cap(c.buf)])
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				if len(c.buf) == parsed {
					return // the next EPOLLIN
				}
			case err != nil:
				end = c.opError("read", "read", err)
			case n == 0:
				end = io.EOF
			default:
				c.buf = c.buf[:len(c.buf)+n]
				if len(c.buf) == cap(c.buf) {
					continue // there may be more
				}
			}
		}
		r, complete := c.parse(end)
		if complete {
			l.finish(c, r)
			return
		}
		parsed = len(c.buf)
	}
}

// errNeedMore ends the bytes read so far of a response still coming.
var errNeedMore = errors.New("more to read")

// parse reads the final response from the bytes read, followed by end. It
// reports false if the parser needs more than has come yet.
func (c *loopConn) parse(end error) (r loopResult, complete bool) {
	b := c.buf
	if end == errNeedMore {
		// Whole lines only: the parser judges a line cut short by its end
		// as malformed, where the rest of it may be on its way.
		b = b[:bytes.LastIndexByte(b, '\n')+1]
	}
	br := readers.Get().(*bufio.Reader)
	br.Reset(&replay{b: b, end: end})
	defer func() {
		br.Reset(nil)
		readers.Put(br)
	}()
	resp, err := readFinalResponse(br, c.req)
	switch {
	case errors.Is(err, errNeedMore):
		return r, false
	case err != nil:
		if errors.Is(end, syscall.ECONNRESET) && !errors.Is(err, syscall.ECONNRESET) {
			// The parser says what it made of a line cut short; the reset
			// is the cause, as withReset says on the other path.
			err = errors.Join(err, end)
		}
		return loopResult{err: err}, true
	}
	return loopResult{status: resp.StatusCode, location: resp.Header.Get("Location")}, true
}

// replay reads b, then returns end.
type replay struct {
	b   []byte
	end error
}

func (r *replay) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, r.end
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// finish closes c's connection, with a reset once connected (see
// closeWithReset), and hands r to its worker.
func (l *connLoop) finish(c *loopConn, r loopResult) {
	if c.finished {
		return // taken back after it ended
	}
	c.finished = true
	if c.fd >= 0 {
		if c.connected {
			syscall.SetsockoptLinger(c.fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1})
		}
		syscall.Close(c.fd)
		delete(l.conns, int32(c.fd))
	}
	c.buf = nil
	c.result <- r
}

// close ends the connections left, at stop.
func (l *connLoop) close() {
	for _, c := range l.conns {
		l.finish(c, loopResult{err: net.ErrClosed})
	}
	syscall.Close(l.epfd)
	syscall.Close(l.wakefd)
}

// opError is the error the net package gives for a failed system call on
// c's connection, which Reason reads the same way.
func (c *loopConn) opError(op, call string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Addr: net.TCPAddrFromAddrPort(c.addr), Err: os.NewSyscallError(call, err)}
}

// newLoopConn returns the connection of a probe to addr, writing request
// (nil: connect only).
func newLoopConn(addr netip.AddrPort, request []byte, req *http.Request) *loopConn {
	return &loopConn{addr: addr, request: request, req: req, fd: -1, result: make(chan loopResult, 1)}
}
