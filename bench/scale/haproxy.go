package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// haproxyRun is HAProxy's health checks of the same endpoints, measured
// against the same server, in the same run, after the engine's window: the
// yardstick the issue names ("probes as cheap as HAProxy's"). HAProxy's
// checks open a connection of their own, send the request, read the status
// and close with a reset, as the engine's probes do; it is written in C, and
// no other health checker is as widely run in front of servers.
type haproxyRun struct {
	bin               string
	endpoints         int
	base              netip.Addr
	check             string // http, https or tcp
	interval, timeout time.Duration
}

// haproxyWindow is what the window measured: HAProxy's CPU from
// /proc/PID/stat (all its threads), the server's figures, and the servers
// HAProxy counts up at the end.
type haproxyWindow struct {
	wall, user, sys time.Duration
	server          serverStats
	up              int
	connects        uint64 // connections the host opened (Tcp ActiveOpens): HAProxy's checks
	tw              timeWait
	version         string
}

// findHAProxy returns the path of haproxy, or fails with how to get it.
func findHAProxy() string {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		fatalf("-compare haproxy: haproxy is not installed (Debian: apt-get install haproxy; make bench-scale-haproxy does)")
	}
	return bin
}

// config returns HAProxy's configuration: one backend whose servers are the
// endpoints, checked as the engine checks them (interval, timeout, fall 3,
// rise 2, the same URL path and CA), and no frontend: there is no traffic,
// only checks. maxconn stays small, so that HAProxy asks for no more
// descriptors than the endpoints take.
func (h haproxyRun) config(srv *server) string {
	var b strings.Builder
	mode := "http"
	if h.check == "tcp" {
		mode = "tcp"
	}
	fmt.Fprintf(&b, "global\n  maxconn 100\n  stats socket %s mode 600 level admin\n\n", filepath.Join(srv.tmp, "haproxy.sock"))
	fmt.Fprintf(&b, "defaults\n  mode %s\n  timeout connect %dms\n  timeout check %dms\n  timeout client 5s\n  timeout server 5s\n\n",
		mode, h.timeout.Milliseconds(), h.timeout.Milliseconds())
	b.WriteString("backend endpoints\n")
	if h.check != "tcp" {
		b.WriteString("  option httpchk GET /health\n")
	}
	fmt.Fprintf(&b, "  default-server check inter %dms fall 3 rise 2", h.interval.Milliseconds())
	if h.check == "https" {
		// Session reuse is HAProxy's default for checks, as resumption is
		// the engine's.
		fmt.Fprintf(&b, " check-ssl verify required ca-file %s check-sni %s verifyhost %s", srv.caFile, serverName, serverName)
	}
	b.WriteString("\n")
	first := binary.BigEndian.Uint32(h.base.AsSlice())
	for i := range h.endpoints {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], first+uint32(i))
		fmt.Fprintf(&b, "  server e%d %s:%d\n", i, netip.AddrFrom4(a), srv.port)
	}
	return b.String()
}

// serverName is the name of the server's certificate (server/cert.go).
const serverName = "scale.example.org"

// measure starts HAProxy, lets its checks spread over a round and settle
// for warmup, measures for d, and stops it.
func (h haproxyRun) measure(srv *server, warmup, d time.Duration) haproxyWindow {
	cfg := filepath.Join(srv.tmp, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(h.config(srv)), 0o644); err != nil {
		fatalf("%v", err)
	}
	logFile := filepath.Join(srv.tmp, "haproxy.log")
	log, err := os.Create(logFile)
	if err != nil {
		fatalf("%v", err)
	}
	defer log.Close()
	cmd := exec.Command(h.bin, "-db", "-f", cfg)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		fatalf("starting haproxy: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	select {
	case err := <-exited:
		b, _ := os.ReadFile(logFile)
		fatalf("haproxy exited at start (%v):\n%s", err, b)
	case <-time.After(h.interval + warmup):
	}

	w := haproxyWindow{version: haproxyVersion(h.bin)}
	pid := strconv.Itoa(cmd.Process.Pid)
	server0 := srv.stats()
	opens0 := activeOpens()
	user0, sys0 := procCPU(pid)
	wall0 := time.Now()
	tick := time.NewTicker(time.Second)
	for end := wall0.Add(d); time.Now().Before(end); {
		<-tick.C
		w.tw.sample()
	}
	tick.Stop()
	w.wall = time.Since(wall0)
	user1, sys1 := procCPU(pid)
	w.user, w.sys = user1-user0, sys1-sys0
	w.server = serverWindow(server0, srv.stats())
	w.connects = activeOpens() - opens0
	w.up = haproxyServersUp(filepath.Join(srv.tmp, "haproxy.sock"))
	return w
}

