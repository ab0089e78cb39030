package integration

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFleetSharesAlerts posts Alertmanager's webhook to one replica of a
// fleet, as Alertmanager does through the Service in front of them: the
// other replica fails over too, through the Leases; and the resolution,
// posted to the other replica, brings both back.
func TestFleetSharesAlerts(t *testing.T) {
	cluster, kubeconfig := fleetCluster(t)
	backends := startBackends(t, "127.0.40.21", "127.0.40.22")
	token := filepath.Join(t.TempDir(), "token")
	writeFile(t, token, "a-fleet-token\n")
	spec := fleetSpec{group: fleetNS + "/alerts", kubeconfig: kubeconfig, blocks: fmt.Sprintf(`	failover app.example.org {
		primary   127.0.40.21
		secondary 127.0.40.22
		check     http://:%d/health
		interval  %s
		timeout   %s
		alert     alertname=AppDown app.example.org/primary
		alert_token_file %s
		{{replica}}
	}`, backends[0].port, fleetInterval, fleetTimeout, token)}
	replicas := startFleet(t, spec, "127.0.40.31", "127.0.40.32")
	const name = "app.example.org."
	for _, r := range replicas {
		waitAnswer(t, r.dns, name, "127.0.40.21", 10*time.Second)
	}

	startsAt := time.Now().UTC().Format(time.RFC3339Nano)
	notification := func(status, endsAt string) string {
		return fmt.Sprintf(`{"version": "4", "groupKey": "{}:{alertname=\"AppDown\"}", "truncatedAlerts": 0, "status": %q,
  "receiver": "failover", "groupLabels": {"alertname": "AppDown"}, "commonLabels": {"alertname": "AppDown"},
  "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
  "alerts": [{"status": %q, "labels": {"alertname": "AppDown"}, "annotations": {}, "startsAt": %q,
    "endsAt": %q, "generatorURL": "http://prometheus:9090/graph", "fingerprint": "6a6b6c6d6e6f7071"}]}`, status, status, startsAt, endsAt)
	}
	post := func(r *replica, body string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+r.status+"/alertmanager", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer a-fleet-token")
		resp, err := statusClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: POST /alertmanager: %s", r.identity, resp.Status)
		}
	}

	// A Lease is written within an interval of a change; the other replica
	// reads it at once (a watch).
	post(replicas[0], notification("firing", "0001-01-01T00:00:00Z"))
	waitAnswer(t, replicas[0].dns, name, "127.0.40.22", 2*time.Second)
	took := waitAnswer(t, replicas[1].dns, name, "127.0.40.22", fleetInterval+fleetMargin+time.Second)
	t.Logf("an alert pushed to one replica reached the other in %v", took)

	// A replica that restarts takes the alerts in force back from the
	// others, without waiting for Alertmanager's repeat_interval.
	replicas[0].stop()
	replicas[0] = newReplica(t, "replica-0", "127.0.40.31")
	replicas[0].start(spec, nil)
	replicas[0].waitServing()
	took = waitAnswer(t, replicas[0].dns, name, "127.0.40.22", fleetInterval+fleetMargin+time.Second)
	t.Logf("a restarted replica took the alert back from the other in %v", took)

	post(replicas[1], notification("resolved", time.Now().UTC().Format(time.RFC3339Nano)))
	waitAnswer(t, replicas[1].dns, name, "127.0.40.21", 2*time.Second)
	took = waitAnswer(t, replicas[0].dns, name, "127.0.40.21", fleetInterval+fleetMargin+time.Second)
	t.Logf("its resolution, pushed to the other replica, reached the first in %v", took)

	stopAll(t, cluster, "alerts", replicas)
}
