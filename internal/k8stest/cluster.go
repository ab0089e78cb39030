package k8stest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// Cluster is a running etcd and kube-apiserver.
type Cluster struct {
	// Config authenticates as an administrator (group system:masters).
	Config *rest.Config
	// Client is an administrator's client.
	Client kubernetes.Interface

	env     *envtest.Environment
	assets  string
	dir     string // certificates, kubeconfigs, logs: removed after the cluster stops
	running bool   // kube-apiserver runs

	adminKubeconfig string // in dir, for Kubectl
}

// Service and pod networks of the cluster: the tests give Services cluster
// IPs in these ranges (10.96.0.0/16 as kubeadm's default).
const (
	ServiceCIDRv4 = "10.96.0.0/16"
	ServiceCIDRv6 = "fd00:10:96::/112"
)

// Time the processes have to start and stop. Generous: the machine running
// the tests may be two shared cores, busy compiling.
const (
	startTimeout = 2 * time.Minute
	stopTimeout  = time.Minute
)

var quietControllerRuntime sync.Once

// Start runs etcd and kube-apiserver for t, stopped (and their data removed)
// when t ends. Service cluster IPs come from ServiceCIDRv4 and ServiceCIDRv6;
// ServiceAccount tokens (TokenRequest) are issued and accepted; RBAC
// authorizes.
func Start(t testing.TB) *Cluster {
	t.Helper()
	assets := Assets(t)
	// envtest logs through controller-runtime, which otherwise prints a
	// warning with a stack trace 30 seconds after the first line.
	quietControllerRuntime.Do(func() { ctrllog.SetLogger(logr.Discard()) })

	c := &Cluster{assets: assets, dir: t.TempDir()}
	host, port, err := apiServerHost()
	if err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(c.dir, "apiserver")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	apiLog := &lockedBuffer{}
	notExisting := false
	// The binaries by path: KUBEBUILDER_ASSETS or TEST_ASSET_* in the
	// environment, which envtest would prefer, do not choose another version.
	env := &envtest.Environment{
		UseExistingCluster:       &notExisting,
		ControlPlaneStartTimeout: startTimeout,
		ControlPlaneStopTimeout:  stopTimeout,
		ControlPlane: envtest.ControlPlane{
			Etcd:        &envtest.Etcd{Path: filepath.Join(assets, "etcd"), DataDir: filepath.Join(c.dir, "etcd")},
			KubectlPath: filepath.Join(assets, "kubectl"),
			APIServer: &envtest.APIServer{
				Path: filepath.Join(assets, "kube-apiserver"),
				// Ours, not a temporary one envtest removes on stop: a
				// restarted kube-apiserver keeps its serving certificate,
				// client CA and ServiceAccount signing key.
				CertDir: certDir,
				Out:     apiLog,
				Err:     apiLog,
			},
		},
	}
	api := env.ControlPlane.APIServer
	api.SecureServing.ListenAddr = envtest.ListenAddr{Address: host, Port: port}
	args := api.Configure()
	args.Set("service-cluster-ip-range", ServiceCIDRv4+","+ServiceCIDRv6)
	if inPodNetwork() {
		args.Set("advertise-address", podNetworkHost)
	}
	c.env = env

	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting etcd and kube-apiserver from %s: %v\n%s", assets, err, tail(apiLog.String(), 40))
	}
	c.running = true
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kube-apiserver's last lines:\n%s", tail(apiLog.String(), 40))
		}
		if err := env.Stop(); err != nil {
			t.Errorf("stopping etcd and kube-apiserver: %v", err)
		}
	})
	c.Config = cfg
	c.Client, err = kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.adminKubeconfig, err = c.writeKubeconfig(c.dir, "admin", c.adminUser()); err != nil {
		t.Fatal(err)
	}
	return c
}

// StopAPIServer stops kube-apiserver; etcd keeps running, and so does what
// it stores.
func (c *Cluster) StopAPIServer(t testing.TB) {
	t.Helper()
	if !c.running {
		t.Fatal("StopAPIServer: kube-apiserver is not running")
	}
	c.killAPIServer()
	if err := c.env.ControlPlane.APIServer.Stop(); err != nil {
		t.Fatalf("stopping kube-apiserver: %v", err)
	}
	c.running = false
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, on the
// same address with the same certificates and keys: clients made before
// reconnect, and tokens issued before are still accepted. It returns once
// the API server answers.
func (c *Cluster) StartAPIServer(t testing.TB) {
	t.Helper()
	if c.running {
		t.Fatal("StartAPIServer: kube-apiserver is running")
	}
	if err := c.env.ControlPlane.APIServer.Start(); err != nil {
		t.Fatalf("starting kube-apiserver again: %v", err)
	}
	c.running = true
	// /healthz answers before the API server has its informers synced and
	// the default objects reconciled: wait until it serves a read.
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		_, err := c.Client.CoreV1().Namespaces().Get(ctx, "default", getOptions)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("kube-apiserver started again but serves no read: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lockedBuffer collects the last of a process's output (up to twice
// maxLog), written by os/exec's copying goroutine and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const maxLog = 256 << 10

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 2*maxLog {
		b.buf.Next(b.buf.Len() - maxLog)
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
