package failover

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The webhook tests run a real failover instance whose endpoints,
// 127.0.40.1-3, statusUp keeps healthy: only the alerts take them down.

// groupedFiring is a notification as Alertmanager 0.25 sends it, two alerts
// of one group firing: a firing alert's endsAt is the zero time.
const groupedFiring = `{
  "receiver": "failover",
  "status": "firing",
  "alerts": [
    {
      "status": "firing",
      "labels": {"alertname": "InstanceDown", "instance": "a", "job": "app"},
      "annotations": {"summary": "instance a is down"},
      "startsAt": "2026-12-03T10:00:00.123456789Z",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0",
      "fingerprint": "a1b2c3d4e5f60718"
    },
    {
      "status": "firing",
      "labels": {"alertname": "PrimaryDown", "job": "app"},
      "annotations": {},
      "startsAt": "2026-12-03T10:00:01Z",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://prometheus:9090/graph?g0.expr=absent%28up%29",
      "fingerprint": "0f1e2d3c4b5a6978"
    }
  ],
  "groupLabels": {"job": "app"},
  "commonLabels": {"job": "app"},
  "commonAnnotations": {},
  "externalURL": "http://alertmanager:9093",
  "version": "4",
  "groupKey": "{}:{job=\"app\"}",
  "truncatedAlerts": 0
}`

// amAlert is one alert of a notification that notify builds.
type amAlert struct {
	status           string
	labels           map[string]string
	startsAt, endsAt time.Time
	fingerprint      string
}

// notify returns the notification of alerts, in the form Alertmanager's webhook sends.
func notify(alerts ...amAlert) string {
	msg := webhookMessage{Version: "4", GroupKey: `{}:{job="app"}`, Status: "firing", Receiver: "failover",
		GroupLabels: map[string]string{"job": "app"}, CommonLabels: map[string]string{"job": "app"},
		CommonAnnotations: map[string]string{}, ExternalURL: "http://alertmanager:9093"}
	for _, a := range alerts {
		if a.status == "resolved" {
			msg.Status = "resolved"
		}
		msg.Alerts = append(msg.Alerts, webhookAlert{Status: a.status, Labels: a.labels, Annotations: map[string]string{},
			StartsAt: a.startsAt, EndsAt: a.endsAt, GeneratorURL: "http://prometheus:9090/graph", Fingerprint: a.fingerprint})
	}
	for _, a := range msg.Alerts {
		if a.Status == "firing" {
			msg.Status = "firing"
		}
	}
	body, _ := json.Marshal(msg)
	return string(body)
}

var (
	startedAt    = time.Date(2026, 12, 3, 10, 0, 0, 123456789, time.UTC)
	instanceDown = amAlert{"firing", map[string]string{"alertname": "InstanceDown", "instance": "a", "job": "app"}, startedAt, time.Time{}, "a1b2c3d4e5f60718"}
	primaryDown  = amAlert{"firing", map[string]string{"alertname": "PrimaryDown", "job": "app"}, startedAt.Add(time.Second).Truncate(time.Second), time.Time{}, "0f1e2d3c4b5a6978"}
)

func (a amAlert) resolved(at time.Time) amAlert {
	a.status, a.endsAt = "resolved", at
	return a
}

// webhookFailover starts a block whose alert lines take 127.0.40.1 and the
// primary pool of app.example.org down, and returns the instance, its
// status address and its token file (whose token is s3cret).
func webhookFailover(t *testing.T) (*Failover, string, string) {
	t.Helper()
	port := statusUp(t, "127.0.40.1", "127.0.40.2", "127.0.40.3")
	addr := statusFreeAddr(t, "127.0.40.9")
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, _ := startStatusFailover(t, "dns://.:53", fmt.Sprintf(`failover app.example.org www.example.org {
	primary 127.0.40.1 127.0.40.2
	secondary 127.0.40.3
	check tcp://:%d
	interval 1m
	status %s
	alert alertname=InstanceDown instance=a 127.0.40.1
	alert alertname=PrimaryDown job=app app.example.org/primary
	alert_token_file %s
}`, port, addr, token))
	return f, addr, token
}

// post sends body to the webhook at addr with the Authorization header auth
// ("" for none), and returns the response and its body.
func post(t *testing.T, addr, auth, payload string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/alertmanager", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return statusDo(t, req)
}

// pushed posts body with the token s3cret, which must be accepted.
func pushed(t *testing.T, addr, body string) {
	t.Helper()
	if resp, text := post(t, addr, "Bearer s3cret", body); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /alertmanager: %s\n%s", resp.Status, text)
	}
}

