package k8stest

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// killAPIServer kills this cluster's kube-apiserver at once, as a crash or
// a lost node would. A graceful stop can take over a minute while clients
// hold watches open, and envtest gives no way to the process but Stop: it
// is found by its certificate directory, which is the cluster's own.
func (c *Cluster) killAPIServer() {
	marker := []byte(c.dir)
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, path := range procs {
		cmdline, err := os.ReadFile(path)
		if err != nil || !bytes.Contains(cmdline, []byte("kube-apiserver")) || !bytes.Contains(cmdline, marker) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(path))); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
