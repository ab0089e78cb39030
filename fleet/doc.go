// Package fleet lets the replicas of a DNS service share the health of their
// endpoints through the Kubernetes API, and nothing else: each replica
// publishes its own observations in a coordination.k8s.io/v1 Lease of its own
// (GROUP-IDENTITY, labelled with the group), and follows the group's Leases
// with an informer. There is no leader and no other store.
//
// Each endpoint is probed by a few live replicas chosen by rendezvous hashing
// (probers), and its shared verdict is down when more than a quorum of the
// fresh observations say so, so a replica with a broken path cannot fail a
// name over for every client. A replica whose own Lease cannot be renewed
// decides alone until it can again.
//
// Freshness is measured by this replica's own monotonic clock from the moment
// it saw another replica's Lease change through the watch: clocks of other
// machines are compared with ours only at the first sight of a Lease, to
// skip replicas long dead.
package fleet

import clog "github.com/coredns/coredns/plugin/pkg/log"

var log = clog.NewWithPlugin("failover")