// answerNow returns the IPv4 addresses f answers for name, in order.
func answerNow(f *Failover, name string) string {
	c := f.state.Load().lookup(name, dns.TypeA)
	var ips []string
	for _, ip := range c.ips {
		ips = append(ips, ip.String())
	}
	slices.Sort(ips)
	return strings.Join(ips, " ")
}

// awaitAnswer polls until f answers name with want, for at most 5 s.
func awaitAnswer(t *testing.T, f *Failover, name, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for answerNow(f, name) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s answers %q after 5s, want %q", name, answerNow(f, name), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAlertmanagerWebhookHoldsTargetsDown(t *testing.T) {
	f, addr, token := webhookFailover(t)
	awaitAnswer(t, f, "app.example.org.", "127.0.40.1 127.0.40.2")

	// Grouped: one notification, two alerts; the primary of app goes, and
	// 127.0.40.1 for www, whose primary no alert names.
	pushed(t, addr, groupedFiring)
	awaitAnswer(t, f, "app.example.org.", "127.0.40.3")
	awaitAnswer(t, f, "www.example.org.", "127.0.40.2")
	doc := statusAt(t, addr, "?name=app.example.org")
	app := doc.name(t, "app.example.org.")
	if p := app.Pools[0]; len(p.Alerts) != 1 || p.Alerts[0].Fingerprint != "0f1e2d3c4b5a6978" || p.Alerts[0].Since != "2026-12-03T10:00:01Z" ||
		p.Alerts[0].Until != "resolved" || p.Alerts[0].Target != "app.example.org/primary" || p.Alerts[0].Labels["alertname"] != "PrimaryDown" {
		t.Errorf("primary pool's alerts: %+v", p.Alerts)
	}
	if e := app.endpoint(t, "primary", "127.0.40.2"); e.State != "up" || e.Counted != "down" || e.CountedWhy != "alert" || len(e.Alerts) != 1 {
		t.Errorf("127.0.40.2 of app: %+v", e)
	}
	if e := app.endpoint(t, "primary", "127.0.40.1"); len(e.Alerts) != 2 || e.Alerts[1].Labels["instance"] != "a" || e.Alerts[1].Line != 7 {
		t.Errorf("127.0.40.1 of app: %+v", e)
	}
	if why := app.Answer["A"].Why; !strings.HasPrefix(why, "primary is held down by alert PrimaryDown; secondary is up") {
		t.Errorf("why: %q", why)
	}
	if v := testutil.ToFloat64(alertHeld.WithLabelValues("app.example.org.", "primary", "")); v != 1 {
		t.Errorf("alert_held of app's primary: %v", v)
	}
	if v := testutil.ToFloat64(alertHeld.WithLabelValues("www.example.org.", "primary", "127.0.40.1")); v != 1 {
		t.Errorf("alert_held of 127.0.40.1 for www: %v", v)
	}

	// Repeated: every repeat_interval Alertmanager sends the same again.
	for range 3 {
		pushed(t, addr, groupedFiring)
	}
	var msg webhookMessage
	if err := json.Unmarshal([]byte(groupedFiring), &msg); err != nil {
		t.Fatal(err)
	}
	statusServers.Lock()
	srv := statusServers.byAddr[addr]
	statusServers.Unlock()
	var entries []*alertEntry
	for _, a := range msg.Alerts {
		e, _ := a.entry()
		entries = append(entries, e)
	}
	if changed, full := srv.apply([]string{token}, entries, time.Now()); len(changed) != 0 || full {
		t.Errorf("a repeated notification changed the alerts of %v (full %v)", changed, full)
	}
	// Out of order: the resolution arrives, then a late retry of the
	// firing notification of the same start, which must not undo it.
	pushed(t, addr, notify(primaryDown.resolved(time.Now())))
	pushed(t, addr, notify(primaryDown))
	awaitAnswer(t, f, "app.example.org.", "127.0.40.2")
	// An older incident's firing alert changes nothing either.
	older := primaryDown
	older.startsAt = older.startsAt.Add(-time.Hour)
	pushed(t, addr, notify(older))
	if b := f.blocks[0]; b.alertStore.Load().view(b, time.Now()).hasPool("app.example.org.") {
		t.Error("an older incident's firing alert holds the primary down again")
	}
	// But the alert firing again, from a later start, counts.
	again := primaryDown
	again.startsAt = time.Now()
	pushed(t, addr, notify(again))
	awaitAnswer(t, f, "app.example.org.", "127.0.40.3")
	pushed(t, addr, notify(again.resolved(time.Now()), instanceDown.resolved(time.Now())))
	awaitAnswer(t, f, "app.example.org.", "127.0.40.1 127.0.40.2")
	awaitAnswer(t, f, "www.example.org.", "127.0.40.1 127.0.40.2")
	if series := alertSeries(f.blocks, f.state.Load()); len(series) != 0 {
		t.Errorf("alert series after every alert resolved: %v", series)
	}

	// A firing alert whose endsAt passes ends then, with no notification:
	// the answers are decided again at that time.
	expiring := instanceDown
	expiring.startsAt, expiring.endsAt = time.Now(), time.Now().Add(300*time.Millisecond)
	pushed(t, addr, notify(expiring))
	awaitAnswer(t, f, "www.example.org.", "127.0.40.2")
	awaitAnswer(t, f, "www.example.org.", "127.0.40.1 127.0.40.2")
	// And one that has ended already counts nothing.
	expired := instanceDown
	expired.startsAt, expired.endsAt = time.Now(), time.Now().Add(-time.Second)
	pushed(t, addr, notify(expired))
	if e := statusAt(t, addr, "").name(t, "www.example.org.").endpoint(t, "primary", "127.0.40.1"); e.Counted != "up" || len(e.Alerts) != 0 {
		t.Errorf("an alert whose endsAt had passed: %+v", e)
	}
}

