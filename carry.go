package failover

import (
	"fmt"
	"strings"
	"sync"
)

// A reload makes new instances, which start while the old ones still serve.
// The new instance of a server block takes over the decisions of the old
// one's blocks that govern the same names from the same pools under the same
// failback policy: a hold goes on through a reload, and so does the short TTL
// after a change. Another block starts afresh.

// serving are the instances that have published answers and not yet stopped.
var serving = struct {
	sync.Mutex
	instances map[*Failover]struct{}
}{instances: map[*Failover]struct{}{}}

func startServing(f *Failover) {
	serving.Lock()
	defer serving.Unlock()
	serving.instances[f] = struct{}{}
}

func stopServing(f *Failover) {
	serving.Lock()
	defer serving.Unlock()
	delete(serving.instances, f)
}

// carried returns, by block position, the decisions that a serving instance
// of f's server block made for a block that is the same as f's; nil for a
// block that has none.
func (f *Failover) carried() [][]*decision {
	serving.Lock()
	defer serving.Unlock()
	var carried [][]*decision
	var mine map[string]int // f's blocks by identity
	for old := range serving.instances {
		if old == f || old.server != f.server {
			continue
		}
		if mine == nil {
			mine = make(map[string]int, len(f.blocks))
			for i, b := range f.blocks {
				mine[b.identity()] = i
			}
			carried = make([][]*decision, len(f.blocks))
		}
		snap := old.state.Load()
		for j, ob := range old.blocks {
			if i, ok := mine[ob.identity()]; ok {
				carried[i] = snap.blockDecisions(j, ob)
			}
		}
	}
	return carried
}

// identity is what a block must keep for its decisions to carry over a
// reload: its names, its pools and their members, its failback policy.
func (b *block) identity() string {
	var s strings.Builder
	fmt.Fprintln(&s, b.names, b.failback)
	for _, p := range b.pools {
		fmt.Fprint(&s, p.name)
		for _, m := range p.members {
			fmt.Fprint(&s, " ", m.addr)
		}
		for _, svc := range p.services {
			fmt.Fprint(&s, " ", svc)
		}
		fmt.Fprintln(&s)
	}
	return s.String()
}
