// Command scale measures the probe engine at scale: it probes many HTTP
// endpoints, served by a separate process on loopback addresses, and reports
// whether the probes keep their schedule, and the prober's CPU time and memory.
//
// Run it from the repository root (make bench-scale):
//
//	go run ./bench/scale -endpoints 10000 -duration 30s
//	taskset -c 0 go run ./bench/scale -server-cpus 1   # the prober on CPU 0, the server on 1
//
// It builds ./bench/scale/server and starts it. The server listens on one port
// of -endpoints addresses from -base, one listener each (Linux routes all of
// 127.0.0.0/8 to lo), and each address is an endpoint of the engine, probed
// every -interval with a connection of its own. After Start returns and a
// warm-up, it measures for -duration: probes run and failed, their lateness
// (Engine.Lateness, reset at the start of the window), the prober's CPU time
// (getrusage) and memory, and the server's CPU time and requests. -hang makes
// the last endpoints accept and never answer, so that their probes time out.
//
// -check picks the check: http (GET /health, status only), tcp (the server
// accepts each connection and closes it) or https (the server makes a
// certificate for scale.example.org, and a CA that the prober trusts, at
// start; -cert-key rsa for RSA 2048 rather than ECDSA P-256; session tickets
// on). Every run prints the CPU per probe and the server's CPU per request,
// user and system, and their ratio; the TCP sockets in TIME_WAIT, the peak
// sampled every second and at the end; the server's TLS handshakes, resumed
// and full; and a yardstick: a Go benchmark of the same run, to read the
// figures of a slower or faster machine.
//
// With -names, it runs the real plugin instead of the bare engine, and a mass
// failure (make bench-scale-failover):
//
//	go run ./bench/scale -names 2000
//	go run ./bench/scale -names 10000 -per-block 5
//
// It sets failover up from a Corefile of -names names, -per-block names to a
// failover block, each block with a primary and a secondary address of its
// own (two endpoints a block), interval -interval, timeout -timeout, fall 1,
// and starts it as CoreDNS does. After -warmup, the server makes every
// primary fail at once (-fail: refuse connections, hang or answer 503), and
// the program queries each name through the plugin's ServeDNS, in rounds
// -poll apart (or three times as long as a round, so that the queries take
// at most a quarter of a core), until its answer is its secondary. It reports when the answers moved,
// relative to the failure (p50, p99, max), and the probes' lateness from the
// failure until an interval and timeout and a second after it.
//
// With -fail none, nothing fails: the real plugin (names, pools, metrics,
// a status listener; fall 3, rise 2 as the engine alone) probes for
// -duration, and the program prints the same
// figures as the engine alone (make bench-scale-checks):
//
//	go run ./bench/scale -names 5000 -fail none -duration 10s
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"flag"
	"fmt"
	golog "log"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/failover-dns/failover/healthcheck"
)

