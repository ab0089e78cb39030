package failover

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/failover-dns/failover/fleet"
)

// In a fleet, Alertmanager's notifications reach one replica: it posts to
// the Service in front of them, or the replicas are behind a load balancer.
// So each replica shares the alerts it keeps through its fleet's Leases
// (fleet.Membership.Push), and takes in those the other replicas share as it
// takes a notification: by fingerprint, the latest word wins. A replica that
// missed a notification converges on the one that got it, and a resolution
// that reaches another replica than the firing alert did still ends it
// everywhere.

// alertItemPrefix marks the pushed items that are alerts.
const alertItemPrefix = "alert "

// alertItem is an alert as the Leases carry it.
type alertItem struct {
	Fingerprint string            `json:"f"`
	Labels      map[string]string `json:"l"`
	StartsAt    time.Time         `json:"s"`
	EndsAt      time.Time         `json:"e"`
	Resolved    bool              `json:"r,omitempty"`
}

func (e *alertEntry) item() string {
	b, _ := json.Marshal(alertItem{e.fingerprint, e.labels, e.startsAt, e.endsAt, e.resolved})
	return alertItemPrefix + string(b)
}

// alertOfItem reads an item that another replica pushed; nil for one that
// is not an alert, or cannot be read.
func alertOfItem(item string) *alertEntry {
	text, ok := strings.CutPrefix(item, alertItemPrefix)
	if !ok {
		return nil
	}
	var it alertItem
	if json.Unmarshal([]byte(text), &it) != nil || it.Fingerprint == "" {
		return nil
	}
	return &alertEntry{fingerprint: it.Fingerprint, labels: it.Labels, startsAt: it.StartsAt, endsAt: it.EndsAt, resolved: it.Resolved}
}

// entries returns the alerts kept under the token file at path.
func (s *alertStore) entries(path string) []*alertEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make([]*alertEntry, 0, len(s.byToken[path]))
	for _, e := range s.byToken[path] {
		all = append(all, e)
	}
	return all
}

// alertMemberships returns the fleet memberships of f's blocks that take
// alerts, each once.
func (f *Failover) alertMemberships() []*fleet.Membership {
	var all []*fleet.Membership
	for _, b := range f.blocks {
		if m := b.membership.Load(); m != nil && len(b.alerts) > 0 && !slices.Contains(all, m) {
			all = append(all, m)
		}
	}
	return all
}

// pushAlerts shares with each fleet the alerts kept for f's blocks in it:
// those in force first, then the latest. One caller at a time, so that the
// last state is the one pushed.
func (f *Failover) pushAlerts() {
	f.alertPush.Lock()
	defer f.alertPush.Unlock()
	if f.alertsLeft {
		return
	}
	now := time.Now()
	for _, m := range f.alertMemberships() {
		latest := map[string]*alertEntry{}
		for _, b := range f.blocks {
			if b.membership.Load() != m || len(b.alerts) == 0 {
				continue
			}
			for _, e := range b.alertStore.Load().entries(b.alertToken.path) {
				if prev := latest[e.fingerprint]; prev == nil || e.supersedes(prev) {
					latest[e.fingerprint] = e
				}
			}
		}
		all := make([]*alertEntry, 0, len(latest))
		for _, e := range latest {
			all = append(all, e)
		}
		slices.SortFunc(all, func(a, b *alertEntry) int {
			if a.inForce(now) != b.inForce(now) {
				if a.inForce(now) {
					return -1
				}
				return 1
			}
			return b.startsAt.Compare(a.startsAt)
		})
		items := make([]string, len(all))
		for i, e := range all {
			items[i] = e.item()
		}
		m.Push(items)
	}
}

// takePushed takes in the alerts the other replicas of m share, as a
// notification to each of f's blocks in m would be, and shares in turn
// what changed.
func (f *Failover) takePushed(m *fleet.Membership) {
	select {
	case <-f.stopFollowing: // shut down: no longer in the fleet
		return
	default:
	}
	now := time.Now()
	changed, forgot := false, false
	for _, item := range m.Pushed() {
		e := alertOfItem(item)
		if e == nil {
			continue
		}
		for i, b := range f.blocks {
			if b.membership.Load() != m || !slices.ContainsFunc(b.alerts, func(r alertRule) bool { return r.matches(e.labels) }) {
				continue
			}
			if c, _ := b.alertStore.Load().put(b.alertToken.path, e, now, &forgot); c {
				changed = true
				f.changes.blockChanged(i)
			}
		}
	}
	if changed {
		f.pushAlerts()
	}
}

// shareAlerts has f's blocks that take alerts share them with their fleets:
// what is kept now, and from now on what the other replicas share. Called
// once the fleets are joined.
func (f *Failover) shareAlerts() {
	for _, m := range f.alertMemberships() {
		m.OnPushed(func() { f.takePushed(m) })
		f.takePushed(m)
	}
	f.pushAlerts()
}

// unshareAlerts stops f pushing alerts, and takes back what it pushed: a
// membership that leaves keeps nothing in the group. Called before the
// fleets are left; what the instance of a reload pushes stays.
func (f *Failover) unshareAlerts() {
	f.alertPush.Lock()
	defer f.alertPush.Unlock()
	f.alertsLeft = true
	for _, m := range f.alertMemberships() {
		m.Push(nil)
	}
}
