package healthcheck

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// timeWaitWith counts the TCP sockets of this host in TIME_WAIT whose remote
// or local address is ip:port (IPv4), from /proc/net/tcp: the port keeps
// out those of an earlier run, which last a minute.
func timeWaitWith(t *testing.T, ip string, port int) int {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	defer f.Close()
	a := netip.MustParseAddr(ip).As4()
	// /proc/net/tcp writes an IPv4 address as its 32 bits in host order: little-endian here.
	want := fmt.Sprintf("%s:%04X", strings.ToUpper(hex.EncodeToString([]byte{a[3], a[2], a[1], a[0]})), port)
	n := 0
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != "06" { // TCP_TIME_WAIT
			continue
		}
		if fields[1] == want || fields[2] == want {
			n++
		}
	}
	return n
}

// TestProbesLeaveNoTimeWait probes real HTTP and TCP servers 30 times each:
// a probe ends its connection with a reset once it has its answer, so no
// socket is left in TIME_WAIT, on either side. With keepalive the
// connection stays open between probes instead. The control: a client that
// closes as usual leaves one per connection, so the count can fail.
func TestProbesLeaveNoTimeWait(t *testing.T) {
	const rounds = 30
	for _, tc := range []struct{ name, ip, check string }{
		{"http", "127.0.0.29", "http://:%d/"},
		{"tcp", "127.0.0.30", "tcp://:%d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := serve(t, tc.ip, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			check, err := ParseCheck(fmt.Sprintf(tc.check, port))
			if err != nil {
				t.Fatal(err)
			}
			probe, closeIdle := newProberCloser(Settings{Checks: []*Check{check}, Timeout: time.Second}, netip.MustParseAddr(tc.ip), nil)
			if closeIdle != nil {
				defer closeIdle()
			}
			for range rounds {
				if err := probe(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			if n := timeWaitWith(t, tc.ip, port); n != 0 {
				t.Errorf("%d sockets in TIME_WAIT after %d probes, want none", n, rounds)
			}
		})
	}

	// The control: closing the usual way leaves TIME_WAIT on the side that
	// closes first.
	const ip = "127.0.0.31"
	port := serve(t, ip, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for range 3 {
		c, err := net.Dial("tcp", net.JoinHostPort(ip, fmt.Sprint(port)))
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if n := timeWaitWith(t, ip, port); n == 0 {
		t.Error("the control left no TIME_WAIT: the count cannot see them")
	}
}