func main() {
	endpoints := flag.Int("endpoints", 10000, "endpoints, one loopback address each")
	duration := flag.Duration("duration", 30*time.Second, "how long to measure, after the warm-up")
	warmup := flag.Duration("warmup", 2*time.Second, "how long to wait after Start returns, for the second round to begin")
	interval := flag.Duration("interval", time.Second, "probe interval")
	timeout := flag.Duration("timeout", 500*time.Millisecond, "probe timeout")
	inFlight := flag.Int("inflight", 0, "healthcheck.MaxInFlight, the probes of the process in flight; 0: healthcheck.DefaultMaxInFlight")
	hang := flag.Int("hang", 0, "how many endpoints never answer (the probes time out)")
	first := flag.String("base", "127.1.0.1", "first endpoint address")
	serverBin := flag.String("server", "", "server binary; empty: go build ./bench/scale/server")
	serverCPUs := flag.String("server-cpus", "", "taskset -c list for the server, e.g. 1; empty: no pinning")
	verbose := flag.Bool("v", false, "print figures every second")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the measured window to this file")
	memProfile := flag.String("memprofile", "", "write a heap profile at the end of the window to this file")
	checkKind := flag.String("check", "http", "the check: http (GET /health), tcp (an accept-and-close server) or https (a certificate made at start)")
	certKey := flag.String("cert-key", "ecdsa", "with -check https: the server's key, ecdsa (P-256) or rsa (2048)")
	names := flag.Int("names", 0, "run the real plugin with this many names, and fail every primary at once; 0: the engine alone")
	perBlock := flag.Int("per-block", 1, "with -names: names a failover block; each block has two endpoints")
	failMode := flag.String("fail", "refuse", "with -names: how the primaries fail: refuse, hang or error (HTTP 503); none: nothing fails, the plugin probes for -duration")
	poll := flag.Duration("poll", 5*time.Millisecond, "with -names: the least time between two rounds of queries after the failure (at least 3 times a round)")
	wait := flag.Duration("wait", 15*time.Second, "with -names: the most to wait for every answer to move")
	logFile := flag.String("log", "", "write the log to this file; empty: discard it")
	loop := flag.Bool("loop", true, "healthcheck.ConnLoop: run the connections of tcp and http probes on one epoll loop; false: the net package's path")
	compare := flag.String("compare", "", "haproxy: after the engine's window, measure HAProxy's health checks of the same endpoints in a window as long (the engine alone)")
	flag.Parse()
	clog.Discard() // a line per verdict change: thousands with -hang
	healthcheck.ConnLoop = *loop
	if *logFile != "" {
		f, err := os.Create(*logFile)
		if err != nil {
			fatalf("%v", err)
		}
		defer f.Close()
		golog.SetOutput(f)
	}
	base, err := netip.ParseAddr(*first)
	if err != nil || !base.Is4() {
		fatalf("-base %q: want an IPv4 address", *first)
	}
	if *checkKind != "http" && *checkKind != "https" && *checkKind != "tcp" {
		fatalf("-check %q: want http, tcp or https", *checkKind)
	}
	var haproxy haproxyRun
	switch {
	case *compare == "":
	case *compare != "haproxy":
		fatalf("-compare %q: want haproxy", *compare)
	case *names > 0:
		fatalf("-compare haproxy measures the engine alone: leave -names out")
	default:
		haproxy = haproxyRun{bin: findHAProxy(), endpoints: *endpoints, base: base, check: *checkKind, interval: *interval, timeout: *timeout}
	}

	fmt.Printf("machine: %d CPUs, GOMAXPROCS %d, prober on CPUs %s, %s, load %s\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), procStatus("self", "Cpus_allowed_list"), runtime.Version(), loadavg())
	fmt.Printf("kernel: open files %s, ephemeral ports %s, tcp_tw_reuse %s, tcp_max_tw_buckets %s, somaxconn %s\n",
		fileLimit(), sysctl("net/ipv4/ip_local_port_range"), sysctl("net/ipv4/tcp_tw_reuse"),
		sysctl("net/ipv4/tcp_max_tw_buckets"), sysctl("net/core/somaxconn"))

	if *names > 0 {
		if *perBlock < 1 || *names%*perBlock != 0 {
			fatalf("-names %d is not a multiple of -per-block %d", *names, *perBlock)
		}
		*endpoints, *hang = 2**names / *perBlock, 0
	}
	// Before the server starts: the machine as the other processes load it.
	printYardstick(yardstick())
	srv := startServer(*serverBin, *serverCPUs, base, *endpoints, *hang, *checkKind, *certKey)
	defer srv.close()
	serving := *checkKind
	if serving == "https" {
		serving += ", " + *certKey + " certificate"
	}
	fmt.Printf("server: pid %d on CPUs %s, %d addresses from %s, port %d, %d hanging, %s\n",
		srv.cmd.Process.Pid, procStatus(fmt.Sprint(srv.cmd.Process.Pid), "Cpus_allowed_list"), *endpoints, base, srv.port, *hang, serving)

	if *names > 0 {
		m := massFailure{names: *names, perBlock: *perBlock, interval: *interval, timeout: *timeout,
			mode: *failMode, warmup: *warmup, poll: *poll, wait: *wait, check: *checkKind, duration: *duration, caFile: srv.caFile, fall: 1, rise: 1, cpuProfile: *cpuProfile}
		if *failMode == "none" {
			m.steady(srv, base)
		} else {
			m.run(srv, base)
		}
		return
	}

	check, err := healthcheck.ParseCheck(checkURL(*checkKind, srv.port))
	if err != nil {
		fatalf("%v", err)
	}
	settings := healthcheck.Settings{Checks: []*healthcheck.Check{check}, Interval: *interval, Timeout: *timeout, Fall: 3, Rise: 2}
	if *checkKind == "https" {
		settings.TLS = &tls.Config{RootCAs: loadCA(srv.caFile)}
	}
	var changes atomic.Int64
	g := healthcheck.NewEngine(func(*healthcheck.Endpoint) { changes.Add(1) })
	if *inFlight > 0 {
		healthcheck.MaxInFlight = *inFlight
	}
	addr := binary.BigEndian.Uint32(base.AsSlice())
	for i := range *endpoints {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], addr+uint32(i))
		g.Endpoint(netip.AddrFrom4(b), settings)
	}
	bound := *inFlight
	if bound <= 0 {
		bound = healthcheck.DefaultMaxInFlight
	}
	fmt.Printf("engine: %d endpoints, %s, interval %v, timeout %v, fall 3, rise 2, MaxInFlight %d\n",
		len(g.Endpoints()), check, *interval, *timeout, bound)
	// A descriptor for each probe in flight. Go has raised the soft limit to
	// the hard one already; past that it takes privilege.
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); lim.Cur < uint64(bound)+256 {
		fmt.Printf("warning: open files limited to %d: probes beyond that many in flight fail\n", lim.Cur)
	}

	started := time.Now()
	g.Start()
	startTook := time.Since(started)
	firstProbes, firstFailed := g.Probes()
	fmt.Printf("start: %v for the first round of %d probes (%d failed)\n", startTook.Round(time.Millisecond), firstProbes, firstFailed)

	// The second probes of the endpoints start an interval after their
	// phase: the warm-up lets that round begin before the measurement.
	time.Sleep(*warmup)
	r := measure(g, srv, *duration, *verbose, *cpuProfile, *memProfile)
	stopped := time.Now()
	g.Stop()
	stopTook := time.Since(stopped)

	expected := float64(*endpoints) / interval.Seconds()
	rate := float64(r.probes) / r.wall.Seconds()
	cpu := (r.user + r.sys).Seconds() / r.wall.Seconds()
	fmt.Printf("window: %v\n", r.wall.Round(time.Millisecond))
	fmt.Printf("probes: %.0f/s, expected %.0f/s (%.2f%%); failed %d; verdict changes since Start %d; healthy at the end %d of %d\n",
		rate, expected, 100*rate/expected, r.failed, changes.Load(), r.healthy, *endpoints)
	fmt.Printf("lateness from Start to the window: p50 %v, p99 %v, max %v over %d probes\n",
		r.startP50.Round(time.Microsecond), r.startP99.Round(time.Microsecond), r.startMost.Round(time.Microsecond), r.startN)
	fmt.Printf("lateness in the window: p50 %v, p99 %v, max %v over %d probes\n",
		r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.most.Round(time.Microsecond), r.n)
	fmt.Printf("prober CPU: %.3f s per s (user %.3f, sys %.3f; getrusage), %.1f µs per probe\n",
		cpu, r.user.Seconds()/r.wall.Seconds(), r.sys.Seconds()/r.wall.Seconds(), (r.user+r.sys).Seconds()/float64(r.probes)*1e6)
	fmt.Printf("prober memory: HeapInuse %.1f MiB (peak sampled %.1f MiB), Sys %.1f MiB, VmHWM %.1f MiB, goroutines peak %d\n",
		mib(r.heapInuse), mib(r.peakHeap), mib(r.sysMem), mib(r.hwm), r.peakGoroutines)
	fmt.Printf("server: %d requests (%.0f/s), per answering address min %d max %d; CPU %.3f s per s\n",
		r.server.requests, float64(r.server.requests)/r.wall.Seconds(), r.server.fewest, r.server.most, r.serverCPU.Seconds()/r.wall.Seconds())
	fmt.Printf("stop: %v; TCP sockets in TIME_WAIT at the end: %s\n", stopTook.Round(time.Millisecond), r.timeWait)
	engineCosts := costs{wall: r.wall, user: r.user, sys: r.sys, probes: r.probes, server: r.serverWindow, check: *checkKind}
	engineCosts.print()
	r.tw.print(base, *endpoints, srv.port)
	fmt.Printf("targets: p99 lateness < 100ms %s; CPU < 1 core %s; peak RSS < 200 MiB %s\n",
		verdict(r.p99 < 100*time.Millisecond), verdict(cpu < 1), verdict(r.hwm < 200<<20))
	if haproxy.bin != "" {
		haproxy.measure(srv, *warmup, *duration).print(base, *endpoints, srv.port, *checkKind, engineCosts)
	}
}

