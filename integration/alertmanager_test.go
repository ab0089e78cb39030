package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/test"
	"github.com/miekg/dns"
)

// alertmanagerBinary returns the path of Debian's alertmanager, or skips the
// test outside CI, where .ci/run installs it.
func alertmanagerBinary(t *testing.T, command string) string {
	t.Helper()
	if path, err := exec.LookPath(command); err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed, and CI must run this test: .ci/run installs Debian's prometheus-alertmanager", command)
	}
	t.Skipf("%s is not installed (Debian package prometheus-alertmanager; .ci/run installs it)", command)
	return ""
}

// alertmanager is a real Alertmanager on loopback, without gossip.
type alertmanager struct {
	addr string
	log  string
}

// startAlertmanager runs Alertmanager with the configuration config on ip,
// its storage in a directory of the test, and waits until it is ready.
func startAlertmanager(t *testing.T, ip, config string) *alertmanager {
	t.Helper()
	bin := alertmanagerBinary(t, "prometheus-alertmanager")
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		dir := t.TempDir()
		am := &alertmanager{addr: freeTCPAddr(t, ip), log: filepath.Join(dir, "alertmanager.log")}
		writeFile(t, filepath.Join(dir, "alertmanager.yml"), config)
		logFile, err := os.Create(am.log)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "alertmanager.yml"), "--storage.path="+filepath.Join(dir, "data"),
			"--web.listen-address="+am.addr, "--cluster.listen-address=", "--log.level=debug")
		exited, stop, err := startProcess(cmd, logFile)
		if err != nil {
			t.Fatal(err)
		}
		if lastErr = am.waitReady(exited, 10*time.Second); lastErr == nil {
			t.Cleanup(stop)
			return am
		}
		stop()
		t.Logf("alertmanager did not start (attempt %d): %v\n%s", attempt+1, lastErr, am.logText())
	}
	t.Fatalf("alertmanager did not start: %v", lastErr)
	return nil
}

func (am *alertmanager) waitReady(exited <-chan error, within time.Duration) error {
	client := &http.Client{Timeout: 200 * time.Millisecond}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		default:
		}
		if resp, err := client.Get("http://" + am.addr + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready within %v", within)
}

func (am *alertmanager) logText() string {
	b, _ := os.ReadFile(am.log)
	return string(b)
}

// postAlert posts one alert to Alertmanager's API v2, as Prometheus does: it
// sends a firing alert's endsAt a few evaluation intervals ahead, and again
// while the alert fires; once it resolves, endsAt is the time it did.
func (am *alertmanager) postAlert(t *testing.T, labels map[string]string, startsAt, endsAt time.Time) {
	t.Helper()
	body, _ := json.Marshal([]map[string]any{{
		"labels":       labels,
		"annotations":  map[string]string{"summary": "the test says so"},
		"startsAt":     startsAt.UTC().Format(time.RFC3339Nano),
		"endsAt":       endsAt.UTC().Format(time.RFC3339Nano),
		"generatorURL": "http://prometheus.invalid/graph",
	}})
	resp, err := http.Post("http://"+am.addr+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v2/alerts: %s", resp.Status)
	}
}

// silence silences the alerts whose label has value, for an hour, and
// returns the silence's ID.
func (am *alertmanager) silence(t *testing.T, label, value string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"matchers":  []map[string]any{{"name": label, "value": value, "isRegex": false, "isEqual": true}},
		"startsAt":  time.Now().UTC().Format(time.RFC3339Nano),
		"endsAt":    time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano),
		"createdBy": "failover's tests",
		"comment":   "does a silence release the target?",
	})
	resp, err := http.Post("http://"+am.addr+"/api/v2/silences", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var created struct{ SilenceID string }
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v2/silences: %s, %v", resp.Status, err)
	}
	return created.SilenceID
}

// expire ends the silence id.
func (am *alertmanager) expire(t *testing.T, id string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, "http://"+am.addr+"/api/v2/silence/"+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE /api/v2/silence/%s: %s", id, resp.Status)
	}
}

// waitState waits until Alertmanager's only alert is in state (active,
// suppressed), for at most 5 s.
func (am *alertmanager) waitState(t *testing.T, state string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + am.addr + "/api/v2/alerts")
		if err != nil {
			t.Fatal(err)
		}
		var alerts []struct {
			Status struct{ State string } `json:"status"`
		}
		err = json.NewDecoder(resp.Body).Decode(&alerts)
		resp.Body.Close()
		if err == nil && len(alerts) == 1 {
			if got = alerts[0].Status.State; got == state {
				return
			}
		}
	}
	t.Fatalf("the alert is %q after 5s, want %q", got, state)
}

