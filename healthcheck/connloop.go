package healthcheck

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The connections of tcp:// probes, and of http:// probes without
// keepalive or body_contains, run on a goroutine with an epoll set of its
// own: a connLoop of the scheduler (one, and another for each loopRate
// probes a second beyond, see loopFor).
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
//
// An endpoint of one such check (most are) has its probes run by the loop
// from start to end (directProbe): the scheduler hands the loop the due
// endpoint instead of a worker, and the loop records the result and puts
// the endpoint back in the schedule itself, with no goroutine per probe
// and no hand-over between goroutines; its timeout is the loop's too. Other
// probes, and a probe called directly, hand their connection to the loop
// from their goroutine (exchange), whose context is the timeout: on its
// expiry the goroutine takes the connection back, and the loop closes it.

// loopRef is where an endpoint's probers find the loop of the scheduler
// that probes it; nil before it is scheduled, and for probers built alone
// (tests), which then take the net package's path.
type loopRef = atomic.Pointer[connLoop]

// connLoop runs probe connections on one goroutine, from start to stop.
type connLoop struct {
	epfd, wakefd int

	sched *scheduler // whose endpoints' probes it runs from start to end; its tokens bound them
	rate  float64    // the probes a second of the endpoints given to it; under the registry's lock

	mu       sync.Mutex
	incoming []*loopConn // handed over, not yet started
	cancels  []*loopConn // taken back by their workers
	due      []*slot     // endpoints whose probe it runs, handed over by dispatch
	sweep    bool        // endpoints were removed: end their probes
	stopping bool
	asleep   atomic.Bool // in epoll_wait with nothing pending: a hand-over must wake it

	// The loop goroutine's own.
	conns     map[int32]*loopConn // started, by descriptor
	free      []*loopConn         // done with, for the next probes it runs from start to end
	scratch   []byte              // where answers are read first
	deadlines loopDeadlines       // of the probes it runs from start to end
	done      chan struct{}       // closed when the goroutine has returned
}

// loopProbe is what the loop needs to run an endpoint's probes by itself:
// the address, the request, and the statuses that pass.
type loopProbe struct {
	addr    netip.AddrPort
	request []byte        // nil for tcp
	req     *http.Request // for the parser
	opts    *HTTPOptions  // nil for tcp
}

// directProbe returns the loopProbe of an endpoint of s at addr, or nil if
// its probes need more than the loop does: more than one check, another
// scheme than tcp or http, keepalive, body_contains or follow_redirects, or
// an address with a zone.
func directProbe(s Settings, addr netip.Addr) *loopProbe {
	if len(s.Checks) != 1 || addr.Zone() != "" {
		return nil
	}
	c := s.Checks[0]
	port := checkPort(c, s)
	switch {
	case c.Scheme == "tcp":
		return &loopProbe{addr: netip.AddrPortFrom(addr, port)}
	case c.Scheme == "http" && !s.HTTP.KeepAlive && s.HTTP.BodyContains == "" && !s.HTTP.FollowRedirects:
		p, err := newConnProber(c, s, checkHost(c, addr), addr, strconv.Itoa(int(port)), nil)
		if err != nil {
			return nil
		}
		opts := s.HTTP
		return &loopProbe{addr: netip.AddrPortFrom(addr, p.first.port), request: p.first.request, req: p.first.req, opts: &opts}
	}
	return nil
}

