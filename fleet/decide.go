package fleet

import (
	"slices"
	"time"

	"github.com/failover-dns/failover/healthcheck"
)

// decideLoop runs a decision round after every change: a Lease of the group
// written or deleted, a local verdict changed, a write of this replica's
// Lease, a member joined or left; and when a Lease's freshness runs out.
func (g *group) decideLoop() {
	defer g.running.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := g.decide()
		timer.Reset(time.Until(next))
		select {
		case <-g.ctx.Done():
			return
		case <-g.poke:
		case <-timer.C:
		}
	}
}

// syncPoll is how often a replica whose Lease is written checks whether the
// informer has synced, to share.
const syncPoll = 100 * time.Millisecond

// step is what a decision round does to the endpoints of one ID, outside
// the group's lock: the endpoints' callbacks reach the plugin.
type step struct {
	eps     []*healthcheck.Endpoint
	probe   bool
	alone   bool // each endpoint serves its own local verdict
	decide  bool // the shared verdict, when there are votes
	healthy bool
	votes   tally   // this replica's, when it probes, and the fresh observations of the others
	local   verdict // this replica's own recent one, if any
}

// verdict is a local verdict, or its absence: not probed here recently.
type verdict int8

const (
	noVerdict verdict = iota
	verdictDown
	verdictUp
)

func verdictOf(up bool) verdict {
	if up {
		return verdictUp
	}
	return verdictDown
}

// decide is one decision round: the mode, who probes what, and the shared
// verdicts. It returns when the next round is due at the latest.
func (g *group) decide() (next time.Time) {
	now := time.Now()
	g.mu.Lock()
	cfg := g.config()
	selfLive := g.updateMode(now)
	fresh, next := g.updateLive(now, selfLive)
	steps := make([]step, 0, len(g.tracked))
	for _, t := range g.tracked {
		s := g.decideOne(t, fresh, cfg, now)
		t.probing, t.votes = s.probe, s.votes
		t.series.update(s.votes, s.probe, s.local)
		steps = append(steps, s)
	}
	replicasGauge.WithLabelValues(g.name).Set(float64(max(len(g.live), 1)))
	alone := 1.0
	if g.shared {
		alone = 0
	}
	aloneGauge.WithLabelValues(g.name).Set(alone)
	g.mu.Unlock()

	for _, s := range steps {
		s.apply()
	}
	return next
}

// updateMode goes alone once this replica's Lease has gone unrenewed for its
// duration, and shares again once it is written and the group's Leases are
// read; it logs each change once. It reports whether this replica counts as
// live. Under mu.
func (g *group) updateMode(now time.Time) (selfLive bool) {
	selfLive = !g.renewed.IsZero() && now.Sub(g.renewed) < g.duration
	ready := g.synced != nil && g.synced.HasSynced() && g.listOK
	switch {
	case g.shared && !selfLive:
		g.shared, g.since = false, now
		log.Warningf("fleet %s: this replica's Lease has not been renewed for %s (%s): it probes every endpoint and decides alone",
			g.name, g.duration, orUnknown(g.writeErr))
	case !g.shared && selfLive && ready:
		g.shared, g.since = true, now
		log.Infof("fleet %s: sharing observations as %s, Lease %s/%s", g.name, g.identity, g.key.namespace, g.lease)
	}
	return selfLive
}

// updateLive sets the live set: this replica while live, and the others
// whose Leases are fresh, which it returns. next is when the live set or
// the mode changes next at the latest, time passing alone. Under mu.
func (g *group) updateLive(now time.Time, selfLive bool) (fresh []*peer, next time.Time) {
	next = now.Add(time.Hour)
	switch {
	case g.shared:
		next = g.renewed.Add(g.duration)
	case selfLive:
		next = now.Add(syncPoll) // waiting for the informer
	}
	live := []string{}
	if selfLive {
		live = append(live, g.identity)
	}
	for _, p := range g.peers {
		if p.fresh(now) {
			fresh = append(fresh, p)
			live = append(live, p.identity)
			if end := p.seen.Add(p.duration); end.Before(next) {
				next = end
			}
		}
	}
	slices.Sort(live)
	if !slices.Equal(live, g.live) {
		g.liveGen++
		g.live = live
	}
	return fresh, next
}

// decideOne decides whether this replica probes t, and t's verdict. Under mu.
func (g *group) decideOne(t *tracked, fresh []*peer, cfg Config, now time.Time) step {
	s := step{eps: t.eps, probe: true}
	if !g.shared {
		s.alone = true
		if up, ok := localVerdict(t.eps, now); ok {
			s.votes.add(up)
			s.local = verdictOf(up)
		}
		return s
	}
	observed := false
	for _, p := range fresh {
		if up, ok := find(p.obs, t.hash); ok {
			observed = true
			s.votes.add(up)
		}
	}
	// No gap: an endpoint nobody else has observed lately is probed here,
	// whatever its rank.
	s.probe = !observed || g.ranksTop(t, cfg.Probers)
	if s.probe {
		if up, ok := localVerdict(t.eps, now); ok {
			s.votes.add(up)
			s.local = verdictOf(up)
		}
	}
	if s.votes.total() > 0 {
		s.decide = true
		s.healthy = s.votes.healthy(cfg.Quorum)
	}
	return s
}

// ranksTop reports whether this replica is among the probers of t. Under mu.
func (g *group) ranksTop(t *tracked, probers int) bool {
	if t.ranked.gen != g.liveGen+1 || t.ranked.probers != probers {
		t.ranked = ranking{gen: g.liveGen + 1, probers: probers, top: inTop(t.prefix, g.identity, g.live, probers)}
	}
	return t.ranked.top
}

// apply steers the endpoints of one ID as decided.
func (s step) apply() {
	for _, e := range s.eps {
		wasDelegated := e.Delegated()
		if wasDelegated == s.probe {
			e.Delegate(!s.probe)
		}
		switch {
		case s.alone:
			// The local verdict of an endpoint just taken back is stale:
			// its first probe, at once, tells (and calls localChanged).
			if up, probed := e.Local(); probed && !wasDelegated && e.Healthy() != up {
				e.Decide(up, "this replica decides alone")
			}
		case s.decide && e.Healthy() != s.healthy:
			e.Decide(s.healthy, s.votes.why(s.healthy))
		}
	}
}

func (t *tally) add(up bool) {
	if up {
		t.up++
	} else {
		t.down++
	}
}

// localVerdict is this replica's own verdict of an endpoint, from the one of
// eps (the endpoints of one ID) probed last, if its last probe is recent: a
// verdict that no probe has confirmed for longer than its thresholds allow
// is no observation.
func localVerdict(eps []*healthcheck.Endpoint, now time.Time) (up, ok bool) {
	var last time.Time
	for _, e := range eps {
		healthy, probed := e.Local()
		p := e.LastProbe()
		if !probed || p == nil || e.Delegated() {
			continue
		}
		s := e.Settings
		window := time.Duration(s.Fall)*s.Interval + s.Timeout + s.Interval
		if now.Sub(p.At) > window || !p.At.After(last) {
			continue
		}
		last, up, ok = p.At, healthy, true
	}
	return up, ok
}

func orUnknown(s string) string {
	if s == "" {
		return "no write succeeded"
	}
	return s
}
