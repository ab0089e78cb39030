package healthcheck

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// A thousand probes, each failing in its own way (its own status code, its
// own garbage, its own refused port), have a thousand-odd reasons for the log
// but only a few classes for metric labels, all of them in Classes.
func TestClassIsBounded(t *testing.T) {
	noLeaks(t)
	const ip = "127.0.0.81"
	var n atomic.Int64
	srv := newFaultServer(t, ip, func(c *net.TCPConn) {
		i := n.Add(1)
		switch i % 4 {
		case 0:
			answer(400 + int(i/4%200))(c) // 200 distinct codes
		case 1:
			fmt.Fprintf(c, "HTTP/1.1 2%d garbage-%d\r\n\r\n", i, i) // a malformed status line quoting i
		case 2:
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\nshort", 1000+i) // closed before the body ends
		default:
			c.SetLinger(0) // reset
		}
	})
	bodyCheck := mustCheck(t, fmt.Sprintf("http://:%d/", srv.port))
	settings := Settings{Checks: []*Check{bodyCheck}, HTTP: HTTPOptions{BodyContains: "never there", BodyLimit: 64}}
	probe := newProber(settings, netip.MustParseAddr(ip))

	reasons, classes := map[string]bool{}, map[string]bool{}
	record := func(err error) {
		if err == nil {
			t.Fatal("a probe passed; every probe here must fail")
		}
		reasons[Reason(err)] = true
		classes[Class(err)] = true
	}
	for range 900 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		record(probe(ctx))
		cancel()
	}
	for range 100 { // refused, each on a port of its own
		port := freePort(t, ip)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		record(newProber(Settings{Checks: []*Check{mustCheck(t, fmt.Sprintf("tcp://:%d", port))}}, netip.MustParseAddr(ip))(ctx))
		cancel()
	}

	if len(reasons) < 150 {
		t.Errorf("only %d distinct reasons: the test no longer makes distinct failures", len(reasons))
	}
	for class := range classes {
		if !slices.Contains(Classes, class) {
			t.Errorf("class %q is not in Classes", class)
		}
	}
	if len(classes) > len(Classes) || len(classes) < 3 {
		t.Errorf("classes %v: want a few of %v", classes, Classes)
	}
	t.Logf("%d distinct reasons, %d classes: %v", len(reasons), len(classes), classes)
}

func mustCheck(t *testing.T, raw string) *Check {
	t.Helper()
	c, err := ParseCheck(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
