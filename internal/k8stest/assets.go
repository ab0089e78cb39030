package k8stest

import (
	"os"
	"path/filepath"
	"testing"
)

// Version is the Kubernetes release whose binaries the tests run: the one
// whose client-go CoreDNS 1.15 uses. The Makefile's K8S_VERSION and
// build/k8s/go.mod say the same (TestVersionAgreesWithTheBuild checks it).
const Version = "v1.37.1"

// AssetsEnv names the variable that overrides where the binaries are.
const AssetsEnv = "FAILOVER_K8S_ASSETS"

// binaries are what make k8s-assets puts in the assets directory.
var binaries = []string{"etcd", "kube-apiserver", "kubectl"}

// AssetsDir is where the binaries are looked for: $FAILOVER_K8S_ASSETS, or
// the cache make k8s-assets fills, keyed by version.
func AssetsDir() (string, error) {
	if dir := os.Getenv(AssetsEnv); dir != "" {
		return dir, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".cache", "failover", "k8s", Version), nil
}

// Assets returns the directory of etcd, kube-apiserver and kubectl, and fails
// t when one of them is missing: the tests never skip for it.
func Assets(t testing.TB) string {
	t.Helper()
	dir, err := AssetsDir()
	if err != nil {
		t.Fatalf("no directory for the Kubernetes test binaries (%v): set %s or HOME, and run make k8s-assets", err, AssetsEnv)
	}
	for _, name := range binaries {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			t.Fatalf("%s missing in %s: run make k8s-assets", name, dir)
		}
	}
	return dir
}