// TestAlertmanagerWebhookOverrideWins checks that an override line, the
// operator's explicit word, wins over an alert.
func TestAlertmanagerWebhookOverrideWins(t *testing.T) {
	port := statusUp(t, "127.0.40.1", "127.0.40.2")
	addr := statusFreeAddr(t, "127.0.40.9")
	dir := t.TempDir()
	token, overrides := filepath.Join(dir, "token"), filepath.Join(dir, "overrides")
	for path, content := range map[string]string{token: "s3cret", overrides: "127.0.40.1 up known false alarm\n"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := startStatusFailover(t, "dns://.:53", fmt.Sprintf(`failover app.example.org {
	primary 127.0.40.1
	secondary 127.0.40.2
	check tcp://:%d
	interval 1m
	status %s
	override %s
	alert alertname=InstanceDown 127.0.40.1
	alert_token_file %s
}`, port, addr, overrides, token))
	pushed(t, addr, notify(instanceDown))
	e := statusAt(t, addr, "").name(t, "app.example.org.").endpoint(t, "primary", "127.0.40.1")
	if e.Counted != "up" || e.CountedWhy != "" || len(e.Alerts) != 1 || e.Override == nil {
		t.Errorf("overridden up under a firing alert: %+v", e)
	}
	if got := answerNow(f, "app.example.org."); got != "127.0.40.1" {
		t.Errorf("answer %q, want the overridden address", got)
	}
}

func TestAlertmanagerWebhookRefuses(t *testing.T) {
	f, addr, token := webhookFailover(t)
	before := testutil.ToFloat64(alertNotifications.WithLabelValues("unauthorized"))
	for _, auth := range []string{"", "Bearer wrong", "Bearer s3cret2", "Bearer ", "Basic czNjcmV0", "s3cret"} {
		resp, body := post(t, addr, auth, groupedFiring)
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("Authorization %q: %s, WWW-Authenticate %q\n%s", auth, resp.Status, resp.Header.Get("WWW-Authenticate"), body)
		}
	}
	if got := testutil.ToFloat64(alertNotifications.WithLabelValues("unauthorized")) - before; got != 6 {
		t.Errorf("unauthorized notifications counted: %v, want 6", got)
	}
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", "alerts: []", "not a webhook notification"},
		{"version 3", strings.Replace(groupedFiring, `"version": "4"`, `"version": "3"`, 1), `webhook version "3": only version 4 is known`},
		{"no version", `{"alerts": []}`, `webhook version "": only version 4 is known`},
		{"alert status", strings.Replace(groupedFiring, `"status": "firing",`+"\n      \"labels\"", `"status": "pending",`+"\n      \"labels\"", 1), `alert status "pending": want firing or resolved`},
	} {
		resp, body := post(t, addr, "Bearer s3cret", tc.body)
		var answer struct{ Error string }
		json.Unmarshal([]byte(body), &answer)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(answer.Error, tc.want) {
			t.Errorf("%s: %s\n%s", tc.name, resp.Status, body)
		}
	}
	large := `{"version": "4", "alerts": [], "pad": "` + strings.Repeat("x", maxWebhookBody) + `"}`
	if resp, body := post(t, addr, "Bearer s3cret", large); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over 1 MiB: %s\n%s", resp.Status, body)
	}
	if resp, body := statusGet(t, http.MethodGet, "http://"+addr+"/alertmanager"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /alertmanager: %s\n%s", resp.Status, body)
	}
	if got := answerNow(f, "app.example.org."); got != "127.0.40.1 127.0.40.2" {
		t.Errorf("refused notifications changed the answer to %q", got)
	}

	// The token is rotated without a reload: the old one stops working.
	if err := os.WriteFile(token, []byte("rotated-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if resp, _ := post(t, addr, "Bearer s3cret", groupedFiring); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the token before rotation: %s", resp.Status)
	}
	// Emptied, the file revokes the token: nothing is taken.
	if err := os.WriteFile(token, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if resp, _ := post(t, addr, "Bearer rotated-token", groupedFiring); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the token of an emptied file: %s", resp.Status)
	}
	if err := os.WriteFile(token, []byte("rotated-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if resp, body := post(t, addr, "Bearer rotated-token", groupedFiring); resp.StatusCode != http.StatusOK {
		t.Errorf("the rotated token: %s\n%s", resp.Status, body)
	}
	awaitAnswer(t, f, "app.example.org.", "127.0.40.3")
}

