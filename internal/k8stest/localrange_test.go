package k8stest

import (
	"net"
	"net/netip"
	"testing"
)

// TestK8sLocalRange checks that an address of LocalRange is accepted in an
// EndpointSlice, where a loopback address is refused, and is reachable by a
// listener on it.
func TestK8sLocalRange(t *testing.T) {
	prefix := LocalRange(t)
	addr := netip.MustParseAddr("198.18.30.1")
	if !prefix.Contains(addr) {
		t.Fatalf("%s outside %s", addr, prefix)
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