// print writes HAProxy's figures beside the engine's: the checks a second,
// its CPU per check against the server's per request in its own window,
// and the engine's CPU per probe against HAProxy's per check.
func (w haproxyWindow) print(base netip.Addr, endpoints, port int, check string, engineCosts costs) {
	checks := w.server.requests // one request a check
	if check == "tcp" {
		checks = w.connects // the server never sees a tcp check's connection
	}
	fmt.Printf("HAProxy %s, the same endpoints after the engine's window: %.0f checks/s; %d of %d servers up at the end; CPU %.3f s per s (user %.3f, sys %.3f; /proc/PID/stat)\n",
		w.version, float64(checks)/w.wall.Seconds(), w.up, endpoints, (w.user+w.sys).Seconds()/w.wall.Seconds(),
		w.user.Seconds()/w.wall.Seconds(), w.sys.Seconds()/w.wall.Seconds())
	haproxy := costs{wall: w.wall, user: w.user, sys: w.sys, probes: checks, server: w.server, check: check, prober: "HAProxy"}
	haproxy.print()
	ours := (engineCosts.user + engineCosts.sys).Seconds() / float64(max(engineCosts.probes, 1))
	theirs := (w.user + w.sys).Seconds() / float64(max(checks, 1))
	fmt.Printf("CPU per probe, engine/HAProxy: %.2f (%.1f against %.1f µs)", ours/theirs, ours*1e6, theirs*1e6)
	if check != "tcp" {
		fmt.Printf("; prober/server ratios, engine/HAProxy: %.2f", engineCosts.ratio()/haproxy.ratio())
	}
	fmt.Println()
	fmt.Print("HAProxy: ")
	w.tw.print(base, endpoints, port)
}

// procCPU returns the CPU time of process pid and all its threads, user
// and system, from /proc/PID/stat, in clock ticks of 10 ms (USER_HZ is 100
// on Linux).
func procCPU(pid string) (user, sys time.Duration) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		fatalf("%v", err)
	}
	// The command name, in parentheses, may hold spaces: the fields count
	// from after it. utime and stime are fields 14 and 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ticks := func(s string) time.Duration {
		n, _ := strconv.ParseInt(s, 10, 64)
		return time.Duration(n) * 10 * time.Millisecond
	}
	return ticks(f[11]), ticks(f[12])
}

// haproxyServersUp asks HAProxy's stats socket how many servers its checks
// hold up: a check that failed would be counted as one all the same.
func haproxyServersUp(socket string) int {
	conn, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return -1
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(conn, "show servers state endpoints\n")
	up := 0
	in := bufio.NewScanner(conn)
	for in.Scan() {
		// be_id be_name srv_id srv_name srv_addr srv_op_state ...: 2 is running.
		f := strings.Fields(in.Text())
		if len(f) > 5 && f[1] == "endpoints" && f[5] == "2" {
			up++
		}
	}
	return up
}

func haproxyVersion(bin string) string {
	out, _ := exec.Command(bin, "-v").Output()
	f := strings.Fields(string(out))
	if len(f) < 3 {
		return "(version unknown)"
	}
	return f[2]
}

// activeOpens is the connections the host has opened since it started
// (Tcp ActiveOpens in /proc/net/snmp).
func activeOpens() uint64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		for i, name := range names {
			if name == "ActiveOpens" && i < len(fields) {
				n, _ := strconv.ParseUint(fields[i], 10, 64)
				return n
			}
		}
	}
	return 0
}
