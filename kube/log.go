package kube

import clog "github.com/coredns/coredns/plugin/pkg/log"

// Lines read "plugin/failover: kubernetes ...": this package is part of the
// failover plugin for whoever reads CoreDNS's log.
var log = clog.NewWithPlugin("failover")
