package k8stest

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PodNetwork is the pod network of the tests that run through
// RunInPodNetwork: every address in it is local, as loopback is.
// Kubernetes refuses loopback addresses (127.0.0.0/8) in an EndpointSlice,
// so a test whose endpoints must answer probes puts its backends here.
const PodNetwork = "10.244.0.0/16"

// podNetworkHost is the address kube-apiserver advertises in the pod
// network: with no default route there, it would find none.
const podNetworkHost = "10.244.0.1"

// inPodNetwork reports whether this process is a test's run in the pod network.
func inPodNetwork() bool { return os.Getenv(podNetworkEnv) != "" }

// podNetworkEnv names the test a child process runs in the pod network.
const podNetworkEnv = "FAILOVER_K8STEST_POD_NETWORK"

// RunInPodNetwork runs the calling test again, in a network and a mount
// namespace of its own where PodNetwork is on the loopback interface, and reports whether
// this is that run: the test's body runs only then, and the first run fails
// when the second does. Nothing of either network is seen by the other: the
// API server, CoreDNS and the backends of the test all run inside.
// Creating the namespace needs root (CAP_SYS_ADMIN), and `ip` (iproute2).
func RunInPodNetwork(t *testing.T) bool {
	t.Helper()
	if os.Getenv(podNetworkEnv) == t.Name() {
		for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", podNetworkHost + "/16", "dev", "lo"}} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		return true
	}
	if strings.Contains(t.Name(), "/") {
		t.Fatal("RunInPodNetwork runs top-level tests only")
	}
	args := []string{"-test.run", "^" + regexp.QuoteMeta(t.Name()) + "$", "-test.count", "1", "-test.v"}
	if deadline, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout", time.Until(deadline).Round(time.Second).String())
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), podNetworkEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a network namespace of its own: %v\n%s", t.Name(), err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()+" ") {
		t.Fatalf("%s did not run in its network namespace:\n%s", t.Name(), out)
	}
	if testing.Verbose() {
		t.Logf("%s in a network namespace of its own:\n%s", t.Name(), out)
	}
	return false
}
