package failover

import (
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

func TestSetupDefaults(t *testing.T) {
	c := caddy.NewTestController("dns", `failover App.Example.org example.net. {
		primary 192.0.2.1 2001:db8::1
		check http://:8080/health
	}`)
	f, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.blocks) != 1 {
		t.Fatalf("%d blocks, want 1", len(f.blocks))
	}
	b := f.blocks[0]
	if got := strings.Join(b.names, " "); got != "app.example.org. example.net." {
		t.Errorf("names %q, want lower-case fully qualified names", got)
	}
	if b.probe.Interval != 5*time.Second || b.probe.Timeout != 2*time.Second || b.probe.Fall != 3 || b.probe.Rise != 2 {
		t.Errorf("probe settings %+v, want interval 5s, timeout 2s, fall 3, rise 2", b.probe)
	}
	if b.ttl != 30 || b.allDown != allDownPrimary {
		t.Errorf("ttl %d, all_down %d; want 30 and primary", b.ttl, b.allDown)
	}
	if len(b.pools) != 1 || len(b.pools[0].members) != 2 {
		t.Fatalf("pools %+v, want one pool of two", b.pools)
	}
	if n := len(f.engine.Endpoints()); n != 2 {
		t.Errorf("%d endpoints, want 2", n)
	}
	if f.state.Load() == nil {
		t.Error("no snapshot published at setup: a query before the first probe would find none")
	}
}

func TestSetupOptions(t *testing.T) {
	c := caddy.NewTestController("dns", `
	failover app.example.org {
		primary   192.0.2.1 192.0.2.2
		secondary 198.51.100.1
		check     tcp://:443
		interval  1s
		timeout   300ms
		fall      5
		rise      1
		ttl       0
		all_down  servfail
	}
	failover www.example.org {
		primary 192.0.2.1
		check   tcp://:443
		interval 1s
		timeout 300ms
		fall 5
		rise 1
	}
	failover short.example.org {
		primary 192.0.2.9
		check   http://:80/
		interval 1s
	}`)
	f, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	b := f.blocks[0]
	if b.probe.Interval != time.Second || b.probe.Timeout != 300*time.Millisecond || b.probe.Fall != 5 || b.probe.Rise != 1 {
		t.Errorf("probe settings %+v", b.probe)
	}
	if b.ttl != 0 || b.allDown != allDownServfail {
		t.Errorf("ttl %d, all_down %d; want 0 and servfail", b.ttl, b.allDown)
	}
	if len(b.pools) != 2 || b.pools[0].name != "primary" || b.pools[1].name != "secondary" {
		t.Errorf("pools %+v", b.pools)
	}
	// 192.0.2.1 is probed the same way by two blocks: one endpoint serves both.
	if f.blocks[0].pools[0].members[0].endpoint != f.blocks[1].pools[0].members[0].endpoint {
		t.Error("the same address and check in two blocks is probed twice")
	}
	if n := len(f.engine.Endpoints()); n != 4 {
		t.Errorf("%d endpoints, want 4", n)
	}
	// No timeout given with a short interval: half the interval.
	if got := f.blocks[2].probe.Timeout; got != 500*time.Millisecond {
		t.Errorf("default timeout under interval 1s is %v, want 500ms", got)
	}
}