// results are the figures of the measured window.
type results struct {
	wall, user, sys, serverCPU time.Duration
	probes, failed             uint64
	p50, p99, most             time.Duration // lateness in the window
	n, healthy                 int
	startP50, startP99         time.Duration // lateness from Start to the window
	startMost                  time.Duration
	startN                     int
	heapInuse, peakHeap        uint64
	sysMem, hwm                uint64
	peakGoroutines             int
	server                     serverStats
	serverWindow               serverStats // CPU, requests and handshakes in the window
	timeWait                   string
	tw                         timeWait // sampled every second
}

// measure runs g for d and returns what it took.
func measure(g *healthcheck.Engine, srv *server, d time.Duration, verbose bool, cpuProfile, memProfile string) results {
	var r results
	r.startP50, r.startP99, r.startMost, r.startN = g.Lateness()
	g.ResetLateness()
	server0 := srv.stats() // also resets the server's per-address counts
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			fatalf("%v", err)
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
	}
	user0, sys0 := cpuTime()
	wall0 := time.Now()
	probes0, failed0 := g.Probes()
	var ms runtime.MemStats
	tick := time.NewTicker(time.Second)
	for end := wall0.Add(d); time.Now().Before(end); {
		<-tick.C
		runtime.ReadMemStats(&ms)
		r.peakHeap = max(r.peakHeap, ms.HeapInuse)
		r.peakGoroutines = max(r.peakGoroutines, runtime.NumGoroutine())
		r.tw.sample()
		if verbose {
			p, f := g.Probes()
			p50, p99, most, n := g.Lateness()
			fmt.Printf("  %5.1fs: %d probes (%d failed); lateness in the window p50 %v p99 %v max %v (%d); HeapInuse %.1f MiB; %d goroutines\n",
				time.Since(wall0).Seconds(), p, f, p50.Round(time.Microsecond), p99.Round(time.Microsecond), most.Round(time.Microsecond), n,
				mib(ms.HeapInuse), runtime.NumGoroutine())
		}
	}
	tick.Stop()
	r.wall = time.Since(wall0)
	user1, sys1 := cpuTime()
	r.user, r.sys = user1-user0, sys1-sys0
	pprof.StopCPUProfile()
	probes1, failed1 := g.Probes()
	r.probes, r.failed = probes1-probes0, failed1-failed0
	r.server = srv.stats()
	r.serverCPU = r.server.cpu - server0.cpu
	r.serverWindow = serverWindow(server0, r.server)
	r.p50, r.p99, r.most, r.n = g.Lateness()
	runtime.ReadMemStats(&ms)
	r.heapInuse, r.sysMem = ms.HeapInuse, ms.Sys
	r.hwm = procStatusBytes("self", "VmHWM")
	for _, e := range g.Endpoints() {
		if e.Healthy() {
			r.healthy++
		}
	}
	r.timeWait = sockstatTW()
	r.tw.sample()
	if memProfile != "" {
		f, err := os.Create(memProfile)
		if err != nil {
			fatalf("%v", err)
		}
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	return r
}

