package kube

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// kubeconfigText has two contexts, "one" current; the API server is never
// dialled.
const kubeconfigText = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.40.1:6443
    insecure-skip-tls-verify: true
users:
- name: u
  user:
    token: secret
contexts:
- name: one
  context: {cluster: c, user: u}
- name: two
  context: {cluster: c, user: u, namespace: prod}
current-context: one
`

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSourceCheck(t *testing.T) {
	good := writeFile(t, "kubeconfig", kubeconfigText)
	noCurrent := writeFile(t, "nocurrent", strings.Replace(kubeconfigText, "current-context: one", "", 1))
	for _, tc := range []struct {
		name    string
		source  Source
		wantErr string // "" for none
	}{
		{"current context", Source{Kubeconfig: good}, ""},
		{"named context", Source{Kubeconfig: good, Context: "two"}, ""},
		{"missing context", Source{Kubeconfig: good, Context: "three"}, `no context "three"`},
		{"no current context, none named", Source{Kubeconfig: noCurrent}, "invalid configuration"},
		{"no current context, one named", Source{Kubeconfig: noCurrent, Context: "one"}, ""},
		{"missing file", Source{Kubeconfig: filepath.Join(t.TempDir(), "absent")}, "no such file"},
		{"unreadable: a directory", Source{Kubeconfig: t.TempDir()}, "is a directory"},
		{"empty file", Source{Kubeconfig: writeFile(t, "empty", "")}, "not a kubeconfig"},
		{"a YAML comment", Source{Kubeconfig: writeFile(t, "comment", "# nothing\n")}, "not a kubeconfig"},
		{"not YAML", Source{Kubeconfig: writeFile(t, "garbage", "\x00\x01{[")}, "kubeconfig"},
		{"a manifest, not a kubeconfig", Source{Kubeconfig: writeFile(t, "deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n")}, "kubeconfig"},
	} {
		err := tc.source.Check()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && err == nil:
			t.Errorf("%s: no error, want one with %q", tc.name, tc.wantErr)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.wantErr)
		case err != nil && !strings.Contains(err.Error(), tc.source.Kubeconfig):
			t.Errorf("%s: %v does not name the file", tc.name, err)
		}
	}
}

func TestSourceCheckInCluster(t *testing.T) {
	t.Setenv(envServiceHost, "")
	t.Setenv(envServicePort, "443")
	err := Source{}.Check()
	if err == nil || !strings.Contains(err.Error(), envServiceHost) {
		t.Errorf("outside a cluster: %v, want an error naming %s", err, envServiceHost)
	}
	t.Setenv(envServiceHost, "10.96.0.1")
	if err := (Source{}).Check(); err != nil {
		t.Errorf("in a cluster: %v", err)
	}
}

func TestSourceString(t *testing.T) {
	for _, tc := range []struct {
		s    Source
		want string
	}{
		{Source{}, "in-cluster"},
		{Source{Kubeconfig: "/etc/kube.conf"}, "/etc/kube.conf"},
		{Source{Kubeconfig: "/etc/kube.conf", Context: "prod"}, "/etc/kube.conf (context prod)"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%#v: %q, want %q", tc.s, got, tc.want)
		}
	}
}

func TestRefCheck(t *testing.T) {
	good := writeFile(t, "kubeconfig", kubeconfigText)
	for _, tc := range []struct {
		ref     Ref
		wantErr string
	}{
		{Ref{Source{Kubeconfig: good}, "prod", "app"}, ""},
		{Ref{Source{Kubeconfig: good}, "Prod", "app"}, `namespace "Prod"`},
		{Ref{Source{Kubeconfig: good}, "prod", "1app"}, ""}, // DNS-1123 since 1.37
		{Ref{Source{Kubeconfig: good}, "prod", "app-"}, `service name "app-"`},
		{Ref{Source{Kubeconfig: good}, "prod", "app,metadata.namespace=x"}, "service name"},
		{Ref{Source{Kubeconfig: good}, "", "app"}, "namespace"},
		{Ref{Source{Kubeconfig: good, Context: "nope"}, "prod", "app"}, `no context "nope"`},
	} {
		err := tc.ref.Check()
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%v: %v, want error %q", tc.ref, err, tc.wantErr)
		}
	}
	if _, err := Watch(Ref{Source{Kubeconfig: good}, "prod", "app,x"}, nil); err == nil {
		t.Error("Watch took a name that would end up in a field selector")
	}
	if _, err := Watch(Ref{Source{Kubeconfig: good, Context: "nope"}, "prod", "app"}, nil); err == nil {
		t.Error("Watch took a missing context")
	}
}
