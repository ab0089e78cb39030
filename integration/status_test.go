package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/test"
)

// The status document, as a client reads it: field names as documented.
type statusReport struct {
	Generated     string         `json:"generated"`
	Names         []statusName   `json:"names"`
	OverrideFiles []statusOvFile `json:"override_files"`
}

type statusName struct {
	Name   string                  `json:"name"`
	Server string                  `json:"server"`
	Answer map[string]statusAnswer `json:"answer"`
	Pools  []statusPool            `json:"pools"`
	Fleet  *statusFleet            `json:"fleet"`
}

// statusFleet is a block's fleet, as package fleet reports it.
type statusFleet struct {
	Group    string `json:"group"`
	Identity string `json:"identity"`
	Mode     string `json:"mode"` // shared or alone
	Probers  int    `json:"probers"`
	Quorum   int    `json:"quorum"`
	Replicas []struct {
		Identity     string `json:"identity"`
		Fresh        bool   `json:"fresh"`
		Observations int    `json:"observations"`
	} `json:"replicas"`
}

// statusEndpointFleet is how a member's fleet sees it.
type statusEndpointFleet struct {
	Local   string   `json:"local"`
	Shared  string   `json:"shared"`
	Up      int      `json:"up"`
	Down    int      `json:"down"`
	Probers []string `json:"probers"`
	Probing bool     `json:"probing"`
}

type statusAnswer struct {
	Pool      string      `json:"pool"`
	Reason    string      `json:"reason"`
	Addresses []string    `json:"addresses"`
	Rcode     string      `json:"rcode"`
	Why       string      `json:"why"`
	TTL       uint32      `json:"ttl"`
	TTLWhy    string      `json:"ttl_why"`
	Hold      *statusHold `json:"hold"`
	Order     string      `json:"order"`
	Answers   int         `json:"answers"`
}

// statusHold is a failback hold of an answer.
type statusHold struct {
	Pool       string `json:"pool"`
	Since      string `json:"since"`
	CleanSince string `json:"clean_since"`
	Until      string `json:"until"`
	Release    string `json:"release"`
}

type statusPool struct {
	Name       string           `json:"name"`
	Up         bool             `json:"up"`
	Healthy    int              `json:"healthy"`
	MinHealthy int              `json:"min_healthy"`
	Override   *statusOverride  `json:"override"`
	Alerts     []statusAlert    `json:"alerts"`
	Endpoints  []statusEndpoint `json:"endpoints"`
	Services   []statusService  `json:"services"`
}

type statusService struct {
	Member    string `json:"member"`
	Synced    bool   `json:"synced"`
	Found     bool   `json:"found"`
	Endpoints int    `json:"endpoints"`
	Serving   int    `json:"serving"`
	API       string `json:"api"`
	Source    string `json:"source"`
}

type statusEndpoint struct {
	Address    string               `json:"address"`
	State      string               `json:"state"`
	Counted    string               `json:"counted"`
	Since      string               `json:"since"`
	LastProbe  *statusProbe         `json:"last_probe"`
	Override   *statusOverride      `json:"override"`
	Alerts     []statusAlert        `json:"alerts"`
	CountedWhy string               `json:"counted_why"`
	Service    string               `json:"service"`
	Kubernetes string               `json:"kubernetes"`
	Fleet      *statusEndpointFleet `json:"fleet"`
	RTT        *statusRTT           `json:"rtt"`
	Weight     *int                 `json:"weight"`
}

// statusRTT is the moving average of an endpoint's probe round trips.
type statusRTT struct {
	AverageMS float64 `json:"average_ms"`
	Samples   int     `json:"samples"`
	Window    int     `json:"window"`
}

// statusAlert is an alert in force that holds a pool or an endpoint down.
type statusAlert struct {
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	Since       string            `json:"since"`
	Until       string            `json:"until"`
	Target      string            `json:"target"`
	Line        int               `json:"line"`
}

type statusProbe struct {
	At        string  `json:"at"`
	Result    string  `json:"result"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error"`
}

type statusOverride struct {
	Target string `json:"target"`
	State  string `json:"state"`
	Reason string `json:"reason"`
	File   string `json:"file"`
	Line   int    `json:"line"`
}

type statusOvFile struct {
	File      string   `json:"file"`
	Overrides int      `json:"overrides"`
	BadLines  []string `json:"bad_lines"`
}

func (r *statusReport) name(name string) *statusName {
	for i := range r.Names {
		if r.Names[i].Name == name {
			return &r.Names[i]
		}
	}
	return nil
}

