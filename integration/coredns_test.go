package integration

import (
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/test"
)

// startCoreDNS starts a real CoreDNS from corefile, whose server blocks listen
// on port 0, and returns it and its UDP address. It stops when the test ends,
// running the shutdown hooks that test.CoreDNSServerStop skips.
func startCoreDNS(t *testing.T, corefile string) (*caddy.Instance, string) {
	t.Helper()
	inst, udp, _, err := test.CoreDNSServerAndPorts(corefile)
	if err != nil {
		t.Fatalf("could not start CoreDNS: %v\n%s", err, corefile)
	}
	t.Cleanup(func() {
		inst.Stop()
		inst.ShutdownCallbacks()
	})
	return inst, udp
}
