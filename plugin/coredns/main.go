// Command coredns is CoreDNS with every standard plugin and failover.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/failover-dns/failover/plugin" // standard plugins, failover, directive order
)

func main() {
	coremain.Run()
}
