package failover

import (
	"net/netip"
	"sync"
	"time"
)

// The alerts Alertmanager pushed to one status address (alerthook.go). The
// store belongs to the listener, which outlives a reload of the blocks at its
// address: the alerts in force survive the reload. They do not survive a
// restart: Alertmanager sends them again after its repeat_interval.

// alertEntry is the latest word on one alert, by fingerprint. It is never
// changed once stored: newer word replaces it.
type alertEntry struct {
	fingerprint string
	labels      map[string]string
	startsAt    time.Time
	endsAt      time.Time // zero for firing until resolved
	resolved    bool
}

// inForce reports whether e counts its targets down at now: firing, and its
// endsAt, if it has one, not passed.
func (e *alertEntry) inForce(now time.Time) bool {
	return !e.resolved && (e.endsAt.IsZero() || e.endsAt.After(now))
}

// supersedes reports whether n is newer word on the alert than o: it
// started later (the alert fired again), or, for the same start, it is
// resolved and o is not, or both have the same status and n ends later (a
// zero endsAt being the latest). So notifications that arrive out of order,
// or twice, end in the same state.
func (n *alertEntry) supersedes(o *alertEntry) bool {
	switch {
	case !n.startsAt.Equal(o.startsAt):
		return n.startsAt.After(o.startsAt)
	case n.resolved != o.resolved:
		return n.resolved
	case o.endsAt.IsZero():
		return false
	}
	return n.endsAt.IsZero() || n.endsAt.After(o.endsAt)
}

// alertStore keeps the alerts of one status address, by the token file whose
// token brought them: a block sees only the alerts sent with its token.
type alertStore struct {
	mu      sync.Mutex
	byToken map[string]map[string]*alertEntry // token file path -> fingerprint -> entry
	kept    int
}

func newAlertStore() *alertStore {
	return &alertStore{byToken: map[string]map[string]*alertEntry{}}
}

// put stores e under the token file at path, and reports whether that changed
// anything, and whether there was no room for it. When there is none, it
// makes room once by forgetting the alerts out of force (forgot tells
// whether it did already in this notification: a notification of thousands
// of new alerts into a full store does not go through it thousands of times).
func (s *alertStore) put(path string, e *alertEntry, now time.Time, forgot *bool) (changed, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.byToken[path][e.fingerprint]; ok {
		if !e.supersedes(prev) {
			return false, false
		}
		s.byToken[path][e.fingerprint] = e
		return prev.inForce(now) || e.inForce(now), false
	}
	if s.kept >= maxAlertsKept && !*forgot {
		*forgot = true
		s.prune(now, 0)
	}
	if s.kept >= maxAlertsKept {
		return false, true
	}
	entries := s.byToken[path]
	if entries == nil {
		entries = map[string]*alertEntry{}
		s.byToken[path] = entries
	}
	entries[e.fingerprint] = e
	s.kept++
	return e.inForce(now), false
}

// prune forgets the alerts out of force at now for longer than keep. Called
// with mu held.
func (s *alertStore) prune(now time.Time, keep time.Duration) {
	for path, entries := range s.byToken {
		for fp, e := range entries {
			if e.inForce(now) {
				continue
			}
			// A resolved alert is kept a while, so that a firing
			// notification of the same start that arrives late is seen as older.
			if ended := e.endsAt; ended.IsZero() || now.Sub(ended) >= keep {
				delete(entries, fp)
				s.kept--
			}
		}
		if len(entries) == 0 {
			delete(s.byToken, path)
		}
	}
}

// heldAlert is an alert in force that holds a target of a block down.
type heldAlert struct {
	entry *alertEntry
	rule  *alertRule
}

// alertView is what the alerts in force at one moment hold down in one block.
// It is never changed once made; a nil view holds nothing down.
type alertView struct {
	addrs   map[netip.Addr][]heldAlert
	pools   map[poolTarget][]heldAlert
	expires time.Time // the earliest endsAt of those alerts; zero for none
	targets int       // held down
}

// view returns what the alerts stored for b's token hold down in b at now;
// nil when nothing. A nil store has no alerts.
func (s *alertStore) view(b *block, now time.Time) *alertView {
	if s == nil || len(b.alerts) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var v *alertView
	for _, e := range s.byToken[b.alertToken.path] {
		if !e.inForce(now) {
			continue
		}
		for i := range b.alerts {
			r := &b.alerts[i]
			if !r.matches(e.labels) {
				continue
			}
			if v == nil {
				v = &alertView{addrs: map[netip.Addr][]heldAlert{}, pools: map[poolTarget][]heldAlert{}}
			}
			held := heldAlert{e, r}
			if r.addr.IsValid() {
				v.addrs[r.addr] = append(v.addrs[r.addr], held)
			} else {
				v.pools[r.pool] = append(v.pools[r.pool], held)
			}
			v.expires = earliest(v.expires, e.endsAt)
		}
	}
	if v != nil {
		v.targets = len(v.addrs) + len(v.pools)
	}
	return v
}

// lookup returns the alerts that hold member addr of pool of name down.
func (v *alertView) lookup(name, pool string, addr netip.Addr) []heldAlert {
	if v == nil {
		return nil
	}
	byPool, byAddr := v.pools[poolTarget{name, pool}], v.addrs[addr]
	if len(byPool) == 0 {
		return byAddr
	}
	if len(byAddr) == 0 {
		return byPool
	}
	return append(append([]heldAlert{}, byPool...), byAddr...)
}

// poolAlerts returns the alerts that hold the whole pool of name down.
func (v *alertView) poolAlerts(name, pool string) []heldAlert {
	if v == nil {
		return nil
	}
	return v.pools[poolTarget{name, pool}]
}

// hasPool reports whether alerts hold down a whole pool of name: its
// decision then differs from the block's other names'.
func (v *alertView) hasPool(name string) bool {
	if v == nil {
		return false
	}
	for t := range v.pools {
		if t.name == name {
			return true
		}
	}
	return false
}

// expiry is when the view must be made again though no notification comes.
func (v *alertView) expiry() time.Time {
	if v == nil {
		return time.Time{}
	}
	return v.expires
}

// maxAlertsKept bounds the alerts a status address keeps (only those that
// match an alert line, firing or resolved within resolvedKept). An alert in
// a webhook notification is at least some 200 bytes of JSON, so one 1 MiB
// notification holds about 5,000; 10,000 keeps two such notifications' worth
// of distinct alerts, far more than the alerts that name the targets of a
// Corefile, for a few MiB of memory at most. Past it, new alerts are refused
// (the notification answered 503, which Alertmanager retries and counts as
// failed), never the alerts in force dropped.
var maxAlertsKept = 10_000

// resolvedKept is how long a resolved or expired alert is remembered: a
// firing notification of the same start that arrives later (a retry) is then
// recognised as older.
var resolvedKept = time.Hour
