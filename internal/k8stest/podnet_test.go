package k8stest

import (
	"net"
	"net/netip"
	"testing"
)

// TestK8sPodNetwork checks that an address of PodNetwork is accepted in an
// EndpointSlice, where a loopback address is refused, and that a listener
// on it is reachable, inside the test's own network namespace.
func TestK8sPodNetwork(t *testing.T) {
	if !RunInPodNetwork(t) {
		return
	}
	addr := netip.MustParseAddr("10.244.30.1")
	if !netip.MustParsePrefix(PodNetwork).Contains(addr) {
		t.Fatalf("%s outside %s", addr, PodNetwork)
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			conn.Close()
		}
		accepted <- err
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}

	c := Start(t)
	c.Namespace(t, "prod")
	c.Service(t, "prod", "app")
	c.EndpointSlice(t, "prod", "app", "app-1", Endpoint{Addr: addr.String()})
	if es := getSlice(t, c, "prod", "app-1"); es.Endpoints[0].Addresses[0] != addr.String() {
		t.Errorf("slice: %+v", es)
	}
}
