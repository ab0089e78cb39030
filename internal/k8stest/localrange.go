package k8stest

import (
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// localRange is 198.18.0.0/16, of the range RFC 2544 sets aside for
// benchmarks: no network of the machine's uses it.
var localRange = netip.MustParsePrefix("198.18.0.0/16")

var localRangeOnce struct {
	sync.Mutex
	ok bool
}

// LocalRange returns 198.18.0.0/16 once this machine delivers it to itself,
// as it does 127.0.0.0/8: addresses of endpoints that tests list in
// EndpointSlices and listen on, to probe them. The API server refuses
// loopback (and link-local) addresses in EndpointSlices. Each test suite uses
// the third octet of its own 127.0.X.0/24, 198.18.X.0/24.
//
// When the range is not local yet, it adds the route that makes it so, as
// root: ip route add local 198.18.0.0/16 dev lo (it stays until reboot,
// harmless: nothing else uses the range). It fails t, saying that command,
// when it cannot.
func LocalRange(t testing.TB) netip.Prefix {
	t.Helper()
	localRangeOnce.Lock()
	defer localRangeOnce.Unlock()
	if localRangeOnce.ok || isLocal(localRange.Addr().Next()) {
		localRangeOnce.ok = true
		return localRange
	}
	route := []string{"route", "add", "local", localRange.String(), "dev", "lo"}
	out, err := exec.Command("ip", route...).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "File exists") {
		t.Fatalf("%s is not local and adding the route failed (%v: %s): as root, run ip %s",
			localRange, err, strings.TrimSpace(string(out)), strings.Join(route, " "))
	}
	if !isLocal(localRange.Addr().Next()) {
		t.Fatalf("%s is still not local after ip %s", localRange, strings.Join(route, " "))
	}
	localRangeOnce.ok = true
	return localRange
}

// isLocal tells whether a listener can bind addr.
func isLocal(addr netip.Addr) bool {
	ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
