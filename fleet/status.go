package fleet

import (
	"slices"
	"strings"
	"time"

	"github.com/failover-dns/failover/healthcheck"
)

// GroupStatus is a group as the status page shows it, under "fleet" of each
// block that joins it.
type GroupStatus struct {
	Group    string          `json:"group"`    // NAMESPACE/GROUP
	Identity string          `json:"identity"` // this replica's
	Mode     string          `json:"mode"`     // shared, or alone
	Since    string          `json:"since"`    // when the mode last changed, RFC 3339
	Probers  int             `json:"probers"`
	Quorum   int             `json:"quorum"`
	Replicas []ReplicaStatus `json:"replicas"` // the other replicas whose Leases this one knows
	Lease    LeaseStatus     `json:"lease"`    // this replica's
}

// ReplicaStatus is another replica of the group.
type ReplicaStatus struct {
	Identity     string `json:"identity"`
	Fresh        bool   `json:"fresh"`        // its Lease was renewed within its duration: it counts
	Observations int    `json:"observations"` // endpoints its Lease carries a verdict of
}

// LeaseStatus is this replica's Lease.
type LeaseStatus struct {
	Renewed string `json:"renewed,omitempty"` // last successful write, RFC 3339; none before
	Writes  int64  `json:"writes"`            // successful writes since the group started in the process
	Bytes   int    `json:"bytes"`             // its size at the last write (protobuf)
	Error   string `json:"error,omitempty"`   // why the last write failed
}

// EndpointStatus is one endpoint in its group, under "fleet" of each member.
type EndpointStatus struct {
	Local   string   `json:"local"`   // this replica's own verdict: up, down, or unknown (not probed recently)
	Shared  string   `json:"shared"`  // the verdict served: the group's, or the local one while alone
	Up      int      `json:"up"`      // votes, this replica's included, at the last decision
	Down    int      `json:"down"`    //
	Probers []string `json:"probers"` // the replicas ranked to probe it
	Probing bool     `json:"probing"` // this replica probes it
}

// Modes of a group.
const (
	ModeShared = "shared"
	ModeAlone  = "alone"
)

// Status is m's group now.
func (m *Membership) Status() GroupStatus {
	g := m.g
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	cfg := g.config()
	st := GroupStatus{
		Group: g.name, Identity: g.identity, Mode: ModeAlone, Since: g.since.UTC().Format(time.RFC3339),
		Probers: cfg.Probers, Quorum: cfg.Quorum, Replicas: []ReplicaStatus{},
		Lease: LeaseStatus{Writes: g.writes, Bytes: g.bytes, Error: g.writeErr},
	}
	if g.shared {
		st.Mode = ModeShared
	}
	if !g.renewed.IsZero() {
		st.Lease.Renewed = g.renewed.UTC().Format(time.RFC3339)
	}
	for _, p := range g.peers {
		st.Replicas = append(st.Replicas, ReplicaStatus{Identity: p.identity, Fresh: p.fresh(now), Observations: len(p.obs)})
	}
	slices.SortFunc(st.Replicas, func(a, b ReplicaStatus) int { return strings.Compare(a.Identity, b.Identity) })
	return st
}

// Endpoint is e, an endpoint of m, in its group now.
func (m *Membership) Endpoint(e *healthcheck.Endpoint) EndpointStatus {
	st := EndpointStatus{Local: "unknown", Shared: upDown(e.Healthy()), Probing: !e.Delegated(), Probers: []string{}}
	now := time.Now()
	if up, ok := localVerdict([]*healthcheck.Endpoint{e}, now); ok {
		st.Local = upDown(up)
	}
	g := m.g
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.tracked[e.ID()]
	if t != nil {
		st.Up, st.Down = t.votes.up, t.votes.down
	}
	if g.shared && t != nil {
		st.Probers = top(t.id, g.live, g.config().Probers)
	} else {
		st.Probers = append(st.Probers, g.identity)
	}
	return st
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}