func TestSetupErrors(t *testing.T) {
	const ok = "primary 192.0.2.1\ncheck tcp://:80\n"
	tests := []setupError{
		{"no name", "failover {\n" + ok + "}", "Testfile:1 - Error during parsing: failover needs at least one NAME"},
		{"bad name", "failover exa..mple.org {\n" + ok + "}", "'exa..mple.org' is not a domain name"},
		{"wildcard", "failover *.example.org {\n" + ok + "}", "without wildcards"},
		{"name twice in a block", "failover a.example.org A.example.org. {\n" + ok + "}", "name 'a.example.org.' is listed twice"},
		{"name in two blocks", "failover a.example.org {\n" + ok + "}\nfailover b.example.org a.example.org {\n" + ok + "}",
			"Testfile:5 - Error during parsing: name 'a.example.org.' is already governed by the failover block at line 1"},
		{"no block", "failover a.example.org", "Testfile:1 - Error during parsing: failover block for a.example.org. has no 'primary' line"},
		{"unknown keyword", "failover a.example.org {\n" + ok + "ratio 3\n}", "Testfile:4 - Error during parsing: unknown property 'ratio'"},
		{"no primary", "failover a.example.org {\ncheck tcp://:80\n}", "Testfile:1 - Error during parsing: failover block for a.example.org. has no 'primary' line"},
		{"empty primary", "failover a.example.org {\nprimary\ncheck tcp://:80\n}", "Testfile:2 - Error during parsing: 'primary' needs at least one ADDRESS"},
		{"bad address", "failover a.example.org {\nprimary 192.0.2.300\ncheck tcp://:80\n}", "Testfile:2 - Error during parsing: '192.0.2.300' is not an IPv4 or IPv6 address"},
		{"host name as address", "failover a.example.org {\nprimary web.example.org\ncheck tcp://:80\n}", "'web.example.org' is not an IPv4 or IPv6 address"},
		{"zoned address", "failover a.example.org {\nprimary fe80::1%eth0\ncheck tcp://:80\n}", "'fe80::1%eth0' is not an IPv4 or IPv6 address"},
		{"address twice", "failover a.example.org {\n" + ok + "secondary 192.0.2.1\n}", "Testfile:4 - Error during parsing: address 192.0.2.1 is listed twice"},
		{"secondary first", "failover a.example.org {\nsecondary 192.0.2.2\n" + ok + "}", "'secondary' must come after 'primary'"},
		{"primary twice", "failover a.example.org {\n" + ok + "primary 192.0.2.2\n}", "Testfile:4 - Error during parsing: 'primary' is given twice in this block (first at line 2)"},
		{"no check", "failover a.example.org {\nprimary 192.0.2.1\n}", "Testfile:1 - Error during parsing: failover block for a.example.org. has no 'check' line"},
		{"check without URL", "failover a.example.org {\nprimary 192.0.2.1\ncheck\n}", "Testfile:3 - Error during parsing: 'check' needs at least one URL"},
		{"same check twice", "failover a.example.org {\nprimary 192.0.2.1\ncheck tcp://:80 tcp://:80\n}", "Testfile:3 - Error during parsing: check tcp://:80 is listed twice"},
		{"unsupported scheme", "failover a.example.org {\nprimary 192.0.2.1\ncheck ftp://:21\n}", `Testfile:3 - Error during parsing: check URL "ftp://:21": unsupported scheme "ftp"`},
		{"tcp without port", "failover a.example.org {\nprimary 192.0.2.1\ncheck tcp://\n}", "a tcp check needs a port"},
		{"bad duration", "failover a.example.org {\n" + ok + "interval 5\n}", "Testfile:4 - Error during parsing: 'interval' needs a positive duration such as 5s or 500ms, not '5'"},
		{"negative duration", "failover a.example.org {\n" + ok + "timeout -1s\n}", "'timeout' needs a positive duration"},
		{"zero interval", "failover a.example.org {\n" + ok + "interval 0s\n}", "'interval' needs a positive duration"},
		{"missing duration", "failover a.example.org {\n" + ok + "interval\n}", "'interval' takes exactly one argument"},
		{"timeout not shorter", "failover a.example.org {\n" + ok + "interval 2s\ntimeout 2s\n}", "Testfile:5 - Error during parsing: timeout 2s must be shorter than interval 2s"},
		{"timeout against the default interval", "failover a.example.org {\n" + ok + "timeout 6s\n}", "Testfile:4 - Error during parsing: timeout 6s must be shorter than interval 5s"},
		{"fall zero", "failover a.example.org {\n" + ok + "fall 0\n}", "Testfile:4 - Error during parsing: 'fall' needs a count of at least 1, not '0'"},
		{"rise negative", "failover a.example.org {\n" + ok + "rise -2\n}", "'rise' needs a count of at least 1, not '-2'"},
		{"rise not a number", "failover a.example.org {\n" + ok + "rise two\n}", "'rise' needs a count of at least 1, not 'two'"},
		{"ttl negative", "failover a.example.org {\n" + ok + "ttl -1\n}", "'ttl' needs a number of seconds from 0 to 2147483647, not '-1'"},
		{"ttl too large", "failover a.example.org {\n" + ok + "ttl 2147483648\n}", "not '2147483648'"},
		{"ttl with unit", "failover a.example.org {\n" + ok + "ttl 30s\n}", "not '30s'"},
		{"bad all_down", "failover a.example.org {\n" + ok + "all_down random\n}", "Testfile:4 - Error during parsing: 'all_down' must be primary, all, servfail or nodata, not 'random'"},
		{"all_down without value", "failover a.example.org {\n" + ok + "all_down\n}", "'all_down' takes exactly one argument"},
	}
	expectSetupErrors(t, tests)
}

// setupError is a Corefile that must be refused, with what the error says.
type setupError struct{ name, input, want string }

// expectSetupErrors checks that each Corefile is refused with its error.
func expectSetupErrors(t *testing.T, tests []setupError) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(caddy.NewTestController("dns", tc.input))
			if err == nil {
				t.Fatalf("expected an error for:\n%s", tc.input)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestSetupNameOutsideServerBlockZones(t *testing.T) {
	c := caddy.NewTestController("dns", "failover app.example.net {\nprimary 192.0.2.1\ncheck tcp://:80\n}")
	c.ServerBlockKeys = []string{"example.org:1053"}
	_, err := parse(c)
	if err == nil || !strings.Contains(err.Error(), "name 'app.example.net.' is outside the zones of this server block (example.org.)") {
		t.Fatalf("error %v, want one about the zone", err)
	}
	c = caddy.NewTestController("dns", "failover app.example.org {\nprimary 192.0.2.1\ncheck tcp://:80\n}")
	c.ServerBlockKeys = []string{"example.org:1053"}
	if _, err := parse(c); err != nil {
		t.Fatalf("name inside the zone: %v", err)
	}
}

func TestSetupRegistersHandler(t *testing.T) {
	c := caddy.NewTestController("dns", "failover app.example.org {\nprimary 192.0.2.1\ncheck tcp://:80\n}")
	if err := setup(c); err != nil {
		t.Fatal(err)
	}
	c = caddy.NewTestController("dns", "failover app.example.org {\nprimary nonsense\ncheck tcp://:80\n}")
	err := setup(c)
	if err == nil || !strings.HasPrefix(err.Error(), "plugin/failover: Testfile:2") {
		t.Fatalf("error %v, want it prefixed with plugin/failover and the line", err)
	}
}
