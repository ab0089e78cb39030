package fleet

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// goCommand is the go command the Makefile passes (GO), else go.
func goCommand() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// build builds the package pkg of this module into dir/name. By import
// path, so that it works from this package's directory, where go test runs.
func build(tb testing.TB, dir, name, pkg string) string {
	tb.Helper()
	bin := filepath.Join(dir, name)
	out, err := exec.Command(goCommand(), "build", "-o", bin, "github.com/failover-dns/failover/"+pkg).CombinedOutput()
	if err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// backendServer is bench/scale's server: HTTP 200 on one port of many
// loopback addresses, counting the requests it answers.
type backendServer struct {
	cmd  *exec.Cmd
	in   *os.File
	out  *bufio.Scanner
	port int
}

// startBackendServer runs bin on n addresses from first, until tb ends.
func startBackendServer(tb testing.TB, bin, first string, n int) *backendServer {
	tb.Helper()
	s := &backendServer{cmd: exec.Command(bin, "-base", first, "-n", strconv.Itoa(n))}
	s.cmd.Stderr = os.Stderr
	stdin, err := s.cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("starting the backend server: %v", err)
	}
	// Closing its standard input makes it exit.
	tb.Cleanup(func() { stdin.Close(); s.cmd.Wait() })
	s.in, s.out = stdin.(*os.File), bufio.NewScanner(stdout)
	if !s.out.Scan() {
		tb.Fatal("the backend server did not start")
	}
	if _, err := fmt.Sscanf(s.out.Text(), "ready %d", &s.port); err != nil {
		tb.Fatalf("the backend server said %q", s.out.Text())
	}
	return s
}

// requests returns the requests the server answered since the last call.
func (s *backendServer) requests(tb testing.TB) uint64 {
	tb.Helper()
	fmt.Fprintln(s.in, "stats")
	var user, sys int64
	var requests, fewest, most uint64
	if !s.out.Scan() {
		tb.Fatal("the backend server stopped")
	}
	if _, err := fmt.Sscanf(s.out.Text(), "stats %d %d %d %d %d", &user, &sys, &requests, &fewest, &most); err != nil {
		tb.Fatalf("the backend server said %q", s.out.Text())
	}
	return requests
}

// replica is a CoreDNS process.
type replica struct {
	identity string
	cmd      *exec.Cmd
	status   string // host:port of its status page
	log      string // its standard output and error
	stopped  bool
}

// startReplica runs CoreDNS bin with corefile as POD_NAME identity, its
// output in dir.
func startReplica(tb testing.TB, bin, dir, identity, corefile, status string) *replica {
	tb.Helper()
	conf := filepath.Join(dir, identity+".Corefile")
	if err := os.WriteFile(conf, []byte(corefile), 0o600); err != nil {
		tb.Fatal(err)
	}
	r := &replica{identity: identity, status: status, log: filepath.Join(dir, identity+".log")}
	out, err := os.Create(r.log)
	if err != nil {
		tb.Fatal(err)
	}
	defer out.Close() // the process has its own descriptor
	r.cmd = exec.Command(bin, "-conf", conf)
	r.cmd.Env = append(os.Environ(), "POD_NAME="+identity)
	r.cmd.Stdout, r.cmd.Stderr = out, out
	if err := r.cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", identity, err)
	}
	tb.Cleanup(func() { r.stop() })
	return r
}

// stop ends the replica as Kubernetes does, with SIGTERM, and after the
// kubelet's default grace period of 30 s with SIGKILL. It returns how long
// the replica took, and whether it had to be killed: its Lease then stays
// (the caller deletes it), which a shutdown deletes.
func (r *replica) stop() (took time.Duration, killed bool) {
	if r.stopped {
		return 0, false
	}
	r.stopped = true
	start := time.Now()
	r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(stopGrace):
		r.cmd.Process.Kill()
		<-done
		killed = true
	}
	return time.Since(start), killed
}

const stopGrace = 30 * time.Second

// exited says whether the process has ended, without waiting for it.
func (r *replica) exited() bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.cmd.Process.Pid))
	if err != nil {
		return true
	}
	// State, field 3: Z, a zombie not yet waited for.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) == 0 || fields[0] == "Z"
}

// cpuTime is the CPU the process pid has used, user and system, from
// /proc/PID/stat: fields 14 and 15, in clock ticks of 1/100 s (USER_HZ,
// 100 on every Linux architecture Go runs on).
func cpuTime(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// the fields counted from after its closing one start at field 3.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	utime, err1 := strconv.ParseInt(fields[14-3], 10, 64)
	stime, err2 := strconv.ParseInt(fields[15-3], 10, 64)
	if err1 != nil || err2 != nil {
		tb.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	return time.Duration(utime+stime) * (time.Second / 100)
}

// freePort returns a TCP port nothing listens on at ip. Another process may
// take it before CoreDNS does: the replica then fails to start, clearly.
func freePort(tb testing.TB, ip string) int {
	tb.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
