package fleet

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The group label is NAMESPACE/GROUP and the endpoint label the endpoint's
// ID: both come from the Corefile, a closed set. The series of a group go
// when the last block naming it leaves; those of an endpoint when the group
// stops tracking it.
var (
	replicasGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "failover", Name: "fleet_replicas",
		Help: "Live replicas of a fleet group as this replica sees them: itself, while its Lease is renewed, and the others with a fresh Lease.",
	}, []string{"group"})
	aloneGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "failover", Name: "fleet_alone",
		Help: "1 while this replica probes every endpoint of a fleet group and decides alone, its Lease not renewed or the group's Leases not read; 0 while it shares.",
	}, []string{"group"})
	leaseWrites = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "failover", Name: "fleet_lease_writes_total",
		Help: "Successful writes of this replica's Lease in a fleet group.",
	}, []string{"group"})
	leaseBytes = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "failover", Name: "fleet_lease_bytes",
		Help: "Size of this replica's Lease at its last write, in bytes of its protobuf encoding.",
	}, []string{"group"})
	votesGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "failover", Name: "fleet_votes",
		Help: "Fresh observations of an endpoint in a fleet group, this replica's included, by what they see (up or down).",
	}, []string{"group", "endpoint", "vote"})
	localGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "failover", Name: "fleet_local_healthy",
		Help: "1 while this replica's own recent probes pass an endpoint of a fleet group, 0 while they fail it; absent while others probe it.",
	}, []string{"group", "endpoint"})
	probingGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "failover", Name: "fleet_probing",
		Help: "1 while this replica probes an endpoint of a fleet group, 0 while others do.",
	}, []string{"group", "endpoint"})
)

// endpointSeries are the series of one endpoint of a group, kept so that a
// decision round sets only those whose value changed.
type endpointSeries struct {
	group, id         string
	up, down, probing prometheus.Gauge
	last              struct {
		up, down, probing int
		local             verdict
	}
	set bool
}

func newEndpointSeries(group, id string) *endpointSeries {
	return &endpointSeries{
		group:   group,
		id:      id,
		up:      votesGauge.WithLabelValues(group, id, "up"),
		down:    votesGauge.WithLabelValues(group, id, "down"),
		probing: probingGauge.WithLabelValues(group, id),
	}
}

func (s *endpointSeries) update(t tally, probing bool, local verdict) {
	p := 0
	if probing {
		p = 1
	}
	if s.set && s.last.up == t.up && s.last.down == t.down && s.last.probing == p && s.last.local == local {
		return
	}
	s.set = true
	s.last.up, s.last.down, s.last.probing, s.last.local = t.up, t.down, p, local
	s.up.Set(float64(t.up))
	s.down.Set(float64(t.down))
	s.probing.Set(float64(p))
	switch local {
	case noVerdict:
		localGauge.DeleteLabelValues(s.group, s.id)
	case verdictUp:
		localGauge.WithLabelValues(s.group, s.id).Set(1)
	default:
		localGauge.WithLabelValues(s.group, s.id).Set(0)
	}
}

func deleteEndpointSeries(group, id string) {
	votesGauge.DeleteLabelValues(group, id, "up")
	votesGauge.DeleteLabelValues(group, id, "down")
	probingGauge.DeleteLabelValues(group, id)
	localGauge.DeleteLabelValues(group, id)
}

func deleteGroupSeries(group string) {
	replicasGauge.DeleteLabelValues(group)
	aloneGauge.DeleteLabelValues(group)
	leaseWrites.DeleteLabelValues(group)
	leaseBytes.DeleteLabelValues(group)
}
