package failover

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/failover-dns/failover/fleet"
	"github.com/failover-dns/failover/healthcheck"
)

// startStatus makes f's blocks reported at their status addresses, listening
// on an address no running instance listens on yet. If one cannot be listened
// on, f is reported nowhere and the error names the address.
func (f *Failover) startStatus() error {
	for _, addr := range f.statusAddrs() {
		if err := joinStatus(addr, f); err != nil {
			f.stopStatus()
			return err
		}
	}
	return nil
}

// stopStatus stops reporting f's blocks; the last instance to leave an
// address closes its listener. It may be called more than once, and without
// startStatus.
func (f *Failover) stopStatus() { leaveStatus(f) }

// statusAddrs returns the status addresses of f's blocks, each once.
func (f *Failover) statusAddrs() []string {
	var addrs []string
	for _, b := range f.blocks {
		if b.status != "" && !slices.Contains(addrs, b.status) {
			addrs = append(addrs, b.status)
		}
	}
	return addrs
}

// The status document a status address serves. It is built from what queries
// read, without a lock: the snapshot, the endpoints' verdicts and the
// overrides in force. The answers and the pools' verdicts are the snapshot's,
// what queries get; the endpoints' states are read after it, and may be a
// probe newer.
type statusDoc struct {
	Generated     string               `json:"generated"`
	Names         []nameStatus         `json:"names"`
	OverrideFiles []overrideFileStatus `json:"override_files,omitempty"`
}

type nameStatus struct {
	Name   string                  `json:"name"`
	Server string                  `json:"server"` // the keys of its server block
	Answer map[string]answerStatus `json:"answer"` // by query type, for the families the name governs
	Pools  []poolStatus            `json:"pools"`
	Fleet  *fleet.GroupStatus      `json:"fleet,omitempty"` // of its block, once it has joined
}

type answerStatus struct {
	Pool      string      `json:"pool,omitempty"` // none under all_down servfail or nodata
	Reason    string      `json:"reason"`         // healthy, failover or all_down POLICY
	Addresses []string    `json:"addresses"`
	Rcode     string      `json:"rcode"`
	Why       string      `json:"why"`
	TTL       uint32      `json:"ttl"`               // the cap on the TTL of the answered records
	TTLWhy    string      `json:"ttl_why,omitempty"` // with ttl SECONDS MIN: steady, doubt, hold, all_down or changed
	Hold      *holdStatus `json:"hold,omitempty"`
	Order     string      `json:"order,omitempty"`   // random or latency: each query orders Addresses (order.go); latency: as the next query gets them
	Answers   int         `json:"answers,omitempty"` // answers N: at most N of Addresses a query
}

// holdStatus is a failback hold (failback.go).
type holdStatus struct {
	Pool       string `json:"pool"`        // held back: the answers return to it when the hold ends
	Since      string `json:"since"`       // when the hold started
	CleanSince string `json:"clean_since"` // since when the pool has been up without a failed probe
	Until      string `json:"until"`       // when the hold ends by itself, or "waiting for release"
	Release    string `json:"release"`     // the override file line that releases it now
}

type poolStatus struct {
	Name       string           `json:"name"`
	Up         bool             `json:"up"`
	Healthy    int              `json:"healthy"` // members counted healthy, overrides applied
	MinHealthy int              `json:"min_healthy"`
	Override   *overrideStatus  `json:"override,omitempty"` // of the whole pool, for this name
	Alerts     []alertStatus    `json:"alerts,omitempty"`   // in force, holding the whole pool down for this name
	Endpoints  []endpointStatus `json:"endpoints"`
	Services   []serviceStatus  `json:"services,omitempty"` // its Kubernetes Services
}

