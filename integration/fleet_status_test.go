package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// What the status document says of a fleet, as a client reads it: the
// group under "fleet" of each name, and each endpoint's votes under "fleet"
// of the endpoint.
type fleetReport struct {
	Names []fleetName `json:"names"`
}

type fleetName struct {
	Name  string      `json:"name"`
	Fleet *fleetGroup `json:"fleet"`
	Pools []struct {
		Name      string          `json:"name"`
		Endpoints []fleetEndpoint `json:"endpoints"`
	} `json:"pools"`
}

type fleetGroup struct {
	Group    string `json:"group"`
	Identity string `json:"identity"`
	Mode     string `json:"mode"`
	Since    string `json:"since"`
	Probers  int    `json:"probers"`
	Quorum   int    `json:"quorum"`
	Replicas []struct {
		Identity     string `json:"identity"`
		Fresh        bool   `json:"fresh"`
		Observations int    `json:"observations"`
	} `json:"replicas"`
	Lease struct {
		Renewed string `json:"renewed"`
		Writes  int    `json:"writes"`
		Bytes   int    `json:"bytes"`
	} `json:"lease"`
}

type fleetEndpoint struct {
	Address string `json:"address"`
	State   string `json:"state"`
	Fleet   *struct {
		Local   string   `json:"local"`
		Shared  string   `json:"shared"`
		Up      int      `json:"up"`
		Down    int      `json:"down"`
		Probers []string `json:"probers"`
		Probing bool     `json:"probing"`
	} `json:"fleet"`
}

// group returns the fleet of the first name that has one.
func (r *fleetReport) group() *fleetGroup {
	for _, n := range r.Names {
		if n.Fleet != nil {
			return n.Fleet
		}
	}
	return nil
}

// endpoints returns every endpoint of every name by address (an address in
// two names' pools is one endpoint, probed once).
func (r *fleetReport) endpoints() map[string]fleetEndpoint {
	eps := map[string]fleetEndpoint{}
	for _, n := range r.Names {
		for _, p := range n.Pools {
			for _, e := range p.Endpoints {
				eps[e.Address] = e
			}
		}
	}
	return eps
}

// freshReplicas returns the identities of the group's fresh replicas,
// this one included.
func (g *fleetGroup) freshReplicas() []string {
	var ids []string
	for _, r := range g.Replicas {
		if r.Fresh {
			ids = append(ids, r.Identity)
		}
	}
	return ids
}

// fleetStatusGet returns the status document served at addr.
func fleetStatusGet(addr string) (*fleetReport, string, error) {
	resp, err := statusClient.Get("http://" + addr + "/status")
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, string(body), fmt.Errorf("%s", resp.Status)
	}
	r := &fleetReport{}
	if err := json.Unmarshal(body, r); err != nil {
		return nil, string(body), err
	}
	return r, string(body), nil
}

// fleetWait polls the status of every replica until what returns "" for
// each, and fails the test with the last problem after within. It returns
// the reports that satisfied it, in the order of replicas.
func fleetWait(t *testing.T, within time.Duration, replicas []*replica, what func(r *replica, rep *fleetReport) string) []*fleetReport {
	t.Helper()
	deadline := time.Now().Add(within)
	var problem, body string
	for {
		reports := make([]*fleetReport, len(replicas))
		problem, body = "", ""
		for i, r := range replicas {
			rep, b, err := fleetStatusGet(r.status)
			if err != nil {
				problem, body = fmt.Sprintf("%s: %v", r.identity, err), b
				break
			}
			if p := what(r, rep); p != "" {
				problem, body = r.identity+": "+p, b
				break
			}
			reports[i] = rep
		}
		if problem == "" {
			return reports
		}
		if time.Now().After(deadline) {
			t.Fatalf("fleet status within %v: %s\n%s", within, problem, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settled reports "" when rep shows the fleet shared by exactly the
// replicas, each fresh, and every endpoint probed by want of them, and what
// differs otherwise.
func settled(rep *fleetReport, replicas []*replica, want int) string {
	g := rep.group()
	if g == nil {
		return "no fleet in the status"
	}
	if g.Mode != "shared" {
		return "mode " + g.Mode
	}
	fresh := g.freshReplicas()
	if len(fresh) != len(replicas) {
		return fmt.Sprintf("fresh replicas %v, want %d", fresh, len(replicas))
	}
	for addr, e := range rep.endpoints() {
		if e.Fleet == nil {
			return addr + " has no fleet status"
		}
		if len(e.Fleet.Probers) != want {
			return fmt.Sprintf("%s probed by %v, want %d replicas", addr, e.Fleet.Probers, want)
		}
	}
	return ""
}

// metricsGet returns the whole metrics text a replica serves.
func metricsGet(addr string) (string, error) {
	resp, err := statusClient.Get("http://" + addr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// goroutineDump returns the stacks of every goroutine of a replica, from
// its pprof endpoint.
func goroutineDump(addr string) (string, error) {
	resp, err := statusClient.Get("http://" + addr + "/debug/pprof/goroutine?debug=2")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// countGoroutines counts the goroutines of dump (debug=2: one block of
// lines each) whose stack mentions frame.
func countGoroutines(dump, frame string) int {
	n := 0
	for _, g := range strings.Split(dump, "\n\n") {
		if strings.Contains(g, frame) {
			n++
		}
	}
	return n
}

// sumSeries sums the values of the series of text whose line matches
// pattern (a regular expression over the name and labels), and reports
// whether any did.
func sumSeries(text, pattern string) (float64, bool) {
	re := regexp.MustCompile(`^` + pattern + ` (\S+)$`)
	sum, found := 0.0, false
	for _, line := range strings.Split(text, "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			sum, found = sum+v, true
		}
	}
	return sum, found
}
