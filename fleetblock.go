package failover

import (
	"strconv"
	"strings"

	"github.com/coredns/caddy"

	"github.com/failover-dns/failover/fleet"
	"github.com/failover-dns/failover/healthcheck"
)

// A block with `fleet NAMESPACE/GROUP` shares the probing and the verdicts
// of its endpoints with the other replicas of the group, through Leases in
// the Kubernetes API (package fleet). The plugin's part is small: the
// options, joining the group once the first probes have judged every
// endpoint, and leaving it on shutdown. The verdicts reach the answers as a
// probe's do: the fleet decides what the endpoints report as Healthy.

const (
	defaultProbers = fleet.DefaultProbers
	defaultQuorum  = fleet.DefaultQuorum
)

// fleetOptions are the fleet lines of one block, as read.
type fleetOptions struct {
	config fleet.Config
	line   int // of `fleet`
}

// fleetGroup reads `fleet NAMESPACE/GROUP`.
func (p *blockParser) fleetGroup(b *block) error {
	arg, err := p.oneArg()
	if err != nil {
		return p.c.Err("'fleet' takes NAMESPACE/GROUP: the replicas whose blocks name the same group share health")
	}
	ns, group, ok := strings.Cut(arg, "/")
	if !ok || ns == "" || group == "" || strings.Contains(group, "/") {
		return p.c.Errf("'fleet %s': want NAMESPACE/GROUP, as coredns-failover/coredns", arg)
	}
	b.fleet = &fleetOptions{line: p.c.Line(), config: fleet.Config{Namespace: ns, Group: group, Probers: defaultProbers, Quorum: defaultQuorum}}
	return nil
}

// probers reads `probers K`, kept until the block is settled.
func (p *blockParser) probers() error {
	n, err := p.count()
	if err != nil {
		return err
	}
	p.fleetProbers = n
	return nil
}

// quorum reads `quorum PERCENT%`.
func (p *blockParser) quorum() error {
	arg, err := p.oneArg()
	if err != nil {
		return p.c.Err("'quorum' takes a PERCENT, as 50%: an endpoint is down when more than that share of the replicas probing it see it down")
	}
	digits, ok := strings.CutSuffix(arg, "%")
	n, convErr := strconv.Atoi(digits)
	if !ok || convErr != nil || n < 0 || n > 99 {
		return p.c.Errf("'quorum %s': want a percentage from 0%% to 99%%, as 50%%", arg)
	}
	p.fleetQuorum = &n
	return nil
}

// settleFleet checks the fleet lines once the whole block is read.
func (p *blockParser) settleFleet(b *block) error {
	if b.fleet == nil {
		for _, option := range []string{"probers", "quorum"} {
			if line, ok := p.seen[option]; ok {
				return errAt(p.c, line, "'%s' applies only to a block with 'fleet NAMESPACE/GROUP'", option)
			}
		}
		return nil
	}
	c := &b.fleet.config
	if p.fleetProbers > 0 {
		c.Probers = p.fleetProbers
	}
	if p.fleetQuorum != nil {
		c.Quorum = *p.fleetQuorum
	}
	c.Source = b.source
	if err := c.Check(); err != nil {
		return errAt(p.c, b.fleet.line, "fleet %s/%s: %v", c.Namespace, c.Group, err)
	}
	if err := c.Source.Check(); err != nil {
		return errAt(p.c, b.fleet.line, "fleet %s/%s: the Kubernetes API (%s): %v", c.Namespace, c.Group, c.Source, err)
	}
	// The probed addresses of its Services are shared too, as they change.
	for _, s := range p.services {
		if s.probe != nil {
			s.fleet = c
		}
	}
	return nil
}

// checkFleets refuses two blocks of one server block that name the same
// group differently: the group has one publication in a process.
func (f *Failover) checkFleets(c *caddy.Controller) error {
	first := map[string]*block{}
	for _, b := range f.blocks {
		if b.fleet == nil {
			continue
		}
		cfg := b.fleet.config
		key := cfg.Namespace + "/" + cfg.Group
		other, ok := first[key]
		if !ok {
			first[key] = b
			continue
		}
		if oc := other.fleet.config; oc.Probers != cfg.Probers || oc.Quorum != cfg.Quorum || oc.Source != cfg.Source {
			return errAt(c, b.fleet.line, "fleet %s: its probers, quorum and kubeconfig must be those of the block at line %d, which names the same group", key, other.line)
		}
	}
	return nil
}

// blockEndpoints returns the endpoints of b's Corefile addresses, each once.
func blockEndpoints(b *block) []*healthcheck.Endpoint {
	var eps []*healthcheck.Endpoint
	seen := map[*healthcheck.Endpoint]bool{}
	for _, p := range b.pools {
		for _, m := range p.members {
			if m.endpoint != nil && !seen[m.endpoint] {
				seen[m.endpoint] = true
				eps = append(eps, m.endpoint)
			}
		}
	}
	return eps
}

// joinFleets has the blocks that name a group share their endpoints with
// it: one membership for all the blocks of the instance that name the group
// (checkFleets made them agree), so that a thousand blocks join and leave
// once, not a thousand times. Called after the first probes: the replica
// serves its own verdicts until it has joined (see package fleet).
func (f *Failover) joinFleets() {
	type joining struct {
		config    fleet.Config
		blocks    []*block
		endpoints []*healthcheck.Endpoint
		seen      map[*healthcheck.Endpoint]bool
	}
	var order []*joining
	byGroup := map[string]*joining{}
	for _, b := range f.blocks {
		if b.fleet == nil {
			continue
		}
		key := b.fleet.config.String()
		j := byGroup[key]
		if j == nil {
			j = &joining{config: b.fleet.config, seen: map[*healthcheck.Endpoint]bool{}}
			byGroup[key] = j
			order = append(order, j)
		}
		j.blocks = append(j.blocks, b)
		for _, e := range blockEndpoints(b) {
			if !j.seen[e] {
				j.seen[e] = true
				j.endpoints = append(j.endpoints, e)
			}
		}
	}
	for _, j := range order {
		m := fleet.Join(j.config, j.endpoints)
		for _, b := range j.blocks {
			b.membership.Store(m)
		}
	}
}

// leaveFleets undoes joinFleets, once the engine has stopped: what the
// endpoints serve no longer matters to this instance, and a shutdown logs
// no verdict handed back. The last instance of the process to leave a group
// deletes its Lease; a reload's new instance has joined by then, so a reload
// keeps it.
func (f *Failover) leaveFleets() {
	for _, b := range f.blocks {
		if m := b.membership.Load(); m != nil {
			m.Leave() // once per membership: Leave may be called again
		}
	}
}
