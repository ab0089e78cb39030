package failover

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/coredns/caddy"
)

// kubeconfigFile writes a kubeconfig of one cluster, context "test", for parsing:
// nothing connects to it.
func kubeconfigFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	const config = `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: test
  user: {token: "t"}
contexts:
- name: test
  context: {cluster: test, user: test}
current-context: test
`
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSetupServices(t *testing.T) {
	kubeconfig := kubeconfigFile(t)
	c := caddy.NewTestController("dns", `failover app.example.org {
		primary   endpoints/prod/app 192.0.2.1
		secondary service/dr/app
		min_healthy primary 3
		kubeconfig `+kubeconfig+` test
		check http://:8080/healthz
	}
	failover k8s.example.org {
		primary   endpoints/prod/app
		secondary service/dr/app
		kubeconfig `+kubeconfig+`
	}`)
	f, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	b := f.blocks[0]
	if b.source.Kubeconfig != kubeconfig || b.source.Context != "test" {
		t.Errorf("source %+v, want the kubeconfig and context given", b.source)
	}
	primary, secondary := b.pools[0], b.pools[1]
	if len(primary.members) != 1 || len(primary.services) != 1 || primary.services[0].String() != "endpoints/prod/app" {
		t.Fatalf("primary %+v, want 192.0.2.1 and endpoints/prod/app", primary)
	}
	if primary.minHealthy != 3 {
		t.Errorf("min_healthy %d, want 3: a Service's pool may grow to it", primary.minHealthy)
	}
	if s := secondary.services[0]; s.form != formService || s.namespace != "dr" || s.name != "app" || s.probe != nil {
		t.Errorf("secondary %+v, want service/dr/app, never probed", s)
	}
	if primary.services[0].probe == nil {
		t.Error("endpoints/ member of a block with checks is not probed")
	}
	if f.blocks[1].pools[0].services[0].probe != nil {
		t.Error("endpoints/ member of a block without checks is probed")
	}
	// Before startup nothing is known of the Services: their pools are
	// empty, and only the address answers.
	if got := f.state.Load().lookup("app.example.org.", 1); got == nil || len(got.ips) != 1 || got.ips[0].String() != "192.0.2.1" {
		t.Errorf("before startup: %+v, want 192.0.2.1 alone", got)
	}
	if f.Ready() {
		t.Error("ready before startup")
	}
}

func TestSetupServiceErrors(t *testing.T) {
	kubeconfig := kubeconfigFile(t)
	kc := "kubeconfig " + kubeconfig + "\n"
	tests := []setupError{
		{"no service", "failover a.example.org {\nprimary endpoints/prod\n" + kc + "}", "Testfile:2 - Error during parsing: 'endpoints/prod': a Service is named endpoints/NAMESPACE/SERVICE"},
		{"empty part", "failover a.example.org {\nprimary service//app\n" + kc + "}", "'service//app': a Service is named service/NAMESPACE/SERVICE"},
		{"too many parts", "failover a.example.org {\nprimary service/a/b/c\n" + kc + "}", "a Service is named service/NAMESPACE/SERVICE"},
		{"upper-case namespace", "failover a.example.org {\nprimary endpoints/Prod/app\n" + kc + "}", "'endpoints/Prod/app': 'Prod' is no Kubernetes namespace"},
		{"bad service name", "failover a.example.org {\nprimary endpoints/prod/app_1\n" + kc + "}", "'app_1' is no Kubernetes Service name"},
		{"service twice", "failover a.example.org {\nprimary endpoints/prod/app\nsecondary endpoints/prod/app\n" + kc + "}", "Testfile:3 - Error during parsing: 'endpoints/prod/app' is listed twice in this block"},
		{"kubeconfig without services", "failover a.example.org {\nprimary 192.0.2.1\ncheck tcp://:80\n" + kc + "}", "Testfile:4 - Error during parsing: 'kubeconfig' applies only to a block whose pools name Services"},
		{"kubeconfig without file", "failover a.example.org {\nprimary endpoints/prod/app\nkubeconfig\n}", "Testfile:3 - Error during parsing: 'kubeconfig' takes a FILE and an optional CONTEXT"},
		{"kubeconfig with three", "failover a.example.org {\nprimary endpoints/prod/app\nkubeconfig a b c\n}", "'kubeconfig' takes a FILE and an optional CONTEXT"},
		{"address without check", "failover a.example.org {\nprimary endpoints/prod/app\nsecondary 192.0.2.1\n" + kc + "}", "Testfile:1 - Error during parsing: failover block for a.example.org. has no 'check' line"},
		{"check address on a service", "failover a.example.org {\nprimary endpoints/prod/app@10.0.0.1\n" + kc + "}", "no Kubernetes Service name"},
	}
	expectSetupErrors(t, tests)
}
