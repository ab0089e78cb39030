package integration

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/test"
)

// scrape returns the failover series of a real CoreDNS's metrics endpoint.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "coredns_failover_") {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}

// value returns the value of the series whose name and labels match pattern
// (a regular expression over the series line before the value), or -1.
func value(series, pattern string) float64 {
	m := regexp.MustCompile(`(?m)^` + pattern + ` (\S+)$`).FindStringSubmatch(series)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// waitSeries polls the metrics until pattern has want, or fails.
func waitSeries(t *testing.T, addr, pattern string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var series string
	for time.Now().Before(deadline) {
		series = scrape(t, addr)
		if value(series, pattern) == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s is not %v within 5s; series:\n%s", pattern, want, series)
}

// TestMetrics runs a real CoreDNS with the prometheus plugin: the series show
// the endpoints' health, the active pool, the answers and a failover, and the
// series of a name that left the configuration are gone after a reload.
func TestMetrics(t *testing.T) {
	backends := startBackends(t, "127.0.0.48", "127.0.0.49")
	metricsAddr := freeTCPAddr(t, "127.0.0.47")
	corefile := func(name string) string {
		return fmt.Sprintf(".:0 {\nprometheus %s\nfailover %s {\nprimary 127.0.0.48\nsecondary 127.0.0.49\ncheck http://:%d/health\ninterval 100ms\ntimeout 50ms\nfall 1\nrise 1\n}\n}\n",
			metricsAddr, name, backends[0].port)
	}
	inst, udp, _, err := test.CoreDNSServerAndPorts(corefile("app.example.org"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { inst.Stop(); inst.ShutdownCallbacks() }()

	waitAnswer(t, udp, "app.example.org.", "127.0.0.48", 2*time.Second)
	const name = `name="app.example.org."`
	waitSeries(t, metricsAddr, `coredns_failover_endpoint_healthy\{address="127.0.0.48",`+name+`,pool="primary"\}`, 1)
	waitSeries(t, metricsAddr, `coredns_failover_active_pool\{`+name+`,pool="primary",type="A"\}`, 1)
	waitSeries(t, metricsAddr, `coredns_failover_answers_total\{`+name+`,pool="primary",reason="healthy",server="dns://:\d+"\}`, 1)
	series := scrape(t, metricsAddr)
	if value(series, `coredns_failover_probes_total\{reason="",result="pass"\}`) < 2 ||
		value(series, `coredns_failover_probe_duration_seconds_count\{result="pass"\}`) < 2 {
		t.Errorf("probes not counted:\n%s", series)
	}

	backends[0].set(unavailable)
	waitAnswer(t, udp, "app.example.org.", "127.0.0.49", 2*time.Second)
	waitSeries(t, metricsAddr, `coredns_failover_endpoint_healthy\{address="127.0.0.48",`+name+`,pool="primary"\}`, 0)
	waitSeries(t, metricsAddr, `coredns_failover_active_pool\{`+name+`,pool="secondary",type="A"\}`, 1)
	waitSeries(t, metricsAddr, `coredns_failover_failovers_total\{`+name+`,type="A"\}`, 1)
	waitSeries(t, metricsAddr, `coredns_failover_answers_total\{`+name+`,pool="secondary",reason="failover",server="dns://:\d+"\}`, 1)
	if v := value(scrape(t, metricsAddr), `coredns_failover_probes_total\{reason="status",result="fail"\}`); v < 1 {
		t.Errorf("failed probes not counted by reason: %v", v)
	}

	// Another name: the old name's series go, the new one's come.
	next, err := inst.Restart(test.NewInput(corefile("api.example.org")))
	if err != nil {
		t.Fatal(err)
	}
	inst = next
	waitSeries(t, metricsAddr, `coredns_failover_endpoint_healthy\{address="127.0.0.49",name="api.example.org.",pool="secondary"\}`, 1)
	if series := scrape(t, metricsAddr); strings.Contains(series, name) {
		t.Errorf("series of a name that left the configuration remain:\n%s", series)
	}
}