// TestAlertmanagerWebhookTokensApart checks that a notification applies only
// to the blocks whose token it carries.
func TestAlertmanagerWebhookTokensApart(t *testing.T) {
	port := statusUp(t, "127.0.40.1", "127.0.40.2")
	addr := statusFreeAddr(t, "127.0.40.9")
	dir := t.TempDir()
	tokenA, tokenB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(tokenA, []byte("token-a"), 0o600)
	os.WriteFile(tokenB, []byte("token-b"), 0o600)
	block := func(name, token string) string {
		return fmt.Sprintf("failover %s {\nprimary 127.0.40.1\nsecondary 127.0.40.2\ncheck tcp://:%d\ninterval 1m\nstatus %s\nalert alertname=InstanceDown 127.0.40.1\nalert_token_file %s\n}\n", name, port, addr, token)
	}
	f, _ := startStatusFailover(t, "dns://.:53", block("a.example.org", tokenA)+block("b.example.org", tokenB))
	if resp, body := post(t, addr, "Bearer token-b", notify(instanceDown)); resp.StatusCode != http.StatusOK {
		t.Fatalf("%s\n%s", resp.Status, body)
	}
	awaitAnswer(t, f, "b.example.org.", "127.0.40.2")
	if got := answerNow(f, "a.example.org."); got != "127.0.40.1" {
		t.Errorf("a block of another token answers %q", got)
	}
}

// TestAlertStore checks the store alone: repeats and late arrivals change
// nothing, and it refuses new alerts when full, never dropping those in force.
func TestAlertStore(t *testing.T) {
	now := time.Now()
	s := newAlertStore()
	firing := &alertEntry{fingerprint: "f1", labels: map[string]string{"alertname": "A"}, startsAt: now.Add(-time.Minute)}
	if changed, _ := s.put("t", firing, now, new(bool)); !changed {
		t.Error("a new firing alert changed nothing")
	}
	if changed, _ := s.put("t", &alertEntry{fingerprint: "f1", labels: firing.labels, startsAt: firing.startsAt}, now, new(bool)); changed {
		t.Error("a repeat changed the store")
	}
	resolved := &alertEntry{fingerprint: "f1", labels: firing.labels, startsAt: firing.startsAt, endsAt: now, resolved: true}
	if changed, _ := s.put("t", resolved, now, new(bool)); !changed {
		t.Error("the resolution changed nothing")
	}
	if changed, _ := s.put("t", firing, now, new(bool)); changed || !s.byToken["t"]["f1"].resolved {
		t.Error("a late firing notification of the same start undid the resolution")
	}

	defer func(n int) { maxAlertsKept = n }(maxAlertsKept)
	maxAlertsKept = 3
	for i := range 3 {
		if _, full := s.put("t", &alertEntry{fingerprint: fmt.Sprint("g", i), startsAt: now}, now, new(bool)); full {
			t.Fatalf("full at %d alerts, one of them resolved", i+1)
		}
	}
	if _, ok := s.byToken["t"]["f1"]; ok {
		t.Error("the resolved alert was kept in place of one in force")
	}
	if _, full := s.put("t", &alertEntry{fingerprint: "h", startsAt: now}, now, new(bool)); !full || s.kept != 3 {
		t.Errorf("a fourth alert in force: full %v, kept %d", full, s.kept)
	}
	if changed, full := s.put("t", &alertEntry{fingerprint: "g0", startsAt: now, resolved: true, endsAt: now}, now, new(bool)); !changed || full {
		t.Errorf("the resolution of a kept alert when full: changed %v, full %v", changed, full)
	}
}

