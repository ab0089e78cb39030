package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testCreated is the -created of the test images.
const testCreated = "1700000000"

var (
	toolDir  string
	toolOnce sync.Once
	toolErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if toolDir != "" {
		os.RemoveAll(toolDir)
	}
	os.Exit(code)
}

// imageTool is this command, built once as make image's go run builds it:
// without the test's -race, under which compressing the 80 MB layer takes
// ten times as long.
func imageTool(t *testing.T) string {
	t.Helper()
	toolOnce.Do(func() {
		if toolDir, toolErr = os.MkdirTemp("", "failover-image-"); toolErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(toolDir, "image"), ".").CombinedOutput()
		if err != nil {
			toolErr = errors.New("go build build/image: " + err.Error() + "\n" + string(out))
		}
	})
	if toolErr != nil {
		t.Fatal(toolErr)
	}
	return filepath.Join(toolDir, "image")
}

// makeImage runs the command as make image does, into out, with the test's
// timestamp and args added, and returns the digest it printed.
func makeImage(t *testing.T, out string, args ...string) string {
	t.Helper()
	cmd := exec.Command(imageTool(t), append([]string{"-out", out, "-created", testCreated}, args...)...)
	stdout, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s: %v\n%s", cmd, err, stderr)
	}
	for _, line := range strings.Split(string(stdout), "\n") {
		if digest, ok := strings.CutPrefix(strings.TrimSpace(line), "digest"); ok {
			return strings.TrimSpace(digest)
		}
	}
	t.Fatalf("%s printed no digest:\n%s", cmd, stdout)
	return ""
}
