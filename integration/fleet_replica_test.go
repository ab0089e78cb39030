package integration

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/failover-dns/failover/internal/k8stest"
	"github.com/failover-dns/failover/internal/testutil"
)

// fleetSpec is the Corefile the replicas of a test share: one server block
// for example.org whose failover blocks each get, in place of the line
// {{replica}}, the replica's status address and, in a fleet, its fleet lines.
type fleetSpec struct {
	group      string // NAMESPACE/GROUP; "" runs the replicas without fleet
	kubeconfig string
	probers    int // the probers line, when not 0
	blocks     string
}

// corefile is the Corefile of r.
func (s fleetSpec) corefile(r *replica) string {
	lines := "status " + r.status
	if s.group != "" {
		kubeconfig := s.kubeconfig
		if r.kubeconfig != "" {
			kubeconfig = r.kubeconfig
		}
		lines += fmt.Sprintf("\n\t\tfleet %s\n\t\tkubeconfig %s %s", s.group, kubeconfig, k8stest.Context)
		if s.probers > 0 {
			lines += fmt.Sprintf("\n\t\tprobers %d", s.probers)
		}
	}
	host, port, _ := net.SplitHostPort(r.dns)
	return fmt.Sprintf("example.org:%s {\n\tbind %s\n\tprometheus %s\n\tpprof %s\n%s\n}\n",
		port, host, r.metrics, r.pprof, strings.ReplaceAll(s.blocks, "{{replica}}", lines))
}

// replica is one CoreDNS process of a fleet test, with its own identity
// (POD_NAME), its own Corefile, and its own addresses for DNS, status,
// metrics and pprof.
type replica struct {
	t          *testing.T
	identity   string
	dns        string // HOST:PORT, UDP and TCP
	status     string
	metrics    string
	pprof      string
	kubeconfig string // its own, when it reaches the API server another way than the others
	conf       string // its Corefile, rewritten by reload
	log        string // its standard output and error
	cmd        *exec.Cmd
	exited     chan struct{} // closed once the process has exited
	signalled  bool          // the test killed or stopped it
}

// startupTimeout bounds a replica's start: the binary may be race
// instrumented, on two shared cores.
const startupTimeout = time.Minute

// startFleet starts a replica replica-i of spec on each ip (one of the
// test's loopback range), one after the other as a rolling update does, at
// least interval/len(ips) apart so that their probes do not run in step;
// it returns once each answers DNS and serves its status. They are stopped
// (SIGTERM) when the test ends.
func startFleet(t *testing.T, spec fleetSpec, ips ...string) []*replica {
	t.Helper()
	replicas := make([]*replica, len(ips))
	for i, ip := range ips {
		started := time.Now()
		replicas[i] = newReplica(t, fmt.Sprintf("replica-%d", i), ip)
		replicas[i].start(spec, nil)
		replicas[i].waitServing()
		<-time.After(time.Until(started.Add(fleetInterval / time.Duration(len(ips)))))
	}
	return replicas
}

// newReplica makes a replica that listens on free ports of ip.
func newReplica(t *testing.T, identity, ip string) *replica {
	t.Helper()
	dns := net.JoinHostPort(ip, fmt.Sprint(testutil.FreeDNSPort(t, ip)))
	return makeReplica(t, identity, dns, freeTCPAddr(t, ip), freeTCPAddr(t, ip), freeTCPAddr(t, ip))
}

// makeReplica makes a replica that listens on the addresses given.
func makeReplica(t *testing.T, identity, dns, status, metrics, pprof string) *replica {
	dir := t.TempDir()
	return &replica{
		t:        t,
		identity: identity,
		dns:      dns,
		status:   status,
		metrics:  metrics,
		pprof:    pprof,
		conf:     filepath.Join(dir, "Corefile"),
		log:      filepath.Join(dir, identity+".log"),
		exited:   make(chan struct{}),
	}
}

