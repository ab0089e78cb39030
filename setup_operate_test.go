package failover

import (
	"path/filepath"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
)

func TestSetupOverrideAndStatusErrors(t *testing.T) {
	const ok = "primary 192.0.2.1\ncheck tcp://:80\n"
	expectSetupErrors(t, []setupError{
		{"override without file", "failover a.example.org {\n" + ok + "override\n}", "Testfile:4 - Error during parsing: 'override' takes exactly one argument"},
		{"override with two files", "failover a.example.org {\n" + ok + "override a b\n}", "'override' takes exactly one argument"},
		{"override twice", "failover a.example.org {\n" + ok + "override a\noverride b\n}", "Testfile:5 - Error during parsing: 'override' is given twice in this block (first at line 4)"},
		{"status without address", "failover a.example.org {\n" + ok + "status\n}", "Testfile:4 - Error during parsing: 'status' takes exactly one argument"},
		{"status without port", "failover a.example.org {\n" + ok + "status 127.0.0.1\n}", "'status' needs HOST:PORT or :PORT, such as 127.0.0.1:8054 or :8054, not '127.0.0.1'"},
		{"status port 0", "failover a.example.org {\n" + ok + "status :0\n}", "not ':0'"},
		{"status port too large", "failover a.example.org {\n" + ok + "status :65536\n}", "not ':65536'"},
		{"status host name", "failover a.example.org {\n" + ok + "status status.example.org:8054\n}", "'status' needs an IP address as HOST, not 'status.example.org'"},
		{"status twice", "failover a.example.org {\n" + ok + "status :8054\nstatus :8055\n}", "'status' is given twice in this block"},
	})
}

func TestSetupOverrideAndStatus(t *testing.T) {
	c := caddy.NewTestController("dns", `
	failover a.example.org {
		primary  192.0.2.1
		check    tcp://:80
		override overrides.txt
		status   :8054
	}
	failover b.example.org {
		primary  192.0.2.2
		check    tcp://:80
		override ./overrides.txt
		status   [::1]:8054
	}
	failover c.example.org {
		primary  192.0.2.3
		check    tcp://:80
		override /etc/coredns/other
		status   localhost:8055
	}
	failover d.example.org {
		primary  192.0.2.4
		check    tcp://:80
	}`)
	dnsserver.GetConfig(c).Root = "/srv/dns"
	f, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	a, b, cc, d := f.blocks[0], f.blocks[1], f.blocks[2], f.blocks[3]
	if a.overrides.path != filepath.Join("/srv/dns", "overrides.txt") {
		t.Errorf("relative override file not under the root: %s", a.overrides.path)
	}
	if a.overrides != b.overrides || len(a.overrides.blocks) != 2 {
		t.Errorf("blocks naming one file do not share its reading")
	}
	if cc.overrides.path != "/etc/coredns/other" || d.overrides != nil || len(f.overrides) != 2 {
		t.Errorf("override files %v, %v; %d read", cc.overrides, d.overrides, len(f.overrides))
	}
	for block, want := range map[*block]string{a: "127.0.0.1:8054", b: "[::1]:8054", cc: "127.0.0.1:8055", d: ""} {
		if block.status != want {
			t.Errorf("block of %s: status %q, want %q", block.names[0], block.status, want)
		}
	}
}
