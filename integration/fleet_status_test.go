package integration

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fleet returns the fleet of the first name that has one.
func (r *statusReport) fleet() *statusFleet {
	for _, n := range r.Names {
		if n.Fleet != nil {
			return n.Fleet
		}
	}
	return nil
}

// endpoints returns every endpoint of every name by address (an address in
// two names' pools is one endpoint, probed once).
func (r *statusReport) endpoints() map[string]statusEndpoint {
	eps := map[string]statusEndpoint{}
	for _, n := range r.Names {
		for _, p := range n.Pools {
			for _, e := range p.Endpoints {
				eps[e.Address] = e
			}
		}
	}
	return eps
}

// freshPeers returns the identities of the other replicas of the group
// whose Leases are fresh.
func (f *statusFleet) freshPeers() []string {
	var ids []string
	for _, r := range f.Replicas {
		if r.Fresh {
			ids = append(ids, r.Identity)
		}
	}
	return ids
}

// fleetWait polls the status of every replica until what returns "" for
// each, and fails the test with the last problem after within. It returns
// the reports that satisfied it, in the order of replicas.
func fleetWait(t *testing.T, within time.Duration, replicas []*replica, what func(r *replica, rep *statusReport) string) []*statusReport {
	t.Helper()
	deadline := time.Now().Add(within)
	var problem, body string
	for {
		reports := make([]*statusReport, len(replicas))
		problem, body = "", ""
		for i, r := range replicas {
			rep, b, err := statusGet(r.status)
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

// settled reports "" when rep shows the group shared by exactly the
// replicas, each fresh, and every endpoint probed by want of them, and what
// differs otherwise.
func settled(rep *statusReport, replicas []*replica, want int) string {
	f := rep.fleet()
	if f == nil {
		return "no fleet in the status"
	}
	if f.Mode != "shared" {
		return "mode " + f.Mode
	}
	if fresh := f.freshPeers(); len(fresh) != len(replicas)-1 {
		return fmt.Sprintf("fresh peers %v, want the %d others", fresh, len(replicas)-1)
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

// waitSum polls a replica's metrics until the series matching pattern add
// up to want, and fails the test with the last sum after 10s.
func waitSum(t *testing.T, r *replica, pattern string, want float64) {
	t.Helper()
	var sum float64
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if text, err := metricsGet(r.metrics); err == nil {
			if sum, _ = sumSeries(text, pattern); sum == want {
				return
			}
		}
		time.Sleep(observePeriod)
	}
	t.Fatalf("%s: the series %s add up to %v, want %v", r.identity, pattern, sum, want)
}
