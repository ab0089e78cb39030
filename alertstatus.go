package failover

import (
	"strings"
)

// alertStatus is an alert in force that holds a target down, as the status
// document shows it.
type alertStatus struct {
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	Since       string            `json:"since"` // the alert's startsAt
	Until       string            `json:"until"` // its endsAt, or "resolved" when it has none
	Target      string            `json:"target"`
	Line        int               `json:"line"` // of the alert line that matched it
}

// alertsStatus reports held; nil for none.
func alertsStatus(held []heldAlert) []alertStatus {
	var all []alertStatus
	for _, h := range held {
		s := alertStatus{Fingerprint: h.entry.fingerprint, Labels: h.entry.labels, Since: timestamp(h.entry.startsAt),
			Until: "resolved", Target: h.rule.target, Line: h.rule.line}
		if !h.entry.endsAt.IsZero() {
			s.Until = timestamp(h.entry.endsAt)
		}
		all = append(all, s)
	}
	return all
}

// alertsWhy names the alerts of held in a few words, for the answer's why.
func alertsWhy(held []heldAlert) string {
	names := make([]string, 0, len(held))
	for _, h := range held {
		name := h.entry.labels["alertname"]
		if name == "" {
			name = h.entry.fingerprint
		}
		names = append(names, name)
	}
	return "is held down by alert " + strings.Join(names, ", ")
}

// countedWhy says why a member that counts as s does is down, when alerts are the reason.
func (s memberState) countedWhy() string {
	if len(s.alerts) == 0 || s.override != nil {
		return ""
	}
	return "alert"
}
