package failover

import "testing"

// TestTakenBy checks the routing rule the reach check applies, on listeners a
// Corefile cannot easily give a test: a name stays reachable as long as one
// listener of its server block lets some query for it through.
func TestTakenBy(t *testing.T) {
	const l53, l54, tls = "dns://:53", "dns://:54", "tls://:853"
	s := func(block, key int, zone string, filtered bool, listeners ...string) *site {
		return &site{block: block, key: key, zone: zone, transport: "dns", port: "53", listeners: listeners, filtered: filtered}
	}
	tests := []struct {
		name  string
		sites []*site
		want  string // the taker's zone, "" for none
	}{
		{"more specific zone, same listener", []*site{s(0, 0, "example.org.", false, l53), s(1, 0, "sub.example.org.", false, l53)}, "sub.example.org."},
		{"more specific zone, other listener", []*site{s(0, 0, "example.org.", false, l53), s(1, 0, "sub.example.org.", false, l54)}, ""},
		{"shadowed on one listener of two", []*site{s(0, 0, "example.org.", false, l53), s(0, 1, "example.org.", false, l54), s(1, 0, "sub.example.org.", false, l53)}, ""},
		{"shadowed on both listeners", []*site{s(0, 0, "example.org.", false, l53, tls), s(1, 0, "sub.example.org.", false, l53), s(2, 0, "app.sub.example.org.", false, tls)}, "sub.example.org."},
		{"more specific zone in a view", []*site{s(0, 0, "example.org.", false, l53), s(1, 0, "sub.example.org.", true, l53)}, ""},
		{"a zone of the same block", []*site{s(0, 0, "example.org.", false, l53), s(0, 1, "sub.example.org.", false, l53)}, ""},
		{"a sibling zone", []*site{s(0, 0, "example.org.", false, l53), s(1, 0, "other.example.org.", false, l53)}, ""},
		{"a less specific zone", []*site{s(0, 0, "sub.example.org.", false, l53), s(1, 0, "example.org.", false, l53)}, ""},
		{"same zone, ours in a view, declared first", []*site{s(0, 0, "example.org.", true, l53), s(1, 0, "example.org.", false, l53)}, ""},
		{"same zone, ours in a view, declared after", []*site{s(1, 0, "example.org.", true, l53), s(0, 0, "example.org.", false, l53)}, "example.org."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ours := tc.sites[0].block
			got := takenBy(tc.sites, ours, "app.sub.example.org.")
			if (got == nil) != (tc.want == "") || got != nil && got.zone != tc.want {
				t.Errorf("taken by %v, want %q", got, tc.want)
			}
		})
	}
}
