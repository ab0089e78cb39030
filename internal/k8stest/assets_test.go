package k8stest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestVersionAgreesWithTheBuild checks that the binaries the harness looks
// for are those make k8s-assets builds: the version of the Makefile and of
// the wrapper module is Version.
func TestVersionAgreesWithTheBuild(t *testing.T) {
	for _, f := range []struct{ path, pattern string }{
		{"../../Makefile", `(?m)^K8S_VERSION \??:?= (\S+)$`},
		{"../../build/k8s/go.mod", `(?m)^require k8s\.io/kubernetes (\S+)`},
	} {
		body, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(f.pattern).FindSubmatch(body)
		if m == nil {
			t.Errorf("%s: no version matching %s", f.path, f.pattern)
			continue
		}
		if got := string(m[1]); got != Version {
			t.Errorf("%s says %s, the harness %s", f.path, got, Version)
		}
	}
}

// fatalRecorder is a testing.TB whose Fatal records the message and ends
// the goroutine, as testing.T's does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// assetsFailure runs Assets with FAILOVER_K8S_ASSETS set to dir and returns
// its failure message, "" when it passed.
func assetsFailure(t *testing.T, dir string) string {
	t.Setenv(AssetsEnv, dir)
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Assets(r)
	}()
	<-done
	return r.msg
}

// TestAssetsFailsWithoutBinaries checks that a missing or incomplete assets
// directory fails the test, saying what to run, instead of skipping it.
func TestAssetsFailsWithoutBinaries(t *testing.T) {
	dir := t.TempDir()
	if msg := assetsFailure(t, dir); !strings.Contains(msg, "etcd missing in "+dir+": run make k8s-assets") {
		t.Errorf("empty directory: got %q", msg)
	}
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "kubectl"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if msg := assetsFailure(t, dir); !strings.Contains(msg, "kubectl missing in") {
		t.Errorf("kubectl not executable: got %q", msg)
	}
	if err := os.Chmod(filepath.Join(dir, "kubectl"), 0o755); err != nil {
		t.Fatal(err)
	}
	if msg := assetsFailure(t, dir); msg != "" {
		t.Errorf("complete directory: got %q", msg)
	}
}
