package failover

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestParseOverrides(t *testing.T) {
	content := `# drill of 2026-11-25
192.0.2.10 down   maintenance of rack 4   # until noon
2001:DB8::1 drain
App.Example.ORG/primary drain failover drill
app.example.org./secondary UP
::ffff:198.51.100.7 up

192.0.2.10 up           # given again
192.0.2.11
192.0.2.12 sideways
example.org drain
app.example.org/ down
/primary down
app.example.org/secondary down  # given again, in another spelling
a..b/primary up
`
	set := parseOverrides([]byte(content))

	tests := []struct {
		target string
		state  overrideState
		reason string
		line   int
	}{
		{"192.0.2.10", overrideDown, "maintenance of rack 4", 2},
		{"2001:DB8::1", overrideDrain, "", 3},
		{"App.Example.ORG/primary", overrideDrain, "failover drill", 4},
		{"app.example.org./secondary", overrideUp, "", 5},
		{"::ffff:198.51.100.7", overrideUp, "", 6},
	}
	if len(set.all) != len(tests) {
		t.Fatalf("%d overrides, want %d: %v", len(set.all), len(tests), set.describe())
	}
	for i, tc := range tests {
		o := set.all[i]
		if o.target != tc.target || o.state != tc.state || o.reason != tc.reason || o.line != tc.line {
			t.Errorf("override %d: %+v, want %+v", i, *o, tc)
		}
	}
	if o := set.addrs[netip.MustParseAddr("2001:db8::1")]; o == nil || o.line != 3 {
		t.Errorf("IPv6 address not found in its canonical form: %v", o)
	}
	if o := set.addrs[netip.MustParseAddr("198.51.100.7")]; o == nil || o.line != 6 {
		t.Errorf("IPv4-mapped address not found as IPv4: %v", o)
	}
	if o := set.poolOverride("app.example.org.", "primary"); o == nil || o.line != 4 {
		t.Errorf("name not found lower case and fully qualified: %v", o)
	}

	wantBad := []string{
		"line 8: 192.0.2.10 is already overridden at line 2",
		"line 9: '192.0.2.11' has no state",
		"line 10: unknown state 'sideways': want up, down, drain or release",
		"line 11: 'example.org' is neither an IP address nor NAME/POOL",
		"line 12: 'app.example.org/' is not NAME/POOL",
		"line 13: '/primary' is not NAME/POOL",
		"line 14: app.example.org/secondary is already overridden at line 5",
		"line 15: 'a..b/primary' is not NAME/POOL",
	}
	if len(set.bad) != len(wantBad) {
		t.Fatalf("bad lines %v, want %d", set.bad, len(wantBad))
	}
	for i, want := range wantBad {
		if got := set.bad[i].String(); !strings.HasPrefix(got, want) {
			t.Errorf("bad line %d: %q, want it to start with %q", i, got, want)
		}
	}
}

// TestOverrideLookup checks which override holds for a member when both its
// pool and its address are overridden: the more cautious.
func TestOverrideLookup(t *testing.T) {
	addr := netip.MustParseAddr("192.0.2.1")
	tests := []struct {
		file string
		want string // the state in force for 192.0.2.1 in app.example.org's primary; "" for none
	}{
		{"", ""},
		{"192.0.2.1 up", "up"},
		{"app.example.org/primary down", "down"},
		{"app.example.org/secondary down", ""},
		{"other.example.org/primary down", ""},
		{"192.0.2.1 up\napp.example.org/primary down", "down"},
		{"192.0.2.1 drain\napp.example.org/primary down", "drain"},
		{"192.0.2.1 down\napp.example.org/primary up", "down"},
		{"192.0.2.1 down\napp.example.org/primary drain", "drain"},
	}
	for _, tc := range tests {
		got := ""
		if o := parseOverrides([]byte(tc.file)).lookup("app.example.org.", "primary", addr); o != nil {
			got = o.state.String()
		}
		if got != tc.want {
			t.Errorf("%q: %q in force, want %q", tc.file, got, tc.want)
		}
	}
	var none *overrideSet
	if none.lookup("app.example.org.", "primary", addr) != nil || none.poolOverride("app.example.org.", "primary") != nil || none.hasPoolOverride("app.example.org.") {
		t.Error("a nil set has overrides")
	}
}