type endpointStatus struct {
	Address      string                `json:"address"`
	CheckAddress string                `json:"check_address,omitempty"` // where probes go, when not Address
	State        string                `json:"state"`                   // the probes' verdict: up, down, or unknown before the first
	Counted      string                `json:"counted"`                 // in answers, overrides applied: up, down or drained
	Since        string                `json:"since,omitempty"`         // when the verdict last changed
	LastProbe    *probeStatus          `json:"last_probe,omitempty"`
	RTT          *rttStatus            `json:"rtt,omitempty"`         // once a probe passed
	Weight       *int                  `json:"weight,omitempty"`      // in a block with weight lines
	Override     *overrideStatus       `json:"override,omitempty"`    // in force for this member: of its address or its pool
	Alerts       []alertStatus         `json:"alerts,omitempty"`      // in force for this member: of its address or its pool
	CountedWhy   string                `json:"counted_why,omitempty"` // "alert" when firing alerts count it down
	Service      string                `json:"service,omitempty"`     // the pool's Service that gives it: endpoints/NS/SVC or service/NS/SVC
	Kubernetes   string                `json:"kubernetes,omitempty"`  // what Kubernetes says of it: serving or not serving
	Fleet        *fleet.EndpointStatus `json:"fleet,omitempty"`       // how its fleet sees it: votes, probers, local and shared verdicts
}

type probeStatus struct {
	At        string  `json:"at"`
	Result    string  `json:"result"` // pass or fail
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

// rttStatus is the moving average that `order latency` orders by.
type rttStatus struct {
	AverageMS float64 `json:"average_ms"`
	Samples   int     `json:"samples"` // passed probes averaged
	Window    int     `json:"window"`  // at most this many: the last passed probes
}

type overrideStatus struct {
	Target string `json:"target"` // an address, or NAME/POOL
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	File   string `json:"file"`
	Line   int    `json:"line"`
}

type overrideFileStatus struct {
	File      string   `json:"file"`
	Overrides int      `json:"overrides"` // in force
	BadLines  []string `json:"bad_lines,omitempty"`
	Problem   string   `json:"problem,omitempty"` // why the last reading failed, or that the file is missing
}

// buildStatus reports the blocks of instances whose status address is addr;
// only name (lower case, fully qualified) unless it is "".
func buildStatus(instances []*Failover, addr, name string, now time.Time) *statusDoc {
	doc := &statusDoc{Generated: timestamp(now), Names: []nameStatus{}}
	files := map[string]overrideFileStatus{} // by path: blocks of several instances may read one file
	for _, f := range instances {
		snap := f.state.Load()
		for _, b := range f.blocks {
			if b.status != addr || (name != "" && !b.governs(name)) {
				continue
			}
			// One reading of the overrides for the whole block, as a snapshot is built.
			ov := b.overrides.current()
			for _, n := range b.names {
				if name == "" || n == name {
					doc.Names = append(doc.Names, b.nameStatus(n, f.server, snap.find(n), ov))
				}
			}
			if b.overrides != nil {
				files[b.overrides.path] = overrideFileStatusOf(b.overrides, ov)
			}
		}
	}
	slices.SortFunc(doc.Names, func(a, b nameStatus) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Server, b.Server))
	})
	for _, path := range slices.Sorted(maps.Keys(files)) {
		doc.OverrideFiles = append(doc.OverrideFiles, files[path])
	}
	return doc
}

// nameStatus reports name, which d decided and ov overrides.
func (b *block) nameStatus(name, server string, d *decision, ov *overrideSet) nameStatus {
	judge := judgeName(name, ov, d.alerts, probedHealthy)
	live := b.liveMembers()
	ns := nameStatus{Name: name, Server: server, Answer: map[string]answerStatus{}}
	membership := b.membership.Load()
	if membership != nil {
		gs := membership.Status()
		ns.Fleet = &gs
	}
	if d.a.governed {
		ns.Answer["A"] = b.answerStatus(&d.a, true, d.pools, name, ov, d.alerts)
	}
	if d.aaaa.governed {
		ns.Answer["AAAA"] = b.answerStatus(&d.aaaa, false, d.pools, name, ov, d.alerts)
	}
	for i := range b.pools {
		p := &b.pools[i]
		ps := poolStatus{
			Name:       p.name,
			Up:         d.pools[i].up,
			Healthy:    d.pools[i].healthy,
			MinHealthy: max(p.minHealthy, 1),
			Override:   b.overrideStatus(ov.poolOverride(name, p.name)),
			Alerts:     alertsStatus(d.alerts.poolAlerts(name, p.name)),
			Endpoints:  make([]endpointStatus, 0, len(live[i])),
			Services:   servicesStatus(p.services),
		}
		for _, m := range live[i] {
			es := b.endpointStatus(m, judge(p, m))
			if membership != nil && m.endpoint != nil && m.source == nil {
				fs := membership.Endpoint(m.endpoint)
				es.Fleet = &fs
			}
			ps.Endpoints = append(ps.Endpoints, es)
		}
		ns.Pools = append(ns.Pools, ps)
	}
	return ns
}

