package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The fleet tests run CoreDNS as separate processes, each with its own
// identity (POD_NAME), as the replicas of a Deployment are: the binary is
// built once per test binary, in a directory TestMain removes.

// corednsEnv names the variable that hands the binary to a run of the test
// binary in a network namespace of its own (k8stest.RunInPodNetwork), which
// would otherwise build it again.
const corednsEnv = "FAILOVER_FLEET_COREDNS"

var (
	buildOnce  sync.Once
	buildDir   string // removed by TestMain; empty when the binary came from corednsEnv
	buildPath  string
	buildError error
)

// TestMain removes the CoreDNS binary the fleet tests built, if any.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// corednsBinary returns the path of ./plugin/coredns built for this test
// binary: with the race detector when the tests run with it, so that a race
// in a replica fails the test that saw it. The first caller builds it; a run
// in a network namespace of its own gets its parent's.
func corednsBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if path := os.Getenv(corednsEnv); path != "" {
			buildPath = path
			return
		}
		buildDir, buildError = os.MkdirTemp("", "failover-fleet-")
		if buildError != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "coredns")
		args := []string{"build", "-o", buildPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/failover-dns/failover/plugin/coredns")
		// go test puts its toolchain's bin first on PATH: this is its go.
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			buildError = fmt.Errorf("go %v: %v\n%s", args, err, out)
			return
		}
		// Children that re-run a test in a namespace of their own inherit
		// the environment: they use this binary.
		buildError = os.Setenv(corednsEnv, buildPath)
	})
	if buildError != nil {
		t.Fatalf("building CoreDNS for the fleet tests: %v", buildError)
	}
	return buildPath
}
