package fleet

import (
	"encoding/json"
	"slices"
	"sync/atomic"
	"time"
)

// Health pushed to one replica (the alerts Alertmanager posts to the Service
// of the replicas reach one of them) is shared with the others through the
// same Leases as the observations: each replica writes the items its blocks
// push, and takes in those of the fresh replicas. The items are opaque here;
// the plugin makes them and merges them (an alert's latest word wins, so a
// replica that missed a notification converges on the one that got it).

// AnnotationPushed carries a replica's pushed items: a JSON array of strings.
const AnnotationPushed = "failover.coredns.io/pushed"

// maxPushedBytes bounds the pushed items of a replica's Lease: with the
// observations of 10,000 endpoints (about 120 KB) it stays well within the
// API's 256 KiB of annotations. Items past it are not shared (logged).
const maxPushedBytes = 32 << 10

// Push sets the items m shares with the group's other replicas, in order of
// importance: the Lease carries the items of every membership of the group,
// each once, as many as fit in maxPushedBytes. It is written soon.
func (m *Membership) Push(items []string) {
	g := m.g
	g.mu.Lock()
	if g.pushedBy == nil {
		g.pushedBy = map[*Membership][]string{}
	}
	same := slices.Equal(g.pushedBy[m], items)
	if len(items) == 0 {
		delete(g.pushedBy, m)
	} else {
		g.pushedBy[m] = slices.Clone(items)
	}
	g.mu.Unlock()
	if !same {
		g.publishSoon()
	}
}

// Pushed returns the items the group's other fresh replicas push, each once,
// sorted.
func (m *Membership) Pushed() []string {
	g := m.g
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	var all []string
	for _, p := range g.peers {
		if p.fresh(now) {
			all = append(all, p.pushed...)
		}
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// OnPushed sets what m calls when the items another replica pushes change,
// from the group's goroutine: it must not block, nor call Leave.
func (m *Membership) OnPushed(f func()) { m.onPushed.Store(&f) }

// pushedChanged tells the members that a peer's items changed.
func (g *group) pushedChanged() {
	g.mu.Lock()
	members := slices.Clone(g.members)
	g.mu.Unlock()
	for _, m := range members {
		if f := m.onPushed.Load(); f != nil {
			(*f)()
		}
	}
}

// pushedValue encodes the items of every membership, each once, as many as
// fit. Under mu.
func (g *group) pushedValue() string {
	if len(g.pushedBy) == 0 {
		return ""
	}
	var items []string
	size := 2
	seen := map[string]bool{}
	dropped := 0
	for _, m := range g.members { // oldest first: a stable order
		for _, it := range g.pushedBy[m] {
			if seen[it] {
				continue
			}
			seen[it] = true
			encoded, _ := json.Marshal(it)
			if size+len(encoded)+1 > maxPushedBytes {
				dropped++
				continue
			}
			size += len(encoded) + 1
			items = append(items, it)
		}
	}
	if dropped > 0 && !g.pushedTooMany {
		log.Warningf("fleet %s: %d pushed items do not fit in the Lease (%d bytes at most): the other replicas do not see them", g.name, dropped, maxPushedBytes)
	}
	g.pushedTooMany = dropped > 0
	b, _ := json.Marshal(items)
	return string(b)
}

// decodePushed reads a peer's items; none for an empty value.
func decodePushed(value string) ([]string, error) {
	if value == "" {
		return nil, nil
	}
	var items []string
	if err := json.Unmarshal([]byte(value), &items); err != nil {
		return nil, err
	}
	return items, nil
}

// onPushedFunc is a Membership's callback.
type onPushedFunc = atomic.Pointer[func()]
