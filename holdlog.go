package failover

import (
	"strings"
	"time"
)

// holds logs the start and end of each failback hold, a line each, and
// counts the names held in the held_names gauge. Owned by the goroutine that
// rebuilds the answers; held is what this instance adds to the gauge.
type holds struct{ held int }

// follow logs the holds that started or ended between prev and next, the
// decisions of block b, and counts them.
func (h *holds) follow(b *block, prev, next []*decision, now time.Time) {
	for j, name := range b.names {
		if prev[j] == next[j] {
			continue
		}
		before, after := prev[j].held(), next[j].held()
		switch {
		case before == nil && after != nil:
			h.add(1)
			log.Infof("%s %s holds back pool %s, which is up again: answers stay on pool %s %s",
				name, next[j].heldTypes(), b.pools[after.from].name, next[j].heldPool(), b.holdEnd(name, after))
		case before != nil && after == nil:
			h.add(-1)
			log.Infof("%s %s: the hold of pool %s ends after %s: %s", name, prev[j].heldTypes(),
				b.pools[before.from].name, now.Sub(before.since).Round(time.Second), next[j].unheld())
		}
	}
}

// count adds the holds of decisions, the first an instance publishes (which a
// reload may carry over).
func (h *holds) count(decisions []*decision) {
	for _, d := range decisions {
		if d.held() != nil {
			h.add(1)
		}
	}
}

func (h *holds) add(n int) {
	h.held += n
	heldNames.Add(float64(n))
}

// release takes what the instance added to the gauge away: it stops.
func (h *holds) release() { h.add(-h.held) }

// held returns a hold of d's answers, of either family; nil when none.
func (d *decision) held() *hold {
	if d.a.hold != nil {
		return d.a.hold
	}
	return d.aaaa.hold
}

// heldTypes names the query types whose answers are held.
func (d *decision) heldTypes() string {
	var types []string
	if d.a.hold != nil {
		types = append(types, "A")
	}
	if d.aaaa.hold != nil {
		types = append(types, "AAAA")
	}
	return strings.Join(types, " ")
}

// heldPool is the pool answered while held.
func (d *decision) heldPool() string {
	if d.a.hold != nil {
		return d.a.pool
	}
	return d.aaaa.pool
}

// holdEnd says when hold h of name ends by itself, or how to release it.
func (b *block) holdEnd(name string, h *hold) string {
	if b.failback.manual { // which setup refuses without an override file
		return "until released: add '" + h.releaseLine(b, name) + "' to " + b.overrides.path
	}
	return "until " + h.until(b.failback).UTC().Format(time.RFC3339) + " (failback " + b.failback.String() + ", restarted by a failed probe)"
}

// unheld says why the hold of the decision before d ended.
func (d *decision) unheld() string {
	if d.a.unheld != "" {
		return d.a.unheld
	}
	return d.aaaa.unheld
}
