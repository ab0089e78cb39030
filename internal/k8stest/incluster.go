package k8stest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// serviceAccountDir is where a Pod finds its ServiceAccount's token, CA and
// namespace, and where rest.InClusterConfig reads them: a fixed path.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// InCluster makes this process look like a Pod of ServiceAccount
// namespace/name (created if missing) to what reads the in-cluster
// configuration: KUBERNETES_SERVICE_HOST and _PORT name c's API server, and
// the ServiceAccount's token, the cluster's CA and the namespace are in
// serviceAccountDir, on a tmpfs over /run that only this process sees. So a
// Corefile of deploy/ runs as it is, without a kubeconfig. Only in a test
// running through RunInPodNetwork, which gave it a mount namespace of its own.
func (c *Cluster) InCluster(t *testing.T, namespace, name string) {
	t.Helper()
	if os.Getenv(podNetworkEnv) != t.Name() {
		t.Fatal("InCluster needs the mount namespace of RunInPodNetwork")
	}
	ctx := context.Background()
	accounts := c.Client.CoreV1().ServiceAccounts(namespace)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := accounts.Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating ServiceAccount %s/%s: %v", namespace, name, err)
	}
	seconds := int64(3600)
	tok, err := accounts.CreateToken(ctx, name, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token of ServiceAccount %s/%s: %v", namespace, name, err)
	}

	resolvConf, _ := os.ReadFile("/etc/resolv.conf") // may live under /run
	// Mounts stay in this mount namespace: none propagates to the host's.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		t.Fatalf("making the mounts private: %v", err)
	}
	if err := syscall.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"); err != nil {
		t.Fatalf("mounting a tmpfs on /run: %v", err)
	}
	dir, err := filepath.EvalSymlinks("/var/run")
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(dir, "secrets/kubernetes.io/serviceaccount")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"token": []byte(tok.Status.Token), "ca.crt": c.Config.CAData, "namespace": []byte(namespace)}
	for file, data := range files {
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat("/etc/resolv.conf"); err != nil && len(resolvConf) > 0 {
		copyPath := filepath.Join(t.TempDir(), "resolv.conf")
		if err := os.WriteFile(copyPath, resolvConf, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount(copyPath, "/etc/resolv.conf", "", syscall.MS_BIND, ""); err != nil {
			t.Fatalf("keeping /etc/resolv.conf: %v", err)
		}
	}
	host, port, err := net.SplitHostPort(c.env.ControlPlane.APIServer.SecureServing.ListenAddr.HostPort())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", host)
	t.Setenv("KUBERNETES_SERVICE_PORT", port)
}