// loopConn is one probe's connection: its address and request, and what
// the loop has made of it so far.
type loopConn struct {
	addr    netip.AddrPort
	request []byte        // written once connected; nil for a tcp:// probe
	req     *http.Request // tells the parser whether a body follows

	result chan loopResult // gets exactly one; nil for a probe the loop runs from start to end
	cause  error           // why the worker took it back; set before the cancel

	// A probe the loop runs from start to end.
	slot     *slot
	opts     *HTTPOptions // nil for tcp
	started  time.Time
	deadline time.Time
	index    int // in deadlines

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
func startConnLoop(sched *scheduler) *connLoop {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	wake, _, errno := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if errno != 0 {
		syscall.Close(epfd)
		return nil
	}
	l := &connLoop{epfd: epfd, wakefd: int(wake), sched: sched, conns: map[int32]*loopConn{}, scratch: make([]byte, 0, 4<<10), done: make(chan struct{})}
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
	l.handOver(func() { l.stopping = true })
	<-l.done
}

// handOver changes what the loop has to do, under its lock, and wakes it if
// it sleeps: otherwise it sees the change before it next sleeps.
func (l *connLoop) handOver(change func()) {
	l.mu.Lock()
	change()
	asleep := l.asleep.Swap(false)
	l.mu.Unlock()
	if asleep {
		l.wake()
	}
}

// launch hands the loop sl, whose probe is due: the loop runs it, records
// its result and puts sl back in the schedule.
func (l *connLoop) launch(sl *slot) {
	l.handOver(func() { l.due = append(l.due, sl) })
}

// removed tells the loop that endpoints were removed: their probes end.
func (l *connLoop) removed() {
	l.handOver(func() { l.sweep = true })
}

// exchange runs c on the loop and returns its result; ok is false if the
// loop has stopped, and c did not run. On the end of ctx (the probe's
// timeout, or its engine stopping) it takes c back, and the loop closes
// its connection.
func (l *connLoop) exchange(ctx context.Context, c *loopConn) (r loopResult, ok bool) {
	l.handOver(func() {
		if ok = !l.stopping; ok {
			l.incoming = append(l.incoming, c)
		}
	})
	if !ok {
		return r, false
	}
	select {
	case r = <-c.result:
	case <-ctx.Done():
		l.handOver(func() {
			c.cause = ctx.Err()
			l.cancels = append(l.cancels, c)
		})
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
	var due []*slot
	for {
		l.mu.Lock()
		incoming, l.incoming = l.incoming, incoming[:0]
		cancels, l.cancels = l.cancels, cancels[:0]
		due, l.due = l.due, due[:0]
		stopping, sweep := l.stopping, l.sweep
		l.sweep = false
		if len(incoming) == 0 && len(cancels) == 0 && len(due) == 0 && !stopping && !sweep {
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
		for _, sl := range due {
			if stopping {
				l.sched.ended(sl, time.Time{}, 0, nil, false)
			} else {
				l.startSlot(sl)
			}
		}
		clear(incoming)
		clear(cancels)
		clear(due)
		if stopping {
			l.close()
			return
		}
		if sweep {
			l.endRemoved()
		}
		wait := 0 // more was handed over meanwhile: look, but do not sleep
		if l.asleep.Load() {
			wait = l.deadlines.wait(time.Now())
		}
		n, err := syscall.EpollWait(l.epfd, events, wait)
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
		l.expire(time.Now())
	}
}

// startSlot starts the probe of sl, as a worker would (scheduler.run).
func (l *connLoop) startSlot(sl *slot) {
	en := sl.en
	if en.ctx.Err() != nil || en.delegated.Load() {
		// Removed meanwhile, or another replica probes it: its time
		// passes without a probe.
		l.sched.ended(sl, time.Time{}, 0, nil, false)
		return
	}
	if !sl.first {
		l.sched.late.record(time.Since(l.sched.base) - sl.due)
	}
	p := en.direct
	c := l.newConn()
	*c = loopConn{addr: p.addr, request: p.request, req: p.req, fd: -1, slot: sl, opts: p.opts}
	c.started = time.Now()
	c.deadline = c.started.Add(en.settings.Timeout)
	l.deadlines.push(c)
	l.start(c)
}

// expire ends the probes past their timeout.
func (l *connLoop) expire(now time.Time) {
	for c := l.deadlines.first(); c != nil && !c.deadline.After(now); c = l.deadlines.first() {
		op := "dial"
		if c.connected {
			op = "read"
		}
		l.finish(c, loopResult{err: c.opError(op, "", os.ErrDeadlineExceeded)})
	}
}

// endRemoved ends the probes of removed endpoints.
func (l *connLoop) endRemoved() {
	for _, c := range l.conns {
		if c.slot != nil && c.slot.en.ctx.Err() != nil {
			l.finish(c, loopResult{err: context.Canceled})
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
		if events&(syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
			// Only then can the connect have failed: ask why.
			errno, err := syscall.GetsockoptInt(c.fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
			switch {
			case err != nil:
				l.finish(c, loopResult{err: c.opError("dial", "getsockopt", err)})
				return
			case errno != 0:
				l.finish(c, loopResult{err: c.opError("dial", "connect", syscall.Errno(errno))})
				return
			}
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
// rather than after one more read that would find nothing. The first bytes
// go to the loop's scratch buffer; c keeps a buffer of its own only while
// it waits for more of an answer, which a probe of a healthy endpoint
// rarely does.
func (l *connLoop) read(c *loopConn) {
	buf := c.buf
	if buf == nil {
		buf = l.scratch[:0]
	}
	parsed := -1 // the bytes the parser found too few
	for {
		end := errNeedMore // what follows the bytes read
		if len(buf) == maxHeaderBytes {
			end = headersTooLarge(maxHeaderBytes)
		} else {
			if len(buf) == cap(buf) {
				grown := make([]byte, len(buf), min(max(2*cap(buf), 1<<10), maxHeaderBytes))
				copy(grown, buf)
				buf = grown
			}
			n, err := syscall.Read(c.fd, buf[len(buf):min(cap(buf), maxHeaderBytes)])
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				if len(buf) == parsed {
					c.keep(buf, l.scratch) // until the next EPOLLIN
					return
				}
			case err != nil:
				end = c.opError("read", "read", err)
			case n == 0:
				end = io.EOF
			default:
				buf = buf[:len(buf)+n]
				if len(buf) == cap(buf) {
					continue // there may be more
				}
			}
		}
		r, complete := c.parse(buf, end)
		if complete {
			l.finish(c, r)
			return
		}
		parsed = len(buf)
	}
}

// keep makes buf, the answer read so far, c's own, copied out of scratch.
func (c *loopConn) keep(buf, scratch []byte) {
	switch {
	case len(buf) == 0:
		buf = nil
	case &buf[:1][0] == &scratch[:1][0]:
		buf = append(make([]byte, 0, cap(scratch)), buf...)
	}
	c.buf = buf
}

// errNeedMore ends the bytes read so far of a response still coming.
var errNeedMore = errors.New("more to read")

// parse reads the final response from the bytes read, followed by end. It
// reports false if the parser needs more than has come yet.
func (c *loopConn) parse(b []byte, end error) (r loopResult, complete bool) {
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

// finish closes c's connection, with a reset (see closeWithReset), and
// hands r to its worker, or records it for its endpoint.
func (l *connLoop) finish(c *loopConn, r loopResult) {
	if c.finished {
		return // taken back after it ended
	}
	c.finished = true
	if c.fd >= 0 {
		// Connected or not as far as the loop has seen: the kernel may have
		// finished the handshake while the loop was busy.
		syscall.SetsockoptLinger(c.fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &resetLinger)
		syscall.Close(c.fd)
		delete(l.conns, int32(c.fd))
	}
	c.buf = nil
	if c.slot == nil {
		c.result <- r
		return
	}
	l.deadlines.remove(c)
	err := r.err
	if err == nil && c.opts != nil && !c.opts.passes(r.status) {
		err = statusError(r.status)
	}
	sl, started := c.slot, c.started
	*c = loopConn{}
	l.free = append(l.free, c) // nothing else holds it now
	l.sched.ended(sl, started, time.Since(started), err, true)
}

// newConn returns a connection the loop has done with, or a new one.
func (l *connLoop) newConn() *loopConn {
	if n := len(l.free); n > 0 {
		c := l.free[n-1]
		l.free = l.free[:n-1]
		return c
	}
	return new(loopConn)
}

// resetLinger makes a close send a reset (see closeWithReset).
var resetLinger = syscall.Linger{Onoff: 1}

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
	if call != "" {
		err = os.NewSyscallError(call, err)
	}
	return &net.OpError{Op: op, Net: "tcp", Addr: net.TCPAddrFromAddrPort(c.addr), Err: err}
}

// newLoopConn returns the connection of a probe to addr, writing request
// (nil: connect only).
func newLoopConn(addr netip.AddrPort, request []byte, req *http.Request) *loopConn {
	return &loopConn{addr: addr, request: request, req: req, fd: -1, result: make(chan loopResult, 1)}
}

// loopDeadlines are the probes the loop runs from start to end, earliest
// timeout first.
type loopDeadlines []*loopConn

func (d loopDeadlines) Len() int           { return len(d) }
func (d loopDeadlines) Less(i, j int) bool { return d[i].deadline.Before(d[j].deadline) }
func (d loopDeadlines) Swap(i, j int) {
	d[i], d[j] = d[j], d[i]
	d[i].index, d[j].index = i, j
}
func (d *loopDeadlines) Push(x any) {
	c := x.(*loopConn)
	c.index = len(*d)
	*d = append(*d, c)
}
func (d *loopDeadlines) Pop() any {
	old := *d
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*d = old[:len(old)-1]
	c.index = -1
	return c
}

func (d *loopDeadlines) push(c *loopConn) { heap.Push(d, c) }

func (d *loopDeadlines) remove(c *loopConn) {
	if c.index >= 0 {
		heap.Remove(d, c.index)
	}
}

func (d loopDeadlines) first() *loopConn {
	if len(d) == 0 {
		return nil
	}
	return d[0]
}

// wait is epoll_wait's timeout until the first deadline, in milliseconds
// rounded up; -1, none, for no deadline.
func (d loopDeadlines) wait(now time.Time) int {
	if len(d) == 0 {
		return -1
	}
	return int(max(d[0].deadline.Sub(now)+time.Millisecond-1, 0) / time.Millisecond)
}
