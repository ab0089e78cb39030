package failover

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/caddy/caddyfile"

	"github.com/failover-dns/failover/healthcheck"
)

func TestSetupProbeOptions(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secret, []byte("Bearer from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := parse(caddy.NewTestController("dns", `failover app.example.org {
		primary   192.0.2.1 192.0.2.2@10.0.0.2 192.0.2.3@10.0.0.3:8443
		secondary 198.51.100.1
		pool      dr 203.0.113.1 2001:db8::1@[2001:db8::2]:9000
		min_healthy primary 2
		check     https://app.example.org/health tcp://:443
		expect_status 200 204 3xx
		expect_body "status: ok"
		body_limit 1024
		method    get
		header    X-Probe yes
		header_file Authorization `+secret+`
		follow_redirects
		keepalive
		tls_servername app.internal
		tls_insecure_skip_verify
	}`))
	if err != nil {
		t.Fatal(err)
	}
	b := f.blocks[0]
	if names := []string{b.pools[0].name, b.pools[1].name, b.pools[2].name}; strings.Join(names, " ") != "primary secondary dr" {
		t.Errorf("pools %v", names)
	}
	if b.pools[0].minHealthy != 2 || b.pools[1].minHealthy != 0 {
		t.Errorf("min_healthy %d, %d", b.pools[0].minHealthy, b.pools[1].minHealthy)
	}
	checked := func(m member) string {
		return m.addr.String() + ">" + m.endpoint.String()
	}
	for _, tc := range []struct {
		m    member
		want string
	}{
		{b.pools[0].members[0], "192.0.2.1>192.0.2.1 (https://app.example.org/health tcp://:443)"},
		{b.pools[0].members[1], "192.0.2.2>10.0.0.2 (https://app.example.org/health tcp://:443)"},
		{b.pools[0].members[2], "192.0.2.3>10.0.0.3:8443 (https://app.example.org/health tcp://:443)"},
		{b.pools[2].members[1], "2001:db8::1>[2001:db8::2]:9000 (https://app.example.org/health tcp://:443)"},
	} {
		if got := checked(tc.m); got != tc.want {
			t.Errorf("member %s checked as %q, want %q", tc.m.addr, got, tc.want)
		}
	}
	o := b.probe.HTTP
	if len(o.Status) != 3 || o.Status[2] != (healthcheck.StatusRange{From: 300, To: 399}) || o.BodyContains != "status: ok" ||
		o.BodyLimit != 1024 || o.Method != "GET" || !o.FollowRedirects || !o.KeepAlive {
		t.Errorf("HTTP options %+v", o)
	}
	if o.Header.Get("X-Probe") != "yes" || o.Header.Get("Authorization") != "Bearer from-a-file" {
		t.Errorf("headers %v", o.Header)
	}
	if tls := b.probe.TLS; tls == nil || tls.ServerName != "app.internal" || !tls.InsecureSkipVerify || !b.insecureTLS {
		t.Errorf("TLS %+v", tls)
	}
}

// TestSetupSharesIdenticalProbes checks that two blocks probing one address
// the same way, TLS included, share one endpoint.
func TestSetupSharesIdenticalProbes(t *testing.T) {
	block := func(name string) string {
		return "failover " + name + " {\nprimary 192.0.2.1\ncheck https://:443/\ntls_servername x.example.org\nheader A b\n}\n"
	}
	f, err := parse(caddy.NewTestController("dns", block("a.example.org")+block("b.example.org")))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := f.blocks[0].pools[0].members[0].endpoint, f.blocks[1].pools[0].members[0].endpoint; a != b {
		t.Error("identical probes of one address are not shared")
	}
	if n := len(f.engine.Endpoints()); n != 1 {
		t.Errorf("%d endpoints, want 1", n)
	}
}

func TestSetupProbeOptionErrors(t *testing.T) {
	const head = "failover a.example.org {\nprimary 192.0.2.1\ncheck https://:443/\n"
	tests := []setupError{
		{"status empty", head + "expect_status\n}", "Testfile:4 - Error during parsing: 'expect_status' needs at least one status"},
		{"status bad", head + "expect_status 200 20x\n}", "Testfile:4 - Error during parsing: '20x' is not a status code (200), range (200-299) or class (2xx)"},
		{"status range reversed", head + "expect_status 299-200\n}", "'299-200' is not a status code"},
		{"body empty", head + "expect_body \"\"\n}", "'expect_body' needs a non-empty text"},
		{"body limit zero", head + "expect_body ok\nbody_limit 0\n}", "'body_limit' needs a number of bytes from 1 to 1048576, not '0'"},
		{"body limit huge", head + "expect_body ok\nbody_limit 2000000\n}", "not '2000000'"},
		{"body limit alone", head + "body_limit 10\n}", "Testfile:4 - Error during parsing: 'body_limit' bounds the search of 'expect_body'"},
		{"method POST", head + "method POST\n}", "'method' must be GET or HEAD, not 'POST'"},
		{"HEAD with body", head + "method HEAD\nexpect_body ok\n}", "Testfile:5 - Error during parsing: 'expect_body' needs a body, and 'method HEAD' gets none"},
		{"header without value", head + "header X-A\n}", "'header' takes a name and a value"},
		{"header bad name", head + "header X:A b\n}", "'X:A' is not a valid header name"},
		{"header_file missing", head + "header_file Authorization /nonexistent/token\n}", "Testfile:4 - Error during parsing: 'header_file' Authorization: open /nonexistent/token: no such file or directory"},
		{"follow_redirects with args", head + "follow_redirects 3\n}", "'follow_redirects' takes no arguments"},
		{"tls too many", head + "tls a b c d\n}", "'tls' takes at most three arguments"},
		{"tls missing CA", head + "tls /nonexistent/ca.pem\n}", "Testfile:4 - Error during parsing: 'tls':"},
		{"insecure with args", head + "tls_insecure_skip_verify yes\n}", "'tls_insecure_skip_verify' takes no arguments"},
		{"tls on tcp", "failover a.example.org {\nprimary 192.0.2.1\ncheck tcp://:443\ntls_servername x\n}", "Testfile:4 - Error during parsing: 'tls_servername' applies to https and grpcs checks, and this block has none"},
		{"http option on tcp", "failover a.example.org {\nprimary 192.0.2.1\ncheck tcp://:443\nexpect_status 200\n}", "'expect_status' applies to http and https checks"},
		{"pool before secondary", head + "pool dr 192.0.2.9\n}", "'pool' lines come after 'primary' and 'secondary'"},
		{"pool without name", head + "secondary 192.0.2.2\npool 192.0.2.9\n}", "'pool' needs a NAME before its addresses, not the address '192.0.2.9'"},
		{"pool without address", head + "secondary 192.0.2.2\npool dr\n}", "pool 'dr' needs at least one ADDRESS"},
		{"pool twice", head + "secondary 192.0.2.2\npool dr 192.0.2.9\npool dr 192.0.2.10\n}", "pool 'dr' is defined twice"},
		{"secondary after pool", head + "secondary 192.0.2.2\npool dr 192.0.2.9\nsecondary 192.0.2.3\n}", "'secondary' is given twice"},
		{"min_healthy unknown pool", head + "min_healthy secondary 1\n}", "Testfile:4 - Error during parsing: 'min_healthy' names pool 'secondary', which this block does not have"},
		{"min_healthy too high", head + "min_healthy primary 2\n}", "'min_healthy' 2 for pool 'primary', which has only 1 addresses"},
		{"min_healthy zero", head + "min_healthy primary 0\n}", "'min_healthy' needs a count of at least 1, not '0'"},
		{"min_healthy twice", head + "min_healthy primary 1\nmin_healthy primary 1\n}", "'min_healthy' for pool 'primary' is given twice (first at line 4)"},
		{"bad check address", "failover a.example.org {\nprimary 192.0.2.1@web\ncheck tcp://:80\n}", "'192.0.2.1@web': the address to check after '@' must be an IP address"},
		{"check port zero", "failover a.example.org {\nprimary 192.0.2.1@10.0.0.1:0\ncheck tcp://:80\n}", "the address to check after '@'"},
	}
	expectSetupErrors(t, tests)
}

// TestChooseWithMinHealthy checks pool thresholds and further pools: a pool
// below its min_healthy is skipped for the next one that is up.
func TestChooseWithMinHealthy(t *testing.T) {
	corefile := `failover app.example.org {
		primary   192.0.2.1 192.0.2.2 192.0.2.3
		secondary 198.51.100.1
		pool      dr 203.0.113.1
		min_healthy primary 2
		check     tcp://:80
	}`
	tests := []struct {
		down []string
		want string
	}{
		{nil, "192.0.2.1 192.0.2.2 192.0.2.3"},
		{[]string{"192.0.2.1"}, "192.0.2.2 192.0.2.3"},
		{[]string{"192.0.2.1", "192.0.2.2"}, "198.51.100.1"},
		{[]string{"192.0.2.1", "192.0.2.2", "198.51.100.1"}, "203.0.113.1"},
		{[]string{"192.0.2.1", "192.0.2.2", "198.51.100.1", "203.0.113.1"}, "192.0.2.1 192.0.2.2 192.0.2.3"}, // all_down primary
	}
	for _, tc := range tests {
		f, err := parse(caddy.NewTestController("dns", corefile))
		if err != nil {
			t.Fatal(err)
		}
		down := map[netip.Addr]bool{}
		for _, d := range tc.down {
			down[netip.MustParseAddr(d)] = true
		}
		b := f.blocks[0]
		c := b.decide(b.names[0], judgeName(b.names[0], nil, nil, func(m member) bool { return !down[m.addr] }), nil, nil, time.Now()).a
		var got []string
		for _, ip := range c.ips {
			got = append(got, ip.String())
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("down %v: answered %v, want %s", tc.down, got, tc.want)
		}
	}
}

// TestSetupHeaderFromEnvironment checks that a header value may come from the
// environment: CoreDNS's Corefile parser replaces {$VAR} in every token.
func TestSetupHeaderFromEnvironment(t *testing.T) {
	t.Setenv("PROBE_TOKEN", "from-the-environment")
	corefile := ". {\nfailover a.example.org {\nprimary 192.0.2.1\ncheck http://:80/\nheader Authorization \"Bearer {$PROBE_TOKEN}\"\n}\n}"
	blocks, err := caddyfile.Parse("Corefile", strings.NewReader(corefile), []string{"failover"})
	if err != nil {
		t.Fatal(err)
	}
	c := caddy.NewTestController("dns", "")
	c.Dispenser = caddyfile.NewDispenserTokens("Corefile", blocks[0].Tokens["failover"])
	f, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.blocks[0].probe.HTTP.Header.Get("Authorization"); got != "Bearer from-the-environment" {
		t.Errorf("Authorization %q", got)
	}
}
