package fleet

import (
	"slices"
	"sync"

	"github.com/failover-dns/failover/healthcheck"
	"github.com/failover-dns/failover/kube"
)

// The registry holds every group joined in the process, once, whatever
// blocks and instances name it: the blocks of one Corefile share one
// publication, and on a reload the new instance joins before the old one
// leaves, so the group, its Lease and its knowledge of the other replicas
// carry over. The last Leave stops the group and deletes its Lease.
//
// It is the package's only mutable state.
var groups = registry{groups: map[groupKey]*group{}}

type registry struct {
	mu     sync.Mutex
	groups map[groupKey]*group
}

type groupKey struct {
	namespace, group string
	source           kube.Source
}

// Membership is one block's part in a group: its endpoints, steered by the
// group from Join to Leave.
type Membership struct {
	g         *group
	config    Config
	endpoints []*healthcheck.Endpoint
	leave     sync.Once
	onPushed  onPushedFunc // pushed.go
}

// Join makes endpoints, already started by their engine, part of c's group:
// the group decides what they serve, and which of them this replica probes.
// The first Join of a group in the process starts it: its Lease is written,
// and its Leases read, in the background; until both work, the replica
// decides alone. Join never waits for the API server.
func Join(c Config, endpoints []*healthcheck.Endpoint) *Membership {
	groups.mu.Lock()
	defer groups.mu.Unlock()
	k := groupKey{c.Namespace, c.Group, c.Source}
	g := groups.groups[k]
	first := g == nil
	if first {
		g = newGroup(k, c)
		groups.groups[k] = g
	}
	m := &Membership{g: g, config: c, endpoints: slices.Clone(endpoints)}
	g.add(m)
	for _, e := range m.endpoints {
		e.Steer(g.localChanged)
	}
	if first {
		g.start()
	}
	g.changed()
	return m
}

// Leave ends m: its endpoints are no longer steered by the group (as the
// engine that probes them still runs, they are judged by their own probes
// again). The last Leave of the group in the process stops it and deletes
// its Lease, waiting at most a few seconds for the API server. Leave may be
// called more than once.
func (m *Membership) Leave() {
	m.leave.Do(func() {
		groups.mu.Lock()
		defer groups.mu.Unlock()
		g := m.g
		if last := g.remove(m); last {
			delete(groups.groups, g.key)
			// Stopped first: no decision round steers the endpoints after
			// they are given back.
			g.stop()
		} else {
			g.changed()
		}
		for _, e := range m.endpoints {
			e.Unsteer()
		}
	})
}
