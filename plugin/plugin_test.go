package plugin

import (
	"slices"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
)

func TestFailoverRunsImmediatelyBeforeCache(t *testing.T) {
	i := slices.Index(dnsserver.Directives, Directive)
	if i < 0 || i+1 >= len(dnsserver.Directives) || dnsserver.Directives[i+1] != "cache" {
		t.Fatalf("failover is not immediately before cache: %v", dnsserver.Directives)
	}
	// dnssec signs after cache, so it signs before failover rewrites.
	if slices.Index(dnsserver.Directives, "dnssec") < i {
		t.Fatal("dnssec runs before failover")
	}
	if got := WithFailover(dnsserver.Directives); len(got) != len(dnsserver.Directives) {
		t.Fatal("failover inserted twice")
	}
}
