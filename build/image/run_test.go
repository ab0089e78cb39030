package main

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/failover-dns/failover/internal/testutil"
)

// runtimeProcess is the part of the OCI runtime config that umoci unpack
// derives from the image's config.
type runtimeProcess struct {
	Process struct {
		User struct {
			UID uint32 `json:"uid"`
			GID uint32 `json:"gid"`
		} `json:"user"`
		Args []string `json:"args"`
		Env  []string `json:"env"`
		Cwd  string   `json:"cwd"`
	} `json:"process"`
}

// TestImageRunsFailover builds an image whose CA bundle also holds a test
// CA, unpacks it with umoci, and runs its /coredns in the unpacked root
// (chroot) as the image's user says, as a runtime would, with a Corefile
// whose primary and secondary are checked over HTTPS by certificates of that
// CA. all_down servfail makes every address answer depend on a verified
// probe: the only place the test CA is is the image's bundle.
func TestImageRunsFailover(t *testing.T) {
	if _, err := exec.LookPath("umoci"); err != nil {
		t.Skip("umoci not installed (Debian package umoci; .ci/run installs it)")
	}
	if os.Geteuid() != 0 {
		t.Skip("runs the image's coredns in a chroot as 65532: needs root")
	}
	primary, primaryStatus := httpsEndpoint(t, "127.0.80.81")
	secondary, _ := httpsEndpoint(t, "127.0.80.82")
	// httptest serves one self-signed certificate, for example.com among others.
	testCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: primary.Certificate().Raw})

	dir := t.TempDir()
	caFile := filepath.Join(dir, "test-ca.pem")
	if err := os.WriteFile(caFile, testCA, 0o644); err != nil {
		t.Fatal(err)
	}
	o := outputsIn(filepath.Join(dir, "out"))
	digest := makeImage(t, filepath.Join(dir, "out"), "-extra-ca", caFile)
	checkOutputs(t, "failover-coredns:v1.15.0-failover.0", digest, o)

	bundle := filepath.Join(dir, "bundle")
	if out, err := exec.Command("umoci", "unpack", "--image", o.layout+":v1.15.0-failover.0", bundle).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack: %v\n%s", err, out)
	}
	rootfs := filepath.Join(bundle, "rootfs")
	proc := unpackedProcess(t, bundle)
	checkRootfs(t, rootfs, testCA)

	dnsPort := testutil.FreeDNSPort(t, "127.0.80.80")
	corefile := fmt.Sprintf(`example.org:%d {
    bind 127.0.80.80
    failover app.example.org {
        primary 192.0.2.10@%s
        secondary 192.0.2.20@%s
        check https://example.com/health
        interval 200ms
        timeout 150ms
        fall 1
        rise 1
        all_down servfail
    }
}
`, dnsPort, primary.Listener.Addr(), secondary.Listener.Addr())
	if err := os.MkdirAll(filepath.Join(rootfs, "etc/coredns"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc/coredns/Corefile"), []byte(corefile), 0o644); err != nil {
		t.Fatal(err)
	}
	pid, logs := startInRoot(t, rootfs, proc, "-conf", "/etc/coredns/Corefile")

	server := fmt.Sprintf("127.0.80.80:%d", dnsPort)
	waitAnswer(t, server, "app.example.org.", "192.0.2.10", logs)
	primaryStatus.Store(http.StatusServiceUnavailable)
	waitAnswer(t, server, "app.example.org.", "192.0.2.20", logs)

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	checkProcStatus(t, string(status))
}

// checkProcStatus checks the running coredns's ids, and that of all
// capabilities it holds only the one its file grants, to bind port 53.
func checkProcStatus(t *testing.T, status string) {
	t.Helper()
	want := map[string]string{
		"Uid":    "65532 65532 65532 65532",
		"Gid":    "65532 65532 65532 65532",
		"CapEff": "0000000000000400", // 1<<10, CAP_NET_BIND_SERVICE
		"CapPrm": "0000000000000400",
	}
	for _, line := range strings.Split(status, "\n") {
		field, value, _ := strings.Cut(line, ":")
		value = strings.Join(strings.Fields(value), " ")
		if w, ok := want[field]; ok {
			if value != w {
				t.Errorf("coredns runs with %s %s, want %s", field, value, w)
			}
			delete(want, field)
		}
	}
	if len(want) > 0 {
		t.Errorf("/proc/PID/status lacks %v", want)
	}
}

// httpsEndpoint serves /health over TLS on ip with the status it returns.
func httpsEndpoint(t *testing.T, ip string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener.Close()
	srv.Listener = ln
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &status
}

// unpackedProcess reads what umoci made of the image's config and checks it.
func unpackedProcess(t *testing.T, bundle string) runtimeProcess {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rc runtimeProcess
	if err := json.Unmarshal(data, &rc); err != nil {
		t.Fatal(err)
	}
	p := rc.Process
	if p.User.UID != 65532 || p.User.GID != 65532 {
		t.Errorf("runtime user %d:%d, want 65532:65532", p.User.UID, p.User.GID)
	}
	if !slices.Equal(p.Args, []string{"/coredns"}) {
		t.Errorf("runtime args %q, want [/coredns]", p.Args)
	}
	if !slices.Contains(p.Env, imagePath) {
		t.Errorf("runtime env %q lacks %q", p.Env, imagePath)
	}
	return rc
}

// startInRoot starts the unpacked process in rootfs, as its user, with args
// added, and stops it when the test ends. It returns the pid and a function
// that reads what the process logged.
func startInRoot(t *testing.T, rootfs string, rc runtimeProcess, args ...string) (int, func() string) {
	t.Helper()
	p := rc.Process
	logPath := filepath.Join(t.TempDir(), "coredns.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := &exec.Cmd{
		Path:   p.Args[0], // resolved in rootfs: chroot comes before exec
		Args:   append(slices.Clone(p.Args), args...),
		Env:    p.Env,
		Dir:    p.Cwd,
		Stdout: logFile,
		Stderr: logFile,
		SysProcAttr: &syscall.SysProcAttr{
			Chroot:     rootfs,
			Credential: &syscall.Credential{Uid: p.User.UID, Gid: p.User.GID},
			Pdeathsig:  syscall.SIGKILL,
		},
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd.Process.Pid, func() string {
		data, _ := os.ReadFile(logPath)
		return string(data)
	}
}

// waitAnswer polls server until name's A records are want.
func waitAnswer(t *testing.T, server, name, want string, logs func() string) {
	t.Helper()
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	var got string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		r, _, err := c.Exchange(m, server)
		if err != nil {
			got = err.Error()
			continue
		}
		var addrs []string
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok {
				addrs = append(addrs, a.A.String())
			}
		}
		got = dns.RcodeToString[r.Rcode] + " " + strings.Join(addrs, " ")
		if r.Rcode == dns.RcodeSuccess && strings.Join(addrs, " ") == want {
			return
		}
	}
	t.Fatalf("%s did not answer %s: last %q; coredns logged:\n%s", name, want, got, logs())
}
