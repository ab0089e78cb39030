package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/failover-dns/failover/internal/testutil"
)

// A resolver is a real recursive server that nobody here wrote (BIND's named,
// Unbound), started by a test on a loopback address in front of the CoreDNS
// the test started. Resolvers act on what CoreDNS answers (they cache
// NXDOMAIN for a whole name, follow referrals, discard out-of-zone records),
// which a stub client never shows.
type resolver struct {
	name string // named or unbound
	addr string // host:port it answers on
	log  string // its log file, shown when it fails
}

// resolverZone is a zone a resolver sends to CoreDNS: a forward zone in
// named, a stub zone in unbound.
type resolverZone struct {
	name   string // example.org
	server string // CoreDNS's host:port
}

// startNamed starts BIND's named, forwarding zones, and waits until it
// answers. The test is skipped if named is not installed (Debian: bind9).
//
// named listens only on the addresses of the machine's interfaces: of the
// loopback range, that is 127.0.0.1, on a free port.
func startNamed(t *testing.T, zones ...resolverZone) *resolver {
	t.Helper()
	bin := resolverBinary(t, "named", "bind9")
	const ip = "127.0.0.1"
	return startResolver(t, "named", ip, func(dir string, port int) []string {
		var conf strings.Builder
		fmt.Fprintf(&conf, `options {
	directory %q;
	pid-file %q;
	session-keyfile %q;
	listen-on port %d { %s; };
	listen-on-v6 { none; };
	recursion yes;
	allow-query { any; };
	allow-recursion { any; };
	dnssec-validation no;
};
controls { };
`, dir, filepath.Join(dir, "named.pid"), filepath.Join(dir, "session.key"), port, ip)
		for _, z := range zones {
			host, port, _ := net.SplitHostPort(z.server)
			fmt.Fprintf(&conf, "zone %q { type forward; forward only; forwarders { %s port %s; }; };\n", z.name, host, port)
		}
		path := filepath.Join(dir, "named.conf")
		writeFile(t, path, conf.String())
		// -g: foreground, logging to stderr; as root, it keeps running as root.
		return []string{bin, "-g", "-4", "-n", "1", "-c", path}
	})
}

// startUnbound starts Unbound on ip with a stub zone for each of zones, and
// waits until it answers. The test is skipped if unbound is not installed.
func startUnbound(t *testing.T, ip string, zones ...resolverZone) *resolver {
	t.Helper()
	return startUnboundWith(t, ip, `module-config: "iterator"`, zones...)
}

// startUnboundWith starts Unbound as startUnbound does, with options, lines
// of its server clause: its modules, trust anchors.
func startUnboundWith(t *testing.T, ip, options string, zones ...resolverZone) *resolver {
	t.Helper()
	bin := resolverBinary(t, "unbound", "unbound")
	return startResolver(t, "unbound", ip, func(dir string, port int) []string {
		var conf strings.Builder
		fmt.Fprintf(&conf, `server:
	interface: %s
	port: %d
	do-ip6: no
	username: ""
	chroot: ""
	directory: %q
	pidfile: %q
	use-syslog: no
	logfile: ""
	verbosity: 1
	num-threads: 1
	so-reuseport: no
	access-control: 127.0.0.0/8 allow
	do-not-query-localhost: no
	%s
remote-control:
	control-enable: no
`, ip, port, dir, filepath.Join(dir, "unbound.pid"), options)
		for _, z := range zones {
			host, port, _ := net.SplitHostPort(z.server)
			fmt.Fprintf(&conf, "stub-zone:\n\tname: %q\n\tstub-addr: %s@%s\n", z.name, host, port)
		}
		path := filepath.Join(dir, "unbound.conf")
		writeFile(t, path, conf.String())
		return []string{bin, "-d", "-c", path}
	})
}

// resolverBinary returns the path of command, or skips the test naming the
// Debian package that has it.
func resolverBinary(t *testing.T, command, pkg string) string {
	t.Helper()
	if path, err := exec.LookPath(command); err == nil {
		return path
	}
	if path := "/usr/sbin/" + command; fileExists(path) {
		return path
	}
	t.Skipf("%s is not installed (Debian package %s; .ci/run installs it)", command, pkg)
	return ""
}

// startProcess starts cmd with its output to logFile, which it closes once
// cmd has exited. exited takes the value of cmd.Wait (one that fails to
// start exits at once); stop ends cmd with SIGTERM, SIGKILL after 10 s, and
// returns once it has exited.
func startProcess(cmd *exec.Cmd, logFile *os.File) (exited <-chan error, stop func(), err error) {
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, nil, err
	}
	waited := make(chan error, 1)
	done := make(chan struct{})
	go func() { waited <- cmd.Wait(); logFile.Close(); close(done) }()
	return waited, func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}, nil
}

// startResolver runs the command that args returns for a free port on ip,
// and waits until it answers a query. A port taken between the check and the
// start is tried again with another.
func startResolver(t *testing.T, name, ip string, args func(dir string, port int) []string) *resolver {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		dir := t.TempDir()
		port := testutil.FreeDNSPort(t, ip)
		r := &resolver{name: name, addr: net.JoinHostPort(ip, fmt.Sprint(port)), log: filepath.Join(dir, name+".log")}
		argv := args(dir, port)
		logFile, err := os.Create(r.log)
		if err != nil {
			t.Fatal(err)
		}
		exited, stop, err := startProcess(exec.Command(argv[0], argv[1:]...), logFile)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if lastErr = r.waitAnswering(exited, 10*time.Second); lastErr == nil {
			t.Cleanup(stop)
			return r
		}
		stop()
		t.Logf("%s did not start (attempt %d): %v\n%s", name, attempt+1, lastErr, r.logText())
	}
	t.Fatalf("%s did not start: %v", name, lastErr)
	return nil
}

// waitAnswering polls the resolver with a query it answers itself (its
// version, class CHAOS) until it answers, it exits, or within has passed.
func (r *resolver) waitAnswering(exited <-chan error, within time.Duration) error {
	m := new(dns.Msg)
	m.SetQuestion("version.bind.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		default:
		}
		if _, _, err := c.Exchange(m, r.addr); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no answer within %v", within)
}

func (r *resolver) logText() string {
	b, _ := os.ReadFile(r.log)
	return string(b)
}

// ask sends the resolver a recursive query and returns its response.
func (r *resolver) ask(t *testing.T, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Timeout: 5 * time.Second}
	res, _, err := c.Exchange(m, r.addr)
	if err != nil {
		t.Fatalf("%s: %s %s: %v\n%s", r.name, name, dns.TypeToString[qtype], err, r.logText())
	}
	return res
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
