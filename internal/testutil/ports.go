package testutil

import (
	"fmt"
	"net"
	"testing"
)

// FreeDNSPort returns a port that nothing listens on at ip, over UDP and TCP,
// as a DNS server listens on both. Another process may take it before the
// caller does; the callers retry or fail clearly.
func FreeDNSPort(t testing.TB, ip string) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(port)))
		pc.Close()
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatalf("no port free for UDP and TCP on %s", ip)
	return 0
}