// TestOverrideAnswers checks what each state does to the answers, against
// what the probes alone would give.
func TestOverrideAnswers(t *testing.T) {
	const corefile = `failover app.example.org other.example.org {
	primary   192.0.2.1 192.0.2.2
	secondary 198.51.100.1
	pool      dr 203.0.113.1
	check     tcp://:80
	min_healthy primary 2
}`
	tests := []struct {
		name      string
		overrides string
		down      []string // endpoints the probes judge down
		want      string   // the A answer of app.example.org, then its pool and reason
		otherPool string   // the pool other.example.org answers from
	}{
		{"no override", "", nil, "192.0.2.1 192.0.2.2 primary healthy", "primary"},
		{"endpoint down takes the pool under min_healthy", "192.0.2.1 down", nil, "198.51.100.1 secondary failover", "secondary"},
		{"pool down", "app.example.org/primary down drill", nil, "198.51.100.1 secondary failover", "primary"},
		{"pool drained", "app.example.org/primary drain", nil, "198.51.100.1 secondary failover", "primary"},
		{"endpoint up beats a failed probe", "192.0.2.1 up", []string{"192.0.2.1"}, "192.0.2.1 192.0.2.2 primary healthy", "primary"},
		{"pool up", "app.example.org/secondary up\napp.example.org/primary down", []string{"198.51.100.1"}, "198.51.100.1 secondary failover", "primary"},
		{"down beats up", "app.example.org/primary up\n192.0.2.2 down", nil, "198.51.100.1 secondary failover", "secondary"},
		{"other name's pool", "other.example.org/primary down", nil, "192.0.2.1 192.0.2.2 primary healthy", "secondary"},
		// Every pool down: all_down primary answers the primary, down or
		// not, but never a drained endpoint, nor a drained pool.
		{"all down", "app.example.org/primary down\napp.example.org/secondary down\napp.example.org/dr down", nil, "192.0.2.1 192.0.2.2 primary all_down primary", "primary"},
		{"all down, one drained", "192.0.2.1 drain\napp.example.org/secondary down\napp.example.org/dr down", nil, "192.0.2.2 primary all_down primary", "secondary"},
		{"all down, primary drained", "app.example.org/primary drain\napp.example.org/secondary down\napp.example.org/dr down", nil, "198.51.100.1 secondary all_down primary", "primary"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFailover(t, corefile, nil)
			src := &overrideSource{path: "overrides"}
			src.set.Store(parseOverrides([]byte(tc.overrides)))
			f.blocks[0].overrides = src
			snap := buildSnapshot(f.blocks, func(m member) bool { return !slices.Contains(tc.down, m.addr.String()) })
			c := snap.lookup("app.example.org.", dns.TypeA)
			var got []string
			for _, ip := range c.ips {
				got = append(got, ip.String())
			}
			if got := strings.Join(append(got, c.pool, c.reason), " "); got != tc.want {
				t.Errorf("answered %q, want %q", got, tc.want)
			}
			// A pool override is of one name; an address override of all.
			if other := snap.lookup("other.example.org.", dns.TypeA); other.pool != tc.otherPool {
				t.Errorf("other.example.org answered from %s, want %s", other.pool, tc.otherPool)
			}
		})
	}
}

// FuzzParseOverrides feeds the override file parser arbitrary content: every
// line that says something is an override or a bad line, never both, never
// lost, and no panic.
func FuzzParseOverrides(f *testing.F) {
	f.Add("192.0.2.10 down maintenance # until noon\napp.example.org/primary drain\n")
	f.Add("2001:db8::1 UP\n\n# comment\nbad line here\n")
	f.Fuzz(func(t *testing.T, content string) {
		set := parseOverrides([]byte(content))
		said := 0
		for _, line := range strings.Split(content, "\n") {
			text, _, _ := strings.Cut(line, "#")
			if strings.TrimSpace(text) != "" {
				said++
			}
		}
		if got := len(set.all) + len(set.bad); got != said && len(content) < maxOverrideFile {
			t.Errorf("%d lines say something, %d overrides and %d bad lines", said, len(set.all), len(set.bad))
		}
		for _, o := range set.all {
			if o.state < overrideUp || o.state > overrideDrain || o.addr.IsValid() == (o.pool != poolTarget{}) {
				t.Errorf("invalid override %+v", *o)
			}
		}
	})
}
