package failover

import (
	"strings"

	"github.com/miekg/dns"
)

// The names between a governed name and the apex of its zone exist too
// (empty non-terminals, RFC 8020): for app.eu.example.org in example.org,
// eu.example.org is NODATA for every type, never NXDOMAIN. A resolver that
// minimises its queries (RFC 9156, Unbound's default) asks eu.example.org
// first, and an NXDOMAIN there would deny every name below it.

// ancestorsOf returns the names strictly between each of the blocks' names
// and its server block's zone that failover does not govern itself, with the
// position of a governed name below each.
func ancestorsOf(blocks []*block, names map[string]int) map[string]int {
	ancestors := map[string]int{}
	for _, b := range blocks {
		for _, name := range b.names {
			zone := b.zones.Matches(name)
			if zone == "" {
				zone = "."
			}
			for off, end := dns.NextLabel(name, 0); !end; off, end = dns.NextLabel(name, off) {
				parent := name[off:]
				if strings.EqualFold(parent, zone) || !dns.IsSubDomain(zone, parent) {
					break
				}
				if _, governed := names[parent]; governed {
					continue
				}
				if _, seen := ancestors[parent]; !seen {
					ancestors[parent] = names[name]
				}
			}
		}
	}
	return ancestors
}

// exists returns the decision of name when failover governs it or a name
// below it, else nil. It does not allocate, whatever the case of name.
func (s *snapshot) exists(name string) *decision {
	if d := s.find(name); d != nil {
		return d
	}
	if i, ok := findFold(s.index.ancestors, name); ok {
		return s.decisions[i]
	}
	return nil
}
