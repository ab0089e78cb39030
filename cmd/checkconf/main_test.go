package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// command is checkconf, built once for the package's tests.
var command string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "checkconf")
	if err != nil {
		panic(err)
	}
	command = filepath.Join(dir, "checkconf")
	build := exec.Command("go", "build", "-o", command, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("go build: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what a run of the command printed and its exit status.
type result struct {
	stdout, stderr string
	code           int
}

func runCommand(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(command, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

const (
	good   = "example.org {\n  whoami\n  failover app.example.org {\n    primary 192.0.2.1\n    check http://:8080/health\n  }\n}\n"
	broken = "example.org {\n  whoami\n  failover app.example.org {\n    primary 192.0.2.1\n    chek http://:8080/health\n  }\n}\n"
)

// TestFiles checks several files at once: each is named on its line, the
// refused one with its line, and one refused file makes the run fail.
func TestFiles(t *testing.T) {
	dir := t.TempDir()
	for name, corefile := range map[string]string{"a.Corefile": good, "b.Corefile": broken, "c.Corefile": good} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(corefile), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)

	r := runCommand(t, "", "a.Corefile", "c.Corefile")
	if r.code != 0 || r.stdout != "a.Corefile: ok\nc.Corefile: ok\n" || r.stderr != "" {
		t.Errorf("two good files: %+v", r)
	}
	r = runCommand(t, "", "a.Corefile", "b.Corefile", "c.Corefile")
	want := "plugin/failover: b.Corefile:5 - Error during parsing: unknown property 'chek'"
	if r.code != 1 || r.stdout != "a.Corefile: ok\nc.Corefile: ok\n" || !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("a broken file among good ones: %+v, want exit 1 and stderr %q", r, want)
	}
	r = runCommand(t, "", "-q", "a.Corefile", "missing.Corefile")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "missing.Corefile") {
		t.Errorf("-q with a missing file: %+v", r)
	}
}

// TestStdin checks that - reads standard input, named stdin.
func TestStdin(t *testing.T) {
	if r := runCommand(t, good, "-"); r.code != 0 || r.stdout != "stdin: ok\n" {
		t.Errorf("good Corefile on stdin: %+v", r)
	}
	want := "plugin/failover: stdin:5 - Error during parsing: unknown property 'chek'"
	if r := runCommand(t, broken, "-"); r.code != 1 || !strings.HasPrefix(r.stderr, want) {
		t.Errorf("broken Corefile on stdin: %+v, want exit 1 and stderr %q", r, want)
	}
}

// TestUsage checks that a usage error exits 2, apart from a refused Corefile.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"-nosuchflag", "Corefile"}, {"-conf", "Corefile"}} {
		if r := runCommand(t, "", args...); r.code != 2 || !strings.Contains(r.stderr, "usage: checkconf") {
			t.Errorf("checkconf %v: %+v, want exit 2 and the usage", args, r)
		}
	}
}

// TestExample checks the demo's Corefile of the repository with the command,
// from the repository's root, as a CI job would.
func TestExample(t *testing.T) {
	t.Chdir("../..")
	if r := runCommand(t, "", "example/Corefile"); r.code != 0 || r.stdout != "example/Corefile: ok\n" {
		t.Errorf("example/Corefile: %+v", r)
	}
}
