package main

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testCreated is the timestamp of the test images.
var testCreated = time.Unix(1700000000, 0)

var (
	sharedBinaryDir  string
	sharedBinaryOnce sync.Once
	sharedBinaryErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedBinaryDir != "" {
		os.RemoveAll(sharedBinaryDir)
	}
	os.Exit(code)
}

// staticBinary is the static coredns the tests put in their images, built
// once by the same code as make image's.
func staticBinary(t *testing.T) string {
	t.Helper()
	sharedBinaryOnce.Do(func() {
		sharedBinaryDir, sharedBinaryErr = os.MkdirTemp("", "failover-image-")
		if sharedBinaryErr == nil {
			sharedBinaryErr = buildBinary("go", filepath.Join(sharedBinaryDir, "coredns"))
		}
	})
	if sharedBinaryErr != nil {
		t.Fatal(sharedBinaryErr)
	}
	return filepath.Join(sharedBinaryDir, "coredns")
}