func (b *block) answerStatus(c *choice, ipv4 bool, verdicts []poolVerdict, name string, ov *overrideSet, av *alertView) answerStatus {
	a := answerStatus{Pool: c.pool, Reason: c.reason, Addresses: make([]string, 0, len(c.ips)), Rcode: dns.RcodeToString[c.rcode], Answers: c.answers}
	ips := c.ips
	if c.order != orderConfig {
		a.Order = c.order.String()
	}
	if c.order == orderLatency && len(c.endpoints) > 0 {
		ips = c.fastest(nil)
	}
	for _, ip := range ips {
		a.Addresses = append(a.Addresses, ip.String())
	}
	a.Why = b.why(c, ipv4, verdicts, name, ov, av)
	a.TTL, a.TTLWhy = c.ttl, c.ttlWhy
	if h := c.hold; h != nil {
		a.Hold = &holdStatus{Pool: b.pools[h.from].name, Since: timestamp(h.since), CleanSince: timestamp(h.clean),
			Until: "waiting for release", Release: h.releaseLine(b, name)}
		if !b.failback.manual {
			a.Hold.Until = timestamp(h.until(b.failback))
		}
	}
	return a
}

// endpointStatus reports member m, which counts as s says.
func (b *block) endpointStatus(m member, s memberState) endpointStatus {
	e := m.endpoint
	es := endpointStatus{Address: m.addr.String(), State: "unknown", Counted: "down", Override: b.overrideStatus(s.override),
		Alerts: alertsStatus(s.alerts), CountedWhy: s.countedWhy()}
	if m.source != nil {
		es.Service, es.Kubernetes = m.source.String(), "not serving"
		if m.serving {
			es.Kubernetes = "serving"
		}
		if e == nil && !m.unprobed {
			es.State = "not probed" // Kubernetes alone judges it
		}
	}
	switch {
	case m.checkPort != 0:
		es.CheckAddress = netip.AddrPortFrom(m.checkAddr, m.checkPort).String()
	case m.checkAddr != m.addr:
		es.CheckAddress = m.checkAddr.String()
	}
	switch {
	case e == nil || !e.Probed():
	case e.Healthy():
		es.State = "up"
	default:
		es.State = "down"
	}
	if b.weighted {
		w := m.shareOf()
		if m.unanswered {
			w = 0
		}
		es.Weight = &w
	}
	switch {
	case s.drained:
		es.Counted = "drained"
	case s.healthy:
		es.Counted = "up"
	}
	if e == nil {
		return es
	}
	if since := e.Since(); !since.IsZero() {
		es.Since = timestamp(since)
	}
	if r := e.LastProbe(); r != nil {
		es.LastProbe = &probeStatus{At: timestamp(r.At), Result: "pass", LatencyMS: float64(r.Took.Microseconds()) / 1000, Error: r.Reason}
		if !r.Passed {
			es.LastProbe.Result = "fail"
		}
	}
	if avg, samples := e.RTT(); samples > 0 {
		es.RTT = &rttStatus{AverageMS: float64(avg.Microseconds()) / 1000, Samples: samples, Window: healthcheck.RTTWindow}
	}
	return es
}

// overrideStatus reports o, a line of b's override file; nil for none.
func (b *block) overrideStatus(o *override) *overrideStatus {
	if o == nil {
		return nil
	}
	return &overrideStatus{Target: o.target, State: o.state.String(), Reason: o.reason, File: b.overrides.path, Line: o.line}
}

// overrideFileStatusOf reports the file of src, of which ov is the reading
// in force: nil when it is missing or not read yet.
func overrideFileStatusOf(src *overrideSource, ov *overrideSet) overrideFileStatus {
	s := overrideFileStatus{File: src.path, Problem: src.problem()}
	if ov != nil {
		s.Overrides = len(ov.all)
		for _, bad := range ov.bad {
			s.BadLines = append(s.BadLines, bad.String())
		}
	}
	return s
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
