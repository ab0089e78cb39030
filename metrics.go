package failover

import (
	"strings"
	"sync"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/failover-dns/failover/healthcheck"
)

const subsystem = "failover"

var (
	endpointHealthy = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: subsystem, Name: "endpoint_healthy",
		Help: "Whether an endpoint of a governed name's pool is healthy (1) or down (0).",
	}, []string{"name", "pool", "address"})
	poolUp = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: subsystem, Name: "pool_up",
		Help: "Whether a pool of a governed name is up (1): at least min_healthy of its endpoints healthy, overrides applied.",
	}, []string{"name", "pool"})
	overrideActive = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: subsystem, Name: "override",
		Help: "1 for each override in force, by governed name, pool, address (empty for a whole pool) and state.",
	}, []string{"name", "pool", "address", "state"})
	overrideBadLines = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: subsystem, Name: "override_bad_lines",
		Help: "Lines of an override file ignored at its last reading.",
	}, []string{"file"})
	activePool = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: subsystem, Name: "active_pool",
		Help: "1 for the pool a governed name answers from, per query type; 0 for its other pools.",
	}, []string{"name", "type", "pool"})
	failovers = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: subsystem, Name: "failovers_total",
		Help: "Times a governed name moved to a later pool, per query type.",
	}, []string{"name", "type"})
	failbacks = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: subsystem, Name: "failbacks_total",
		Help: "Times a governed name moved back to an earlier pool, per query type.",
	}, []string{"name", "type"})
	probes = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: subsystem, Name: "probes_total",
		Help: "Probes finished, by result (pass or fail) and the class of a failure (timeout, refused, reset, closed, unreachable, malformed, tls, status, body, redirect, rcode, dns, grpc, other).",
	}, []string{"result", "reason"})
	probeDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace, Subsystem: subsystem, Name: "probe_duration_seconds",
		Help:    "How long probes took, by result.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms to 4 s
	}, []string{"result"})
	transitions = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: subsystem, Name: "endpoint_transitions_total",
		Help: "Changes of an endpoint's verdict, by the new state (up or down).",
	}, []string{"to"})
	answers = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: subsystem, Name: "answers_total",
		Help: "Answers failover decided, per server, governed name, pool and reason (healthy, failover, all_down POLICY).",
	}, []string{"server", "name", "pool", "reason"})
	alertNotifications = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: subsystem, Name: "alert_notifications_total",
		Help: "Notifications of Alertmanager's webhook received at status addresses, by result (accepted, unauthorized, bad_request, too_large, full).",
	}, []string{"result"})
	alertHeld = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: subsystem, Name: "alert_held",
		Help: "1 for each target that firing alerts hold down, by governed name, pool and address (empty for a whole pool).",
	}, []string{"name", "pool", "address"})
	heldNames = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: subsystem, Name: "held_names",
		Help: "Governed names whose answers a failback hold keeps on a later pool (failback DURATION or manual).",
	})
)

// answerCounter is the answers counter of one server and choice.
type answerCounter struct {
	server  string
	counter prometheus.Counter
}

// countAnswer counts an answer decided with c on server.
func countAnswer(server string, c *choice) {
	cached := c.counter.Load()
	if cached == nil || cached.server != server {
		cached = &answerCounter{server, answers.WithLabelValues(server, c.name, c.pool, c.reason)}
		c.counter.Store(cached)
	}
	cached.counter.Inc()
}

// recordProbe counts one probe result. The reason label is the failure's
// class, from a closed set: the full text, which can quote addresses, ports
// and what the endpoint sent, goes to the log and the status endpoint.
func recordProbe(_ *healthcheck.Endpoint, err error, took time.Duration) {
	result, reason := "pass", ""
	if err != nil {
		result, reason = "fail", healthcheck.Class(err)
	}
	probes.WithLabelValues(result, reason).Inc()
	probeDuration.WithLabelValues(result).Observe(took.Seconds())
}

// recordTransition counts a change of an endpoint's verdict.
func recordTransition(e *healthcheck.Endpoint) {
	to := "down"
	if e.Healthy() {
		to = "up"
	}
	transitions.WithLabelValues(to).Inc()
}

// A reload starts the new instance before it stops the old one, and both set
// the series of the names and endpoints they share. Each series counts the
// running instances that own it; the last one to stop deletes it, so the
// series of endpoints and names that left the configuration go away.
var owned = struct {
	sync.Mutex
	refs map[string]int // metric name and label values, joined by NUL
}{refs: map[string]int{}}

// series is one labelled series an instance owns.
type series struct {
	vec    *prometheus.MetricVec
	metric string
	labels []string
}

func (s series) key() string { return s.metric + "\x00" + strings.Join(s.labels, "\x00") }

// ownedSeries lists the series of blocks: the gauges of each endpoint and
// name, and the counters of each name.
func ownedSeries(blocks []*block) []series {
	var all []series
	for _, b := range blocks {
		for _, name := range b.names {
			for _, p := range b.pools {
				for _, m := range p.members {
					all = append(all, series{endpointHealthy.MetricVec, "endpoint_healthy", []string{name, p.name, m.addr.String()}})
				}
				all = append(all, series{poolUp.MetricVec, "pool_up", []string{name, p.name}})
				for _, qtype := range []string{"A", "AAAA"} {
					all = append(all, series{activePool.MetricVec, "active_pool", []string{name, qtype, p.name}})
				}
			}
			for _, qtype := range []string{"A", "AAAA"} {
				all = append(all, series{failovers.MetricVec, "failovers_total", []string{name, qtype}},
					series{failbacks.MetricVec, "failbacks_total", []string{name, qtype}})
			}
		}
		if b.overrides != nil {
			all = append(all, series{overrideBadLines.MetricVec, "override_bad_lines", []string{b.overrides.path}})
		}
	}
	return all
}

// overrideSeries lists the series of the overrides in force in blocks: one
// per overridden pool of a name, and one per name and pool an overridden
// address is a member of.
func overrideSeries(blocks []*block) []series {
	var all []series
	for _, b := range blocks {
		ov := b.overrides.current()
		if ov == nil {
			continue
		}
		for _, name := range b.names {
			for _, p := range b.pools {
				if o := ov.poolOverride(name, p.name); o != nil {
					all = append(all, series{overrideActive.MetricVec, "override", []string{name, p.name, "", o.state.String()}})
				}
				for _, m := range p.members {
					if o := ov.addrs[m.addr]; o != nil {
						all = append(all, series{overrideActive.MetricVec, "override", []string{name, p.name, m.addr.String(), o.state.String()}})
					}
				}
			}
		}
	}
	return all
}

// setOverrideSeries makes the override series of this instance next, in
// place of prev: each is set to 1, and those no running instance has any
// more are deleted.
func setOverrideSeries(prev, next []series) {
	acquireSeries(next)
	for _, s := range next {
		overrideActive.WithLabelValues(s.labels...).Set(1)
	}
	releaseSeries(prev)
}

func acquireSeries(all []series) {
	owned.Lock()
	defer owned.Unlock()
	for _, s := range all {
		owned.refs[s.key()]++
	}
}

// releaseSeries drops the series no running instance owns any more. The
// answers of a name that left go too.
func releaseSeries(all []series) {
	owned.Lock()
	defer owned.Unlock()
	for _, s := range all {
		k := s.key()
		if owned.refs[k]--; owned.refs[k] > 0 {
			continue
		}
		delete(owned.refs, k)
		s.vec.DeleteLabelValues(s.labels...)
		if s.metric == "failovers_total" {
			answers.DeletePartialMatch(prometheus.Labels{"name": s.labels[0]})
		}
	}
}
