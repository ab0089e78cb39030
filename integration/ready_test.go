package integration

import (
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/coredns/coredns/test"
)

// TestReadyWithAllEndpointsDown starts a real CoreDNS with the ready plugin and
// a failover block whose every endpoint is down: the server is ready, because
// failover has judged them; readiness is not health of the primary.
func TestReadyWithAllEndpointsDown(t *testing.T) {
	readyAddr := freeTCPAddr(t, "127.0.0.45")
	closedPort := freeTCPAddr(t, "127.0.0.46")
	_, port, _ := net.SplitHostPort(closedPort)
	inst, err := test.CoreDNSServer(fmt.Sprintf(".:0 {\nready %s\nfailover app.example.org {\nprimary 127.0.0.46\ncheck tcp://:%s\n}\n}\n", readyAddr, port))
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Stop()
	defer inst.ShutdownCallbacks()
	resp, err := http.Get("http://" + readyAddr + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/ready answered %d with every endpoint down, want 200", resp.StatusCode)
	}
}

// freeTCPAddr returns an address on ip that nothing listens on.
func freeTCPAddr(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
