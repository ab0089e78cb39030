package integration

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/test"
	"github.com/miekg/dns"

	"github.com/failover-dns/failover/internal/testutil"
)

// governBlock is a failover block for names, with primary probed on port.
func governBlock(names, primary string, port int) string {
	return fmt.Sprintf("failover %s {\nprimary %s\ncheck http://:%d/health\ninterval 100ms\ntimeout 50ms\n}", names, primary, port)
}

// TestMoreSpecificServerBlockRefused starts CoreDNS with Corefiles where a
// more specific server block on the same listener takes every query for a
// governed name: each is refused with the line of the failover block and why.
func TestMoreSpecificServerBlockRefused(t *testing.T) {
	backends := startBackends(t, "127.0.30.1")
	block := governBlock("app.sub.example.org", "127.0.30.1", backends[0].port)
	tests := []struct{ name, corefile, want string }{
		{"a more specific zone", "example.org:0 {\n" + block + "\n}\nsub.example.org:0 {\nwhoami\n}\n",
			"plugin/failover: Corefile:2 - Error during parsing: name 'app.sub.example.org.' is taken, on every listener of this server block, by the more specific server block dns://sub.example.org.:0: no query for it would reach this failover block"},
		{"the name itself as a zone, declared first", "app.sub.example.org:0 {\nwhoami\n}\nexample.org:0 {\n" + block + "\n}\n",
			"Corefile:5 - Error during parsing: name 'app.sub.example.org.' is taken, on every listener of this server block, by the more specific server block dns://app.sub.example.org.:0"},
		{"the root block governs, a zone takes it", ".:0 {\n" + block + "\n}\nexample.org:0 {\nwhoami\n}\n",
			"is taken, on every listener of this server block, by the more specific server block dns://example.org.:0"},
		{"both on one bound address", "example.org:0 {\nbind 127.0.30.2\n" + block + "\n}\nsub.example.org:0 {\nbind 127.0.30.2\nwhoami\n}\n",
			"Corefile:3 - Error during parsing: name 'app.sub.example.org.' is taken, on every listener of this server block, by the more specific server block"},
		{"failover in a view, the more specific zone in none", "example.org:0 {\nview inside {\nexpr true\n}\n" + block + "\n}\nsub.example.org:0 {\nwhoami\n}\n",
			"is taken, on every listener of this server block, by the more specific server block dns://sub.example.org.:0"},
		{"failover in a view after the same zone without one", "example.org:0 {\nwhoami\n}\nexample.org:0 {\nview inside {\nexpr true\n}\n" + block + "\n}\n",
			"Corefile:8 - Error during parsing: name 'app.sub.example.org.' is taken, on every listener of this server block, by the server block dns://example.org.:0, which has no view and comes first: no query"},
		{"a second key of the block is no escape", "example.org:0 other.example.net:0 {\n" + block + "\n}\nsub.example.org:0 {\nwhoami\n}\n",
			"is taken, on every listener of this server block, by the more specific server block dns://sub.example.org.:0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inst, err := test.CoreDNSServer(tc.corefile)
			if err == nil {
				inst.Stop()
				inst.ShutdownCallbacks()
				t.Fatalf("CoreDNS started with:\n%s", tc.corefile)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestLessSpecificServerBlockServes starts CoreDNS with Corefiles where a more
// specific server block exists but some queries for the governed name still
// reach failover: each starts, and failover answers.
func TestLessSpecificServerBlockServes(t *testing.T) {
	backends := startBackends(t, "127.0.30.3")
	block := governBlock("app.sub.example.org", "127.0.30.3", backends[0].port)
	otherPort := testutil.FreeDNSPort(t, "127.0.30.4")
	tests := []struct{ name, corefile string }{
		{"the more specific zone on another port", fmt.Sprintf("example.org:0 {\nbind 127.0.30.4\n%s\n}\nsub.example.org:%d {\nbind 127.0.30.4\nwhoami\n}\n", block, otherPort)},
		{"the more specific zone bound elsewhere", "example.org:0 {\nbind 127.0.30.4\n" + block + "\n}\nsub.example.org:0 {\nbind 127.0.30.5\nwhoami\n}\n"},
		{"the more specific zone in a view that lets queries by", "sub.example.org:0 {\nview never {\nexpr false\n}\nwhoami\n}\nexample.org:0 {\n" + block + "\n}\n"},
		{"failover in a view before the same zone without one", "example.org:0 {\nview inside {\nexpr true\n}\n" + block + "\n}\nexample.org:0 {\nwhoami\n}\n"},
		{"the more specific zone in the same block", "example.org:0 sub.example.org:0 {\n" + block + "\n}\n"},
		{"a less specific zone elsewhere", "example.org:0 {\n" + block + "\n}\n.:0 {\nwhoami\n}\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inst, err := test.CoreDNSServer(tc.corefile)
			if err != nil {
				t.Fatalf("could not start CoreDNS: %v\n%s", err, tc.corefile)
			}
			defer func() {
				inst.Stop()
				inst.ShutdownCallbacks()
			}()
			// The server of the failover block: the other one, if any, is on another port or address.
			var udp string
			for _, s := range inst.Servers() {
				if a, ok := s.LocalAddr().(*net.UDPAddr); ok && a.Port != otherPort && !a.IP.Equal(net.ParseIP("127.0.30.5")) {
					udp = a.String()
				}
			}
			waitAnswer(t, udp, "app.sub.example.org.", "127.0.30.3", 5*time.Second)
		})
	}
}

// TestReloadRefusesMoreSpecificServerBlock reloads a running CoreDNS with a
// Corefile that adds a more specific server block: the reload is refused with
// the line and the reason, and the running configuration keeps answering.
func TestReloadRefusesMoreSpecificServerBlock(t *testing.T) {
	backends := startBackends(t, "127.0.30.6")
	good := "example.org:0 {\n" + governBlock("app.sub.example.org", "127.0.30.6", backends[0].port) + "\n}\n"
	inst, udp, _, err := test.CoreDNSServerAndPorts(good)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		inst.Stop()
		inst.ShutdownCallbacks()
	}()
	waitAnswer(t, udp, "app.sub.example.org.", "127.0.30.6", 5*time.Second)

	next, err := inst.Restart(test.NewInput(good + "sub.example.org:0 {\nwhoami\n}\n"))
	if err == nil {
		inst = next
		t.Fatal("a reload with a more specific server block was accepted")
	}
	if want := "Corefile:2 - Error during parsing: name 'app.sub.example.org.' is taken, on every listener of this server block, by the more specific server block dns://sub.example.org.:0"; !strings.Contains(err.Error(), want) {
		t.Errorf("reload error %q, want it to contain %q", err, want)
	}
	waitAnswer(t, udp, "app.sub.example.org.", "127.0.30.6", 5*time.Second)
}

// TestNamesAsQueriesPresentThem starts CoreDNS with a U-label and an escaped
// name in a failover block, and an IPv4-mapped address in its pool: queries
// for the A-label and the unescaped name are answered, with A records only.
func TestNamesAsQueriesPresentThem(t *testing.T) {
	backends := startBackends(t, "127.0.30.7")
	corefile := "example.org:0 {\n" + governBlock(`bücher.example.org \097pi.example.org`, "::ffff:127.0.30.7", backends[0].port) + "\n}\n"
	inst, udp, _, err := test.CoreDNSServerAndPorts(corefile)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		inst.Stop()
		inst.ShutdownCallbacks()
	}()
	for _, name := range []string{"xn--bcher-kva.example.org.", "XN--BCHER-KVA.example.org.", "api.example.org."} {
		waitAnswer(t, udp, name, "127.0.30.7", 5*time.Second)
		if got, err := lookup(udp, name, dns.TypeAAAA); err != nil || got == "127.0.30.7" || strings.Contains(got, "::ffff") {
			t.Errorf("AAAA %s: %q, %v; want no IPv4-mapped AAAA", name, got, err)
		}
	}
}

// TestServerBlockRouting proves what the refusals rest on, with CoreDNS's own
// hosts plugin in each server block: a query goes to the most specific zone on
// its listener, and among server blocks of one zone to the first whose view
// lets it by, falling back to a less specific zone when none does.
func TestServerBlockRouting(t *testing.T) {
	hosts := func(ip string) string { return "hosts {\n" + ip + " app.sub.example.org\n}" }
	view := func(pass bool) string { return fmt.Sprintf("view v {\nexpr %v\n}\n", pass) }
	tests := []struct{ name, corefile, want string }{
		{"the more specific zone", "example.org:0 {\n" + hosts("127.0.30.9") + "\n}\nsub.example.org:0 {\n" + hosts("127.0.30.10") + "\n}\n", "127.0.30.10"},
		{"the more specific zone, declared first", "sub.example.org:0 {\n" + hosts("127.0.30.10") + "\n}\nexample.org:0 {\n" + hosts("127.0.30.9") + "\n}\n", "127.0.30.10"},
		{"a view declared after the same zone without one", "example.org:0 {\n" + hosts("127.0.30.9") + "\n}\nexample.org:0 {\n" + view(true) + hosts("127.0.30.10") + "\n}\n", "127.0.30.9"},
		{"a view declared first", "example.org:0 {\n" + view(true) + hosts("127.0.30.10") + "\n}\nexample.org:0 {\n" + hosts("127.0.30.9") + "\n}\n", "127.0.30.10"},
		{"a more specific zone whose view lets the query by", "sub.example.org:0 {\n" + view(false) + hosts("127.0.30.10") + "\n}\nexample.org:0 {\n" + hosts("127.0.30.9") + "\n}\n", "127.0.30.9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inst, udp, _, err := test.CoreDNSServerAndPorts(tc.corefile)
			if err != nil {
				t.Fatalf("could not start CoreDNS: %v\n%s", err, tc.corefile)
			}
			defer func() {
				inst.Stop()
				inst.ShutdownCallbacks()
			}()
			if got, err := lookup(udp, "app.sub.example.org.", dns.TypeA); err != nil || got != tc.want {
				t.Errorf("answered %q, %v; want %s", got, err, tc.want)
			}
		})
	}
}

// TestRefusedStartStartsNoProbe starts CoreDNS with two failover server
// blocks where the second's name is taken: the check runs before the first
// block's instance starts, so nothing probes after the refusal, on a start
// after which CoreDNS runs no shutdown hook.
func TestRefusedStartStartsNoProbe(t *testing.T) {
	backends := startBackends(t, "127.0.30.8")
	port := backends[0].port
	waitGoroutines(t, "before the start", func() bool { return probedEndpoints() == 0 })
	corefile := "sub.example.org:0 {\n" + governBlock("www.sub.example.org", "127.0.30.8", port) + "\n}\n" +
		"example.org:0 {\n" + governBlock("app.sub.example.org", "127.0.30.8", port) + "\n}\n"
	inst, err := test.CoreDNSServer(corefile)
	if err == nil {
		inst.Stop()
		inst.ShutdownCallbacks()
		t.Fatal("CoreDNS started with a name a more specific server block takes")
	}
	if !strings.Contains(err.Error(), "Corefile:10 - Error during parsing: name 'app.sub.example.org.' is taken") {
		t.Errorf("error %q does not name the line and the name", err)
	}
	if n := probedEndpoints(); n != 0 {
		t.Errorf("%d endpoints probed after a refused start", n)
	}
}
