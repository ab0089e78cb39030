// Package plugin plugs failover into a CoreDNS build, the way CoreDNS's own
// core/plugin package plugs in the standard plugins: importing it loads every
// standard plugin and failover, and places failover in the directive order.
package plugin

import (
	"slices"

	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/core/plugin" // every standard plugin of CoreDNS

	_ "github.com/failover-dns/failover" // registers the failover plugin
)

// Directive is failover's name in a Corefile.
const Directive = "failover"

// Before is the directive failover runs immediately before. Before cache, so
// that cached answers are rewritten with the health of the moment, not the one
// they were cached under.
const Before = "cache"

func init() {
	dnsserver.Directives = WithFailover(dnsserver.Directives)
}

// WithFailover returns directives with failover inserted immediately before
// cache. A list that already names failover (a build from plugin.cfg) is
// returned as it is.
func WithFailover(directives []string) []string {
	if slices.Contains(directives, Directive) {
		return directives
	}
	i := slices.Index(directives, Before)
	if i < 0 {
		panic("failover: CoreDNS has no '" + Before + "' directive to run before")
	}
	return slices.Insert(slices.Clone(directives), i, Directive)
}