// TestAlertmanagerPushesHealth runs a real Alertmanager whose webhook
// receiver is a real CoreDNS's status listener: a firing alert that matches
// an alert line fails the name over, and its resolution brings it back.
func TestAlertmanagerPushesHealth(t *testing.T) {
	backends := startBackends(t, "127.0.40.1", "127.0.40.2")
	statusAddr := freeTCPAddr(t, "127.0.40.9")
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	writeFile(t, token, "an-alertmanager-token\n")
	corefile := func(ttl int) string {
		return fmt.Sprintf(`.:0 {
	failover app.example.org {
		primary   127.0.40.1
		secondary 127.0.40.2
		check     http://:%d/health
		interval  100ms
		timeout   50ms
		ttl       %d
		status    %s
		alert     alertname=AppDown service=app app.example.org/primary
		alert_token_file %s
	}
}`, backends[0].port, ttl, statusAddr, token)
	}
	inst, udp, _, err := test.CoreDNSServerAndPorts(corefile(30))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		inst.Stop()
		inst.ShutdownCallbacks()
	}()
	const name = "app.example.org."
	waitAnswer(t, udp, name, "127.0.40.1", 2*time.Second)

	am := startAlertmanager(t, "127.0.40.10", receiverConfig(statusAddr, token, time.Hour))

	labels := map[string]string{"alertname": "AppDown", "service": "app", "severity": "page"}
	start := time.Now()
	am.postAlert(t, labels, start, start.Add(4*time.Minute))
	took := waitAnswer(t, udp, name, "127.0.40.2", 10*time.Second)
	t.Logf("firing alert to failover: %v", took)
	// What Alertmanager sent: a firing alert with a zero endsAt, though
	// Prometheus gave it one (the status says "until resolved").
	r := statusWait(t, statusAddr, func(r *statusReport) string {
		n := r.name(name)
		if n == nil || len(n.Pools) == 0 || len(n.Pools[0].Alerts) != 1 {
			return "no alert on the primary pool"
		}
		if a := n.Pools[0].Alerts[0]; a.Until != "resolved" || a.Labels["severity"] != "page" || a.Fingerprint == "" {
			return fmt.Sprintf("alert %+v", a)
		}
		if e := n.endpoint("127.0.40.1"); e == nil || e.State != "up" || e.Counted != "down" || e.CountedWhy != "alert" {
			return fmt.Sprintf("endpoint %+v", e)
		}
		return ""
	})
	t.Logf("alert as failover holds it: %+v", r.name(name).Pools[0].Alerts[0])

	// A reload keeps the alerts pushed to the status address: the new
	// instance's first answer is the secondary's, though Alertmanager sends
	// nothing until its repeat_interval.
	next, err := inst.Restart(test.NewInput(corefile(20)))
	if err != nil {
		t.Fatal(err)
	}
	inst = next
	if got, err := lookup(udp, name, dns.TypeA); got != "127.0.40.2" {
		t.Fatalf("first answer after the reload: %q, %v", got, err)
	}

	// A silence mutes the alert's notifications, and sends no resolution:
	// the primary stays away, over several group_intervals.
	silence := am.silence(t, "alertname", "AppDown")
	am.waitState(t, "suppressed")
	for window := time.Now(); time.Since(window) < 4*500*time.Millisecond; time.Sleep(50 * time.Millisecond) {
		if got, err := lookup(udp, name, dns.TypeA); err != nil || got != "127.0.40.2" {
			t.Fatalf("answered %q (%v) once the alert was silenced", got, err)
		}
	}
	am.expire(t, silence)
	am.waitState(t, "active")

	// Prometheus resolves the alert: endsAt now.
	am.postAlert(t, labels, start, time.Now())
	took = waitAnswer(t, udp, name, "127.0.40.1", 10*time.Second)
	t.Logf("resolution to failback: %v", took)
	statusWait(t, statusAddr, func(r *statusReport) string {
		if n := r.name(name); n == nil || len(n.Pools[0].Alerts) != 0 {
			return "the resolved alert still holds the primary"
		}
		return ""
	})
	if strings.Contains(am.logText(), "Notify for alerts failed") {
		t.Errorf("alertmanager failed to notify:\n%s", am.logText())
	}
}

