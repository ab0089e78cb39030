package checkconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckRefuses checks that a broken Corefile is refused naming its file,
// and its line where the refusing plugin or parser knows it.
func TestCheckRefuses(t *testing.T) {
	tests := []struct {
		name, corefile, want string
	}{
		{"bad failover line", "example.org {\n  whoami\n  failover app.example.org {\n    primary 192.0.2.1\n    check http://:8080/health\n    interval soon\n  }\n}\n",
			"broken.Corefile:6 - Error during parsing"},
		{"failover without check", "example.org {\n  failover app.example.org {\n    primary 192.0.2.1\n  }\n}\n",
			"broken.Corefile:2 - Error during parsing: failover block for app.example.org. has no 'check' line"},
		{"unknown plugin", ".:53 {\n  whoami\n}\nexample.org {\n  nosuchplugin\n}\n",
			"broken.Corefile:5 - Error during parsing: Unknown directive 'nosuchplugin'"},
		{"forward without address", ".:53 {\n  whoami\n  forward .\n}\n",
			"plugin/forward: broken.Corefile:3 - Error during parsing: Wrong argument count"},
		{"forward bad address", ".:53 {\n  forward . tls://\n}\n",
			`broken.Corefile: plugin/forward: invalid address: "tls://"`},
		{"unclosed brace", ".:53 {\n  whoami\n\nexample.org {\n  whoami\n}\n",
			"broken.Corefile:4 - Error during parsing: Unknown directive 'example.org'"},
		{"unclosed brace at the end", ".:53 {\n  whoami\n  log\n",
			"broken.Corefile:3 - Syntax error: Unexpected token 'log', expecting '}'"},
		// Refused outside a cluster, as CoreDNS refuses it, with the reason.
		{"kubernetes outside a cluster", ".:53 {\n  kubernetes cluster.local\n}\n",
			"broken.Corefile: plugin/kubernetes: unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined (kubernetes reads its in-cluster credentials in its setup"},
		// MakeServers' check, which the justValidate path skips.
		{"zone defined twice", "example.org {\n  whoami\n}\nexample.org {\n  log\n}\n",
			"broken.Corefile: cannot serve dns://example.org.:53 - it is already defined"},
		// failover's startup check, run on the servers made.
		{"name taken by a more specific block", "example.org {\n  failover app.example.org {\n    primary 192.0.2.1\n    check tcp://:80\n  }\n}\napp.example.org {\n  whoami\n}\n",
			"broken.Corefile:2 - Error during parsing: name 'app.example.org.' is taken"},
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "") // as in a CI job, even when the test runs in a pod
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check("broken.Corefile", []byte(tc.corefile))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.corefile)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestCheckAccepts checks the counterparts of TestCheckRefuses: the same
// Corefiles, mended, pass.
func TestCheckAccepts(t *testing.T) {
	for _, corefile := range []string{
		"example.org {\n  failover app.example.org {\n    primary 192.0.2.1\n    check http://:8080/health\n    interval 2s\n  }\n}\n",
		".:53 {\n  whoami\n}\nexample.org {\n  log\n}\n",
		".:53 {\n  forward . 192.0.2.53 tls://192.0.2.54\n}\n",
		"example.org {\n  whoami\n}\nexample.org:1053 {\n  log\n}\n",
		// Out of the cluster, with an API server that is not asked: setup only makes the client.
		".:53 {\n  kubernetes cluster.local {\n    endpoint https://127.0.70.9:6443\n  }\n}\n",
		// The more specific block on another port takes nothing.
		"example.org {\n  failover app.example.org {\n    primary 192.0.2.1\n    check tcp://:80\n  }\n}\napp.example.org:1053 {\n  whoami\n}\n",
	} {
		if err := Check("Corefile", []byte(corefile)); err != nil {
			t.Errorf("refused: %v\n%s", err, corefile)
		}
	}
}

// TestCheckImportsRelativeToFile checks that an import is read relative to
// the Corefile's directory, as CoreDNS does, not to the working directory, and
// that a problem in an imported file names that file and its line.
func TestCheckImportsRelativeToFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "coredns")
	write(t, filepath.Join(dir, "snippets", "app.conf"), "failover app.example.org {\n  primary 192.0.2.1\n  check tcp://:80\n}\n")
	write(t, filepath.Join(dir, "snippets", "broken.conf"), "whoami\nfailover app.example.org {\n  primary 192.0.2.1\n}\n")
	t.Chdir(t.TempDir()) // elsewhere

	good := filepath.Join(dir, "Corefile")
	if err := Check(good, []byte("example.org {\n  import snippets/app.conf\n}\n")); err != nil {
		t.Errorf("refused: %v", err)
	}
	err := Check(good, []byte("example.org {\n  import snippets/broken.conf\n}\n"))
	want := filepath.Join(dir, "snippets", "broken.conf") + ":2 - Error during parsing"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want it to contain %q", err, want)
	}
	// From the working directory, the import is not found.
	if err := Check("Corefile", []byte("example.org {\n  import snippets/app.conf\n}\n")); err == nil {
		t.Error("an import was read relative to the file's directory when the file is in the working directory")
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