func (n *statusName) endpoint(addr string) *statusEndpoint {
	for _, p := range n.Pools {
		for i := range p.Endpoints {
			if p.Endpoints[i].Address == addr {
				return &p.Endpoints[i]
			}
		}
	}
	return nil
}

// statusClient keeps no connection open between requests: none outlives the test.
var statusClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}

// statusGet returns the status document served at addr.
func statusGet(addr string) (*statusReport, string, error) {
	resp, err := statusClient.Get("http://" + addr + "/status")
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		return nil, string(body), fmt.Errorf("%s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	r := &statusReport{}
	if err := json.Unmarshal(body, r); err != nil {
		return nil, string(body), err
	}
	return r, string(body), nil
}

// statusWait polls the status at addr until what returns "", and fails the
// test with what it last returned if that takes longer than 5s.
func statusWait(t *testing.T, addr string, what func(*statusReport) string) *statusReport {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var problem, body string
	for time.Now().Before(deadline) {
		r, b, err := statusGet(addr)
		body = b
		switch {
		case err != nil:
			problem = err.Error()
		default:
			if problem = what(r); problem == "" {
				return r
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("status at %s within 5s: %s\n%s", addr, problem, body)
	return nil
}

// statusGoroutines counts the goroutines serving a status listener.
func statusGoroutines() int {
	return goroutines("created by github.com/failover-dns/failover.listenStatus")
}

// TestStatusEndpoint runs a real CoreDNS with two server blocks and three
// failover blocks that name one status address: one listener reports them
// all, follows a failover, an override and a reload, keeps answering during
// the reload, and is closed at shutdown with no goroutine left behind.
func TestStatusEndpoint(t *testing.T) {
	backends := startBackends(t, "127.0.0.171", "127.0.0.172", "127.0.0.173", "127.0.0.174")
	statusAddr := freeTCPAddr(t, "127.0.0.170")
	overrides := filepath.Join(t.TempDir(), "overrides")
	block := func(name, primary, extra string) string {
		return fmt.Sprintf("failover %s {\nprimary %s\nsecondary 127.0.0.172\ncheck http://:%d/health\ninterval 100ms\ntimeout 50ms\nfall 1\nrise 1\nstatus %s\n%s}\n",
			name, primary, backends[0].port, statusAddr, extra)
	}
	first := "example.org:0 {\n" + block("app.example.org", "127.0.0.171", "") + block("www.example.org", "127.0.0.173", "") + "}\n" +
		"example.net:0 {\n" + block("app.example.net", "127.0.0.174", "") + "}\n"

	// Warm up once, so that what CoreDNS starts once per process is in the baseline.
	inst, err := test.CoreDNSServer(first)
	if err != nil {
		t.Fatal(err)
	}
	inst.Stop()
	inst.ShutdownCallbacks()
	waitGoroutines(t, "after warm-up", func() bool { return probedEndpoints() == 0 && statusGoroutines() == 0 })
	baseline := runtime.NumGoroutine()

	inst, udp, _, err := test.CoreDNSServerAndPorts(first)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			inst.Stop()
			inst.ShutdownCallbacks()
		}
	}()
	waitAnswer(t, udp, "app.example.org.", "127.0.0.171", 2*time.Second)
	waitAnswer(t, udp, "app.example.net.", "127.0.0.174", 2*time.Second)

	// Every name of both server blocks, from one listener.
	r := statusWait(t, statusAddr, func(r *statusReport) string {
		if len(r.Names) != 3 || r.Names[0].Name != "app.example.net." || r.Names[1].Name != "app.example.org." || r.Names[2].Name != "www.example.org." {
			return fmt.Sprintf("names %+v", r.Names)
		}
		if r.Names[0].Server == r.Names[1].Server || r.Names[1].Server != r.Names[2].Server {
			return fmt.Sprintf("servers %q %q %q: want the names of example.org on one, example.net on another", r.Names[0].Server, r.Names[1].Server, r.Names[2].Server)
		}
		for _, n := range r.Names {
			if a := n.Answer["A"]; a.Pool != "primary" || a.Reason != "healthy" || a.Why != "primary is up: 1 of 1 endpoints healthy" {
				return fmt.Sprintf("%s A %+v", n.Name, a)
			}
		}
		return ""
	})
	for _, n := range r.Names {
		primary := n.Pools[0]
		if !primary.Up || primary.Healthy != 1 || len(primary.Endpoints) != 1 {
			t.Fatalf("%s: primary %+v", n.Name, primary)
		}
		e := primary.Endpoints[0]
		if e.State != "up" || e.Counted != "up" || e.LastProbe == nil || e.LastProbe.Result != "pass" || e.LastProbe.LatencyMS <= 0 || e.LastProbe.Error != "" {
			t.Errorf("%s: healthy endpoint %+v, last probe %+v", n.Name, e, e.LastProbe)
		}
	}

	// A primary fails: its name moves to the secondary.
	backends[0].set(unavailable)
	waitAnswer(t, udp, "app.example.org.", "127.0.0.172", 2*time.Second)
	statusWait(t, statusAddr, func(r *statusReport) string {
		n := r.name("app.example.org.")
		if a := n.Answer["A"]; a.Pool != "secondary" || a.Reason != "failover" || strings.Join(a.Addresses, " ") != "127.0.0.172" ||
			a.Why != "primary is down: 0 of 1 endpoints healthy (min_healthy 1); secondary is up: 1 of 1 endpoints healthy" {
			return fmt.Sprintf("A %+v", a)
		}
		e := n.endpoint("127.0.0.171")
		if e.State != "down" || e.Counted != "down" || e.Since == "" || e.LastProbe == nil || e.LastProbe.Result != "fail" || e.LastProbe.Error != "status 503" {
			return fmt.Sprintf("endpoint %+v, last probe %+v", e, e.LastProbe)
		}
		if a := r.name("www.example.org.").Answer["A"]; a.Pool != "primary" {
			return fmt.Sprintf("www.example.org. A %+v", a)
		}
		return ""
	})

	// Reload: an override file for www.example.org, and a new name. The
	// listener stays through the reload.
	if err := os.WriteFile(overrides, []byte("127.0.0.173 down drill\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	second := "example.org:0 {\n" + block("app.example.org", "127.0.0.171", "") + block("www.example.org", "127.0.0.173", "override "+overrides+"\n") +
		block("api.example.org", "127.0.0.174", "") + "}\n" +
		"example.net:0 {\n" + block("app.example.net", "127.0.0.174", "") + "}\n"
	keepAlive := &http.Transport{}
	defer keepAlive.CloseIdleConnections()
	client := &http.Client{Transport: keepAlive, Timeout: 2 * time.Second}
	if _, err := statusSameConnection(client, statusAddr); err != nil {
		t.Fatal(err)
	}
	next, err := inst.Restart(test.NewInput(second))
	if err != nil {
		t.Fatal(err)
	}
	inst = next
	if reused, err := statusSameConnection(client, statusAddr); err != nil || !reused {
		t.Errorf("after the reload: connection reused %t, error %v; want the listener kept, and its connections", reused, err)
	}
	keepAlive.CloseIdleConnections()
	waitAnswer(t, udp, "www.example.org.", "127.0.0.172", 2*time.Second)
	statusWait(t, statusAddr, func(r *statusReport) string {
		if len(r.Names) != 4 || r.name("api.example.org.") == nil {
			return fmt.Sprintf("names %+v: want those of the new configuration, each once", r.Names)
		}
		n := r.name("www.example.org.")
		if a := n.Answer["A"]; a.Pool != "secondary" || a.Reason != "failover" {
			return fmt.Sprintf("www.example.org. A %+v", a)
		}
		e := n.endpoint("127.0.0.173")
		want := statusOverride{Target: "127.0.0.173", State: "down", Reason: "drill", File: overrides, Line: 1}
		if e.State != "up" || e.Counted != "down" || e.Override == nil || *e.Override != want {
			return fmt.Sprintf("overridden endpoint %+v, override %+v", e, e.Override)
		}
		if len(r.OverrideFiles) != 1 || r.OverrideFiles[0].File != overrides || r.OverrideFiles[0].Overrides != 1 {
			return fmt.Sprintf("override files %+v", r.OverrideFiles)
		}
		return ""
	})

	inst.Stop()
	inst.ShutdownCallbacks()
	stopped = true
	if conn, err := net.DialTimeout("tcp", statusAddr, time.Second); err == nil {
		conn.Close()
		t.Error("the status address is still listened on after shutdown")
	}
	waitGoroutines(t, "after shutdown", func() bool {
		return probedEndpoints() == 0 && followGoroutines() == 0 && statusGoroutines() == 0 && runtime.NumGoroutine() <= baseline
	})
}

// statusSameConnection gets the status at addr on a keep-alive connection, and
// reports whether it reused the connection of the previous call: a status
// listener closed and opened again would have closed it.
func statusSameConnection(client *http.Client, addr string) (bool, error) {
	reused := false
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, "http://"+addr+"/status", nil)
	if err != nil {
		return false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return false, err
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("%s", resp.Status)
	}
	return reused, nil
}
