package failover

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"hash/fnv"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// webhookMessage is the body of Alertmanager's webhook, version 4 (its
// documentation, "webhook_config"). Firing alerts come with a zero endsAt:
// Alertmanager hides the end of an alert that has not ended.
type webhookMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []webhookAlert    `json:"alerts"`
}

type webhookAlert struct {
	Status       string            `json:"status"` // firing or resolved
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// maxWebhookBody bounds a notification: Alertmanager sends a group's alerts
// in one, and a group of thousands is already far more than alert lines name.
const maxWebhookBody = 1 << 20

// serveAlertmanager takes a notification of Alertmanager's webhook. Its
// alerts apply to the blocks at this address whose token it carries. What
// changes is recorded for each instance's goroutine that rebuilds the
// answers, as a probe's verdict is: the handler never rebuilds them itself.
func (s *statusServer) serveAlertmanager(w http.ResponseWriter, r *http.Request) {
	paths := s.authorized(r.Header.Get("Authorization"))
	if len(paths) == 0 {
		alertNotifications.WithLabelValues("unauthorized").Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="failover"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a bearer token of alert_token_file is needed"})
		return
	}
	var msg webhookMessage
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxWebhookBody)).Decode(&msg)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		alertNotifications.WithLabelValues("too_large").Inc()
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "a notification is at most " + strconv.Itoa(maxWebhookBody) + " bytes"})
		return
	case err != nil:
		alertNotifications.WithLabelValues("bad_request").Inc()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "not a webhook notification: " + err.Error()})
		return
	case msg.Version != "4":
		alertNotifications.WithLabelValues("bad_request").Inc()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "webhook version " + strconv.Quote(msg.Version) + ": only version 4 is known"})
		return
	}
	entries := make([]*alertEntry, 0, len(msg.Alerts))
	for _, a := range msg.Alerts {
		e, problem := a.entry()
		if problem != "" {
			alertNotifications.WithLabelValues("bad_request").Inc()
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": problem})
			return
		}
		entries = append(entries, e)
	}
	if msg.TruncatedAlerts > 0 {
		log.Warningf("status %s: Alertmanager left %d alerts out of a notification of group %s (max_alerts): they do not count", s.addr, msg.TruncatedAlerts, msg.GroupKey)
	}
	changed, full := s.apply(paths, entries, time.Now())
	s.alertsChanged(changed)
	if full {
		alertNotifications.WithLabelValues("full").Inc()
		log.Errorf("status %s: %d alerts kept already: alerts of a notification were refused", s.addr, maxAlertsKept)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "too many alerts kept: some were refused"})
		return
	}
	alertNotifications.WithLabelValues("accepted").Inc()
	writeJSON(w, http.StatusOK, map[string]int{"alerts": len(entries)})
}

// entry is the stored form of a; problem says what is wrong with it.
func (a *webhookAlert) entry() (*alertEntry, string) {
	if a.Status != "firing" && a.Status != "resolved" {
		return nil, "alert status " + strconv.Quote(a.Status) + ": want firing or resolved"
	}
	e := &alertEntry{fingerprint: a.Fingerprint, labels: a.Labels, startsAt: a.StartsAt, endsAt: a.EndsAt, resolved: a.Status == "resolved"}
	if e.fingerprint == "" {
		e.fingerprint = labelsFingerprint(a.Labels)
	}
	return e, ""
}

// labelsFingerprint identifies an alert that came without a fingerprint
// (Alertmanager before 0.19) by its labels, as Alertmanager does.
func labelsFingerprint(labels map[string]string) string {
	h := fnv.New64a()
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		h.Write([]byte(k + "\xff" + labels[k] + "\xff"))
	}
	return "labels:" + strconv.FormatUint(h.Sum64(), 16)
}

// alertBlocks calls each for every block reported at s's address that takes
// alerts, with its instance and position.
func (s *statusServer) alertBlocks(each func(f *Failover, i int, b *block)) {
	for _, f := range *s.instances.Load() {
		for i, b := range f.blocks {
			if b.status == s.addr && b.alertToken != nil {
				each(f, i, b)
			}
		}
	}
}

// authorized returns the token files at s's address whose token the
// Authorization header carries; none without a bearer token.
func (s *statusServer) authorized(header string) []string {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil
	}
	// Compared as SHA-256 sums, in constant time: the time of the answer
	// tells neither how much of a guess was right nor the token's length.
	given := sha256.Sum256([]byte(strings.TrimSpace(token)))
	var paths, checked []string
	s.alertBlocks(func(_ *Failover, _ int, b *block) {
		if slices.Contains(checked, b.alertToken.path) {
			return
		}
		checked = append(checked, b.alertToken.path)
		want := b.alertToken.current()
		if want == nil {
			return
		}
		if sum := sha256.Sum256(want); subtle.ConstantTimeCompare(given[:], sum[:]) == 1 {
			paths = append(paths, b.alertToken.path)
		}
	})
	return paths
}

// apply stores, under each token file of paths, the entries that match an
// alert line of a block reading that file, and returns the files whose
// alerts changed, and whether some entry found no room.
func (s *statusServer) apply(paths []string, entries []*alertEntry, now time.Time) (changed []string, full bool) {
	s.alerts.mu.Lock()
	s.alerts.prune(now, resolvedKept)
	s.alerts.mu.Unlock()
	forgot := false
	for _, e := range entries {
		logged := false
		for _, path := range paths {
			if !s.wanted(path, e) {
				continue
			}
			c, f := s.alerts.put(path, e, now, &forgot)
			full = full || f
			if c && !slices.Contains(changed, path) {
				changed = append(changed, path)
			}
			if c && !logged {
				logged = true
				log.Infof("status %s: alert %s %s (fingerprint %s, since %s)", s.addr, labelsText(e.labels), e.state(now), e.fingerprint, timestamp(e.startsAt))
			}
		}
	}
	return changed, full
}

// state says how e stands at now, for the log.
func (e *alertEntry) state(now time.Time) string {
	switch {
	case e.resolved:
		return "resolved"
	case !e.inForce(now):
		return "expired"
	case e.endsAt.IsZero():
		return "firing"
	}
	return "firing until " + timestamp(e.endsAt)
}

// labelsText writes labels as Prometheus does: {a="1", b="2"}.
func labelsText(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+strconv.Quote(labels[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// wanted reports whether an alert line of a block reading the token file at
// path matches e: the others are not kept.
func (s *statusServer) wanted(path string, e *alertEntry) bool {
	found := false
	s.alertBlocks(func(_ *Failover, _ int, b *block) {
		if found || b.alertToken.path != path {
			return
		}
		for i := range b.alerts {
			if b.alerts[i].matches(e.labels) {
				found = true
				return
			}
		}
	})
	return found
}

// alertsChanged records, for the instances at s's address, that the alerts
// of the blocks reading the token files at paths changed.
func (s *statusServer) alertsChanged(paths []string) {
	if len(paths) == 0 {
		return
	}
	var shared []*Failover
	s.alertBlocks(func(f *Failover, i int, b *block) {
		if slices.Contains(paths, b.alertToken.path) {
			f.changes.blockChanged(i)
			if b.membership.Load() != nil && !slices.Contains(shared, f) {
				shared = append(shared, f)
			}
		}
	})
	// In a fleet, the other replicas learn of it through the Leases.
	for _, f := range shared {
		f.pushAlerts()
	}
}
