// Package integration tests failover inside a real CoreDNS, started from a
// Corefile, against real health endpoints on loopback addresses. It is a package
// of its own so that the plugin's own test binary, which the fuzzer instruments,
// does not link every CoreDNS plugin.
package integration

import clog "github.com/coredns/coredns/plugin/pkg/log"

func init() { clog.Discard() }