// start runs the replica's process. With an isolation, the process runs in
// a network namespace of its own, which iso connects before CoreDNS starts.
func (r *replica) start(spec fleetSpec, iso *isolation) {
	t := r.t
	t.Helper()
	bin := corednsBinary(t)
	logFile, err := os.Create(r.log)
	if err != nil {
		t.Fatal(err)
	}
	var release io.WriteCloser
	if iso == nil {
		writeFile(t, r.conf, spec.corefile(r))
		r.cmd = exec.Command(bin, "-conf", r.conf)
	} else {
		// The shell waits for its network, then becomes CoreDNS: the same
		// process, in the same namespace, with the same pid to signal.
		r.cmd = exec.Command("sh", "-c", `read -r _ && exec "$@"`, "sh", bin, "-conf", r.conf)
		r.cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
		if release, err = r.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}
	r.cmd.Env = append(os.Environ(), "POD_NAME="+r.identity)
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	if err := r.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("starting %s: %v", r.identity, err)
	}
	go func() {
		r.cmd.Wait()
		logFile.Close()
		close(r.exited)
	}()
	t.Cleanup(r.cleanup)
	if iso != nil {
		iso.attach(t, r)
		writeFile(t, r.conf, spec.corefile(r))
		if _, err := io.WriteString(release, "go\n"); err != nil {
			t.Fatalf("%s: releasing it into its network namespace: %v", r.identity, err)
		}
		release.Close()
	}
}

// waitServing waits until the replica answers DNS and serves its status,
// and fails the test with its log if it exits or does not in time.
func (r *replica) waitServing() {
	r.t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("example.org.", dns.TypeSOA)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	deadline := time.Now().Add(startupTimeout)
	for {
		select {
		case <-r.exited:
			r.t.Fatalf("%s exited at startup: %v\n%s", r.identity, r.cmd.ProcessState, r.logTail(40))
		default:
		}
		if _, _, err := c.Exchange(m, r.dns); err == nil {
			if _, _, err := statusGet(r.status); err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s does not serve DNS and status within %v\n%s", r.identity, startupTimeout, r.logTail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reload rewrites the replica's Corefile from spec and signals it (SIGUSR1)
// to load it, as a ConfigMap update followed by the reload plugin does.
func (r *replica) reload(spec fleetSpec) {
	r.t.Helper()
	writeFile(r.t, r.conf, spec.corefile(r))
	if err := r.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		r.t.Fatalf("%s: reload: %v", r.identity, err)
	}
}

// kill ends the replica at once (SIGKILL): no shutdown hook runs, its Lease
// stays behind, as when its node is lost.
func (r *replica) kill() {
	r.t.Helper()
	r.signalled = true
	if err := r.cmd.Process.Kill(); err != nil {
		r.t.Fatalf("%s: kill: %v", r.identity, err)
	}
	<-r.exited
}

// stop ends the replica as a Pod is ended (SIGTERM: shutdown hooks run),
// killing it if it has not exited within 20s, and reports whether it exited
// by itself.
func (r *replica) stop() bool {
	r.signalled = true
	select {
	case <-r.exited:
		return true
	default:
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
		return true
	case <-time.After(20 * time.Second):
		r.cmd.Process.Kill()
		<-r.exited
		return false
	}
}

// cleanup stops the replica when the test ends, and fails the test if the
// process died on its own or reported a data race.
func (r *replica) cleanup() {
	select {
	case <-r.exited:
		if !r.signalled {
			r.t.Errorf("%s exited by itself: %v\n%s", r.identity, r.cmd.ProcessState, r.logTail(40))
		}
	default:
		if !r.stop() {
			r.t.Errorf("%s did not stop within 20s of SIGTERM", r.identity)
		}
	}
	text := r.logText()
	if strings.Contains(text, "WARNING: DATA RACE") {
		r.t.Errorf("%s reported a data race:\n%s", r.identity, text)
	} else if r.t.Failed() {
		r.t.Logf("%s's last lines:\n%s", r.identity, r.logTail(30))
	}
}

func (r *replica) logText() string {
	b, _ := os.ReadFile(r.log)
	return string(b)
}

func (r *replica) logTail(n int) string {
	lines := strings.Split(strings.TrimRight(r.logText(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
