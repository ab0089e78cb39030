package checkconf

import (
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coredns/coredns/test"

	"github.com/failover-dns/failover/internal/testutil"
)

// TestCheckBindsNoPortStartsNoProbe checks a Corefile whose DNS and status
// ports the test holds, and whose endpoint counts its health checks: the
// check passes, nothing is probed and no prober runs. Then, as a control,
// CoreDNS refuses to start it while the ports are held, and probes the
// endpoint once it starts.
func TestCheckBindsNoPortStartsNoProbe(t *testing.T) {
	var hits atomic.Int64
	endpoint, err := net.Listen("tcp", "127.0.70.2:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) })}
	go srv.Serve(endpoint)
	t.Cleanup(func() { srv.Close() })

	dnsPort := hold(t, "127.0.70.1:0")
	statusPort := hold(t, "127.0.70.1:0")
	corefile := fmt.Sprintf(`example.org:%d {
    bind 127.0.70.1
    failover app.example.org {
        primary 127.0.70.2
        check   http://:%d/health
        interval 100ms
        status  127.0.70.1:%d
    }
}
`, dnsPort.Addr().(*net.TCPAddr).Port, endpoint.Addr().(*net.TCPAddr).Port, statusPort.Addr().(*net.TCPAddr).Port)

	probers := probeGoroutines()
	if err := Check("Corefile", []byte(corefile)); err != nil {
		t.Fatalf("refused: %v", err)
	}
	if n := probeGoroutines(); n != probers {
		t.Errorf("%d probe goroutines after the check, %d before", n, probers)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the endpoint received %d health checks during the check", n)
	}

	// Control: starting, as CoreDNS does, binds the ports and probes.
	if inst, _, _, err := test.CoreDNSServerAndPorts(corefile); err == nil {
		stop(inst)
		t.Fatal("CoreDNS started on ports the test holds")
	}
	dnsPort.Close()
	statusPort.Close()
	inst, _, _, err := test.CoreDNSServerAndPorts(corefile)
	if err != nil {
		t.Fatalf("CoreDNS did not start: %v", err)
	}
	defer stop(inst)
	for deadline := time.Now().Add(5 * time.Second); hits.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the started CoreDNS did not probe the endpoint within 5s")
		}
	}
}

func probeGoroutines() int { return testutil.Goroutines("healthcheck.(*scheduler).run(") }

// hold listens on addr over TCP until the test ends, or until closed.
func hold(t *testing.T, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

type instance interface {
	ShutdownCallbacks() []error
	Stop() error
}

// stop stops inst's servers and runs its shutdown hooks, which the test
// helpers of CoreDNS do not.
func stop(inst instance) {
	inst.ShutdownCallbacks()
	inst.Stop()
}