// TestAlertmanagerRepeatsAfterRestart shows what a restart loses: the alerts
// pushed before it. A new CoreDNS answers as if no alert fired until
// Alertmanager sends the firing alert again, after its repeat_interval.
func TestAlertmanagerRepeatsAfterRestart(t *testing.T) {
	backends := startBackends(t, "127.0.40.3", "127.0.40.4")
	statusAddr := freeTCPAddr(t, "127.0.40.9")
	token := filepath.Join(t.TempDir(), "token")
	writeFile(t, token, "an-alertmanager-token\n")
	corefile := fmt.Sprintf(`.:0 {
	failover app.example.org {
		primary   127.0.40.3
		secondary 127.0.40.4
		check     http://:%d/health
		interval  100ms
		timeout   50ms
		status    %s
		alert     alertname=AppDown 127.0.40.3
		alert_token_file %s
	}
}`, backends[0].port, statusAddr, token)
	const name, repeat = "app.example.org.", 2 * time.Second
	am := startAlertmanager(t, "127.0.40.10", receiverConfig(statusAddr, token, repeat))

	first, udp, _, err := test.CoreDNSServerAndPorts(corefile)
	if err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, udp, name, "127.0.40.3", 2*time.Second)
	am.postAlert(t, map[string]string{"alertname": "AppDown"}, time.Now(), time.Now().Add(time.Hour))
	waitAnswer(t, udp, name, "127.0.40.4", 5*time.Second)
	first.Stop()
	first.ShutdownCallbacks()

	second, udp, _, err := test.CoreDNSServerAndPorts(corefile)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		second.Stop()
		second.ShutdownCallbacks()
	}()
	restarted := time.Now()
	waitAnswer(t, udp, name, "127.0.40.3", 2*time.Second)
	// A repeat is sent at the first flush of the group (every
	// group_interval) after repeat_interval has passed.
	waitAnswer(t, udp, name, "127.0.40.4", repeat+500*time.Millisecond+3*time.Second)
	t.Logf("restart to the firing alert sent again: %v (repeat_interval %v)", time.Since(restarted), repeat)
}

// receiverConfig is an Alertmanager configuration that sends every alert,
// grouped by name and flushed quickly, to the webhook at statusAddr with the
// token in the file token, resolutions included, again every repeat.
func receiverConfig(statusAddr, token string, repeat time.Duration) string {
	return fmt.Sprintf(`route:
  receiver: failover
  group_by: [alertname]
  group_wait: 100ms
  group_interval: 500ms
  repeat_interval: %s
receivers:
  - name: failover
    webhook_configs:
      - url: http://%s/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials_file: %s
`, amDuration(repeat), statusAddr, token)
}

// amDuration writes d as Alertmanager's durations are written: 2s, 1h.
func amDuration(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// yamlBlocks returns the bodies of the ```yaml blocks of a Markdown file.
func yamlBlocks(t *testing.T, path string) []string {
	t.Helper()
	return fencedBlocks(t, path, "```yaml", "```")
}

// TestDocumentedAlertmanagerConfig loads the receiver configuration of
// docs/alertmanager.md into amtool check-config and a real Alertmanager.
func TestDocumentedAlertmanagerConfig(t *testing.T) {
	blocks := yamlBlocks(t, "../docs/alertmanager.md")
	if len(blocks) != 1 {
		t.Fatalf("found %d yaml blocks in docs/alertmanager.md, want 1", len(blocks))
	}
	if !strings.Contains(blocks[0], "send_resolved: true") || !strings.Contains(blocks[0], "/alertmanager") {
		t.Fatalf("the documented receiver does not send resolved alerts to /alertmanager:\n%s", blocks[0])
	}
	if amtool, err := exec.LookPath("amtool"); err == nil {
		path := filepath.Join(t.TempDir(), "alertmanager.yml")
		writeFile(t, path, blocks[0])
		if out, err := exec.Command(amtool, "check-config", path).CombinedOutput(); err != nil {
			t.Errorf("amtool check-config: %v\n%s", err, out)
		}
	}
	am := startAlertmanager(t, "127.0.40.10", blocks[0])
	resp, err := http.Get("http://" + am.addr + "/api/v2/receivers")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var receivers []struct{ Name string }
	if err := json.NewDecoder(resp.Body).Decode(&receivers); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(receivers) != "[{default} {coredns-failover}]" {
		t.Errorf("receivers loaded: %v", receivers)
	}
}