// TestAlertItems checks the form in which replicas share alerts: what one
// pushes, another reads back the same; anything else is left out.
func TestAlertItems(t *testing.T) {
	e := &alertEntry{fingerprint: "f1", labels: map[string]string{"alertname": "A"}, startsAt: startedAt, resolved: true, endsAt: startedAt.Add(time.Minute)}
	back := alertOfItem(e.item())
	if back == nil || back.fingerprint != "f1" || back.labels["alertname"] != "A" || !back.startsAt.Equal(e.startsAt) || !back.endsAt.Equal(e.endsAt) || !back.resolved {
		t.Errorf("%s read back as %+v", e.item(), back)
	}
	for _, item := range []string{"", "alert ", "alert {", `alert {"l":{}}`, `other {"f":"x"}`} {
		if alertOfItem(item) != nil {
			t.Errorf("item %q taken as an alert", item)
		}
	}
}

// FuzzAlertmanagerWebhook drives the webhook with any body: it answers one
// of its codes, never panics, and what it keeps judges without a panic.
func FuzzAlertmanagerWebhook(f *testing.F) {
	f.Add(groupedFiring)
	f.Add(notify(primaryDown.resolved(startedAt.Add(time.Hour)), instanceDown))
	f.Add(`{"version":"4","alerts":[{"status":"firing","labels":null,"startsAt":"x"}]}`)
	f.Add(`{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"InstanceDown","instance":"a"},"endsAt":"9999-12-31T23:59:59Z"}]}`)
	token := filepath.Join(f.TempDir(), "token")
	if err := os.WriteFile(token, []byte("s3cret"), 0o600); err != nil {
		f.Fatal(err)
	}
	fo, err := parse(caddy.NewTestController("dns", `failover app.example.org {
	primary 192.0.2.1 192.0.2.2
	secondary 192.0.2.3
	check tcp://:80
	status 127.0.40.9:8054
	alert alertname=InstanceDown instance=a 192.0.2.1
	alert alertname=PrimaryDown app.example.org/primary
	alert_token_file `+token+`
}`))
	if err != nil {
		f.Fatal(err)
	}
	b := fo.blocks[0]
	s := &statusServer{addr: b.status}
	s.instances.Store(&[]*Failover{fo})
	f.Fuzz(func(t *testing.T, body string) {
		// A store of its own for each input: the fuzzer's minimization
		// needs a target that does the same for the same input.
		s.alerts = newAlertStore()
		b.alertStore.Store(s.alerts)
		req := httptest.NewRequest(http.MethodPost, "/alertmanager", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer s3cret")
		w := httptest.NewRecorder()
		s.serveAlertmanager(w, req)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable:
		default:
			t.Fatalf("answer %d to %q", w.Code, body)
		}
		s.alerts.view(b, time.Now()).lookup("app.example.org.", "primary", b.pools[0].members[0].addr)
	})
}

// BenchmarkAlertmanagerWebhook measures a notification near the 1 MiB bound:
// 2,000 distinct firing alerts that all match an alert line, into a store
// that keeps them (each iteration starts from an empty one).
func BenchmarkAlertmanagerWebhook(b *testing.B) {
	token := filepath.Join(b.TempDir(), "token")
	os.WriteFile(token, []byte("s3cret"), 0o600)
	fo, err := parse(caddy.NewTestController("dns", "failover app.example.org {\nprimary 192.0.2.1\nsecondary 192.0.2.2\ncheck tcp://:80\nstatus 127.0.40.9:8054\nalert alertname=InstanceDown 192.0.2.1\nalert_token_file "+token+"\n}"))
	if err != nil {
		b.Fatal(err)
	}
	blk := fo.blocks[0]
	s := &statusServer{addr: blk.status}
	s.instances.Store(&[]*Failover{fo})
	var alerts []amAlert
	for i := range 2000 {
		a := instanceDown
		a.labels = map[string]string{"alertname": "InstanceDown", "instance": fmt.Sprintf("host-%d:9100", i), "job": "node"}
		a.fingerprint = fmt.Sprintf("%016x", i)
		alerts = append(alerts, a)
	}
	body := notify(alerts...)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		s.alerts = newAlertStore()
		blk.alertStore.Store(s.alerts)
		req := httptest.NewRequest(http.MethodPost, "/alertmanager", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer s3cret")
		w := httptest.NewRecorder()
		s.serveAlertmanager(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code, w.Body.String())
		}
	}
	b.ReportMetric(float64(len(body)), "body_bytes")
}