// checkURL returns the check of kind (http, https or tcp) on port. An https
// check names the server's certificate as its host; the probe still dials
// each endpoint's address.
func checkURL(kind string, port int) string {
	switch kind {
	case "tcp":
		return fmt.Sprintf("tcp://:%d", port)
	case "https":
		return fmt.Sprintf("https://%s:%d/health", serverName, port)
	}
	return fmt.Sprintf("http://:%d/health", port)
}

// loadCA returns a pool of the CA the server wrote.
func loadCA(file string) *x509.CertPool {
	b, err := os.ReadFile(file)
	if err != nil {
		fatalf("%v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		fatalf("%s holds no certificate", file)
	}
	return pool
}

// cpuTime returns the CPU time of this process, user and system.
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// procStatus returns a field of /proc/PID/status.
func procStatus(pid, field string) string {
	b, _ := os.ReadFile("/proc/" + pid + "/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// procStatusBytes returns a size field of /proc/PID/status, such as VmHWM.
func procStatusBytes(pid, field string) uint64 {
	var kb uint64
	fmt.Sscanf(procStatus(pid, field), "%d kB", &kb)
	return kb << 10
}

func sysctl(name string) string {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b)), "-")
}

func fileLimit() string {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return fmt.Sprintf("%d (hard %d)", lim.Cur, lim.Max)
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// sockstatTW returns the TCP sockets in TIME_WAIT, from /proc/net/sockstat.
func sockstatTW() string {
	b, _ := os.ReadFile("/proc/net/sockstat")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		for i := 0; f != nil && f[0] == "TCP:" && i+1 < len(f); i++ {
			if f[i] == "tw" {
				return f[i+1]
			}
		}
	}
	return "?"
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "MISSED"
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "scale: "+format+"\n", args...)
	os.Exit(1)
}
