package failover

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

// The status tests probe real endpoints: tcp checks of 127.0.0.161 and
// 127.0.0.163, which statusUp listens on, pass; of 127.0.0.162 and
// 127.0.0.164, where nothing listens, they are refused.

// statusUp listens on each of ips, all on one port, and returns the port.
func statusUp(t *testing.T, ips ...string) int {
	t.Helper()
	for range 20 {
		port, listeners := 0, []net.Listener(nil)
		for _, ip := range ips {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(port)))
			if err != nil {
				break
			}
			port = ln.Addr().(*net.TCPAddr).Port
			listeners = append(listeners, ln)
		}
		if len(listeners) == len(ips) {
			for _, ln := range listeners {
				go func() {
					for {
						conn, err := ln.Accept()
						if err != nil {
							return
						}
						conn.Close()
					}
				}()
				t.Cleanup(func() { ln.Close() })
			}
			return port
		}
		for _, ln := range listeners {
			ln.Close()
		}
	}
	t.Fatalf("no port free on all of %v", ips)
	return 0
}

// statusFreeAddr returns an address on ip that nothing listens on.
func statusFreeAddr(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startStatusFailover starts the failover blocks of corefile as those of a
// server block with keys server, and returns the instance and what stops
// it, which the test's cleanup also calls.
func startStatusFailover(t *testing.T, server, corefile string) (*Failover, func()) {
	t.Helper()
	c := caddy.NewTestController("dns", corefile)
	c.ServerBlockKeys = []string{server}
	f, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.OnStartup(); err != nil {
		t.Fatal(err)
	}
	stop := sync.OnceFunc(func() { f.OnShutdown() })
	t.Cleanup(stop)
	return f, stop
}

// statusClient keeps no connection between requests: a closed status
// listener refuses the next one.
var statusClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}

func statusGet(t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return statusDo(t, req)
}

// statusDo sends req to a status listener and returns the response and its body.
func statusDo(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := statusClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// statusAt returns the status document served at addr with query.
func statusAt(t *testing.T, addr, query string) *statusDoc {
	t.Helper()
	resp, body := statusGet(t, http.MethodGet, "http://"+addr+"/status"+query)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s%s: %s\n%s", addr, query, resp.Status, body)
	}
	doc := &statusDoc{}
	if err := json.Unmarshal([]byte(body), doc); err != nil {
		t.Fatalf("%v:\n%s", err, body)
	}
	return doc
}

func (d *statusDoc) name(t *testing.T, name string) nameStatus {
	t.Helper()
	for _, n := range d.Names {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("%s not reported; names: %v", name, d.names())
	return nameStatus{}
}

func (d *statusDoc) names() []string {
	var names []string
	for _, n := range d.Names {
		names = append(names, n.Name)
	}
	return names
}

func (n nameStatus) endpoint(t *testing.T, pool, addr string) endpointStatus {
	t.Helper()
	for _, p := range n.Pools {
		for _, e := range p.Endpoints {
			if p.Name == pool && e.Address == addr {
				return e
			}
		}
	}
	t.Fatalf("%s: no endpoint %s in pool %s", n.Name, addr, pool)
	return endpointStatus{}
}

// refused reports whether nothing listens at addr any more.
func statusRefused(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
	}
	return err != nil
}

func TestStatusDocument(t *testing.T) {
	port := statusUp(t, "127.0.0.161", "127.0.0.163")
	addr := statusFreeAddr(t, "127.0.0.165")
	overrides := filepath.Join(t.TempDir(), "overrides")
	if err := os.WriteFile(overrides, []byte("192.0.2.1 drain rack 4\nwww.example.org/secondary down drill\n192.0.2.3 sideways\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, _ := startStatusFailover(t, "dns://.:53", fmt.Sprintf(`
failover www.example.org app.example.org {
	primary   192.0.2.1@127.0.0.161 192.0.2.2@127.0.0.162
	secondary 198.51.100.1@127.0.0.163 2001:db8::51@127.0.0.163:%[1]d
	check     tcp://:%[1]d
	interval  1m
	override  %[2]s
	status    %[3]s
}
failover unreported.example.org {
	primary   127.0.0.161
	check     tcp://:%[1]d
	interval  1m
}`, port, overrides, addr))
	before := time.Now()
	doc := statusAt(t, addr, "")

	if generated, err := time.Parse(time.RFC3339Nano, doc.Generated); err != nil || generated.Before(before.Add(-time.Second)) {
		t.Errorf("generated %q: %v", doc.Generated, err)
	}
	if got := strings.Join(doc.names(), " "); got != "app.example.org. www.example.org." {
		t.Errorf("names %q, want the names of the block with a status line, sorted", got)
	}

	app := doc.name(t, "app.example.org.")
	if app.Server != "dns://.:53" || f.server != app.Server {
		t.Errorf("server %q, want the server block's keys", app.Server)
	}
	wantA := answerStatus{Pool: "secondary", Reason: "failover", Addresses: []string{"198.51.100.1"}, Rcode: "NOERROR",
		Why: "primary is down: 0 of 2 endpoints healthy (min_healthy 1); secondary is up: 2 of 2 endpoints healthy"}
	wantAAAA := answerStatus{Pool: "secondary", Reason: "healthy", Addresses: []string{"2001:db8::51"}, Rcode: "NOERROR",
		Why: "primary has no IPv6 address; secondary is up: 2 of 2 endpoints healthy"}
	checkStatusAnswer(t, app, "A", wantA)
	checkStatusAnswer(t, app, "AAAA", wantAAAA)

	primary := app.Pools[0]
	if primary.Name != "primary" || primary.Up || primary.Healthy != 0 || primary.MinHealthy != 1 || primary.Override != nil || len(primary.Endpoints) != 2 {
		t.Errorf("primary %+v", primary)
	}
	// Up, but drained by an override of its address.
	drained := app.endpoint(t, "primary", "192.0.2.1")
	wantOverride := overrideStatus{Target: "192.0.2.1", State: "drain", Reason: "rack 4", File: overrides, Line: 1}
	if drained.State != "up" || drained.Counted != "drained" || drained.CheckAddress != "127.0.0.161" ||
		drained.Override == nil || *drained.Override != wantOverride || drained.Since == "" {
		t.Errorf("drained endpoint %+v, override %+v", drained, drained.Override)
	}
	if p := drained.LastProbe; p == nil || p.Result != "pass" || p.Error != "" || p.LatencyMS <= 0 || p.At == "" {
		t.Errorf("last probe of an endpoint that passed: %+v", p)
	}
	down := app.endpoint(t, "primary", "192.0.2.2")
	if down.State != "down" || down.Counted != "down" || down.Override != nil || down.Since == "" {
		t.Errorf("endpoint down %+v", down)
	}
	if p := down.LastProbe; p == nil || p.Result != "fail" || p.Error != "connection refused" {
		t.Errorf("last probe of an endpoint refused: %+v", p)
	}
	if e := app.endpoint(t, "secondary", "2001:db8::51"); e.CheckAddress != fmt.Sprintf("127.0.0.163:%d", port) || e.State != "up" || e.Counted != "up" {
		t.Errorf("endpoint checked at another address and port: %+v", e)
	}

	// The same block, and a pool override of this name only.
	www := doc.name(t, "www.example.org.")
	checkStatusAnswer(t, www, "A", answerStatus{Pool: "primary", Reason: "all_down primary", Addresses: []string{"192.0.2.2"}, Rcode: "NOERROR",
		Why: "every pool is down; all_down primary answers primary's addresses as if healthy; primary is down: 0 of 2 endpoints healthy (min_healthy 1); secondary is overridden down (drill)"})
	secondary := www.Pools[1]
	wantPoolOverride := overrideStatus{Target: "www.example.org/secondary", State: "down", Reason: "drill", File: overrides, Line: 2}
	if secondary.Up || secondary.Override == nil || *secondary.Override != wantPoolOverride {
		t.Errorf("overridden pool %+v, override %+v", secondary, secondary.Override)
	}
	if e := www.endpoint(t, "secondary", "198.51.100.1"); e.State != "up" || e.Counted != "down" || e.Override == nil || *e.Override != wantPoolOverride {
		t.Errorf("endpoint of an overridden pool %+v", e)
	}

	want := []overrideFileStatus{{File: overrides, Overrides: 2, BadLines: []string{"line 3: unknown state 'sideways': want up, down, drain or release"}}}
	if fmt.Sprint(doc.OverrideFiles) != fmt.Sprint(want) {
		t.Errorf("override files %+v, want %+v", doc.OverrideFiles, want)
	}
}

func checkStatusAnswer(t *testing.T, n nameStatus, qtype string, want answerStatus) {
	t.Helper()
	got, ok := n.Answer[qtype]
	if !ok {
		t.Errorf("%s %s: no answer reported; want %+v", n.Name, qtype, want)
		return
	}
	if want.TTL == 0 {
		want.TTL = defaultTTL // the block gives none
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("%s %s:\n got %+v\nwant %+v", n.Name, qtype, got, want)
	}
}

// TestStatusWhy checks the sentence that explains each answer: a block per case.
func TestStatusWhy(t *testing.T) {
	port := statusUp(t, "127.0.0.161", "127.0.0.163")
	addr := statusFreeAddr(t, "127.0.0.165")
	overrides := filepath.Join(t.TempDir(), "overrides")
	err := os.WriteFile(overrides, []byte(`
overridden.example.org/primary down drill
drained.example.org/primary    drain maintenance
forced.example.org/primary     up forced
192.0.2.99                     drain
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	const (
		up1, up2     = "192.0.2.1@127.0.0.161", "198.51.100.1@127.0.0.163"
		down1, down2 = "192.0.2.2@127.0.0.162", "198.51.100.2@127.0.0.164"
	)
	tests := []struct {
		name, pools string
		qtype       string
		want        string
	}{
		{"healthy", "primary " + up1 + " " + up2, "A",
			"primary is up: 2 of 2 endpoints healthy"},
		{"partly", "primary " + up1 + " " + down1, "A",
			"primary is up: 1 of 2 endpoints healthy"},
		{"minhealthy", "primary " + up1 + " " + down1 + "\nsecondary " + up2 + "\nmin_healthy primary 2", "A",
			"primary is down: 1 of 2 endpoints healthy (min_healthy 2); secondary is up: 1 of 1 endpoints healthy"},
		{"upminhealthy", "primary " + up1 + " " + up2 + "\nmin_healthy primary 2", "A",
			"primary is up: 2 of 2 endpoints healthy (min_healthy 2)"},
		{"failover", "primary " + down1 + "\nsecondary " + down2 + "\npool third " + up2, "A",
			"primary is down: 0 of 1 endpoints healthy (min_healthy 1); secondary is down: 0 of 1 endpoints healthy (min_healthy 1); third is up: 1 of 1 endpoints healthy"},
		{"overridden", "primary " + up1 + "\nsecondary " + up2, "A",
			"primary is overridden down (drill); secondary is up: 1 of 1 endpoints healthy"},
		{"drained", "primary " + up1 + "\nsecondary " + up2, "A",
			"primary is drained by override (maintenance); secondary is up: 1 of 1 endpoints healthy"},
		{"forced", "primary " + down1 + "\nsecondary " + up2, "A",
			"primary is overridden up (forced)"},
		{"nov6", "primary " + up1 + "\nsecondary 2001:db8::51@127.0.0.163", "AAAA",
			"primary has no IPv6 address; secondary is up: 1 of 1 endpoints healthy"},
		{"mixed", "primary " + up1 + " 2001:db8::1@127.0.0.162\nsecondary 2001:db8::51@127.0.0.163", "AAAA",
			"primary is up, but none of its IPv6 addresses is healthy; secondary is up: 1 of 1 endpoints healthy"},
		{"mixedalone", "primary " + up1 + " 2001:db8::1@127.0.0.162", "AAAA",
			"no pool has a healthy IPv6 address; all_down primary answers primary's addresses as if healthy; primary is up, but none of its IPv6 addresses is healthy"},
		{"primary", "primary " + down1 + "\nsecondary " + down2, "A",
			"every pool is down; all_down primary answers primary's addresses as if healthy; primary is down: 0 of 1 endpoints healthy (min_healthy 1); secondary is down: 0 of 1 endpoints healthy (min_healthy 1)"},
		{"all", "primary " + down1 + "\nsecondary " + down2 + "\nall_down all", "A",
			"every pool is down; all_down all answers every pool's addresses; primary is down: 0 of 1 endpoints healthy (min_healthy 1); secondary is down: 0 of 1 endpoints healthy (min_healthy 1)"},
		{"servfail", "primary " + down1 + "\nall_down servfail", "A",
			"every pool is down; all_down servfail answers SERVFAIL; primary is down: 0 of 1 endpoints healthy (min_healthy 1)"},
		{"nodata", "primary " + down1 + "\nall_down nodata", "A",
			"every pool is down; all_down nodata answers no address (NODATA); primary is down: 0 of 1 endpoints healthy (min_healthy 1)"},
		{"alldrained", "primary 192.0.2.99@127.0.0.162", "A",
			"every pool is down; all_down primary answers no address: every one is drained; primary is down: 0 of 1 endpoints healthy (min_healthy 1)"},
	}
	var corefile strings.Builder
	for _, tc := range tests {
		fmt.Fprintf(&corefile, "failover %s.example.org {\n%s\ncheck tcp://:%d\ninterval 1m\noverride %s\nstatus %s\n}\n", tc.name, tc.pools, port, overrides, addr)
	}
	startStatusFailover(t, "dns://.:53", corefile.String())
	doc := statusAt(t, addr, "")
	for _, tc := range tests {
		n := doc.name(t, tc.name+".example.org.")
		if got := n.Answer[tc.qtype].Why; got != tc.want {
			t.Errorf("%s %s:\n got %q\nwant %q", tc.name, tc.qtype, got, tc.want)
		}
	}
	if a := doc.name(t, "servfail.example.org.").Answer["A"]; a.Rcode != "SERVFAIL" || a.Pool != "" || len(a.Addresses) != 0 {
		t.Errorf("all_down servfail: %+v", a)
	}
	if _, ok := doc.name(t, "healthy.example.org.").Answer["AAAA"]; ok {
		t.Error("an AAAA answer is reported for a name without IPv6 addresses: its AAAA queries are not failover's")
	}
}

func TestStatusHTTP(t *testing.T) {
	port := statusUp(t, "127.0.0.161")
	addr := statusFreeAddr(t, "127.0.0.165")
	startStatusFailover(t, "dns://.:53", fmt.Sprintf("failover app.example.org www.example.org {\nprimary 127.0.0.161\ncheck tcp://:%d\ninterval 1m\nstatus %s\n}", port, addr))
	base := "http://" + addr

	for _, path := range []string{"/", "/status"} {
		resp, body := statusGet(t, http.MethodGet, base+path)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: %s, headers %v", path, resp.Status, resp.Header)
		}
		if !strings.HasPrefix(body, "{\n  \"generated\": ") || !strings.HasSuffix(body, "}\n") {
			t.Errorf("GET %s: not indented JSON:\n%s", path, body)
		}
	}
	if resp, body := statusGet(t, http.MethodHead, base+"/status"); resp.StatusCode != http.StatusOK || body != "" {
		t.Errorf("HEAD: %s, body %q", resp.Status, body)
	}
	if resp, _ := statusGet(t, http.MethodPost, base+"/status"); resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "GET") {
		t.Errorf("POST: %s, Allow %q", resp.Status, resp.Header.Get("Allow"))
	}
	for _, path := range []string{"/metrics", "/status/app.example.org", "/statusx"} {
		if resp, _ := statusGet(t, http.MethodGet, base+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}

	for _, query := range []string{"?name=www.example.org", "?name=WWW.Example.ORG.", "?name=www.example.org&other=1"} {
		if got := statusAt(t, addr, query).names(); !slices.Equal(got, []string{"www.example.org."}) {
			t.Errorf("%s: names %v", query, got)
		}
	}
	resp, body := statusGet(t, http.MethodGet, base+"/status?name=other.example.org")
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(body, `"error": "name other.example.org. is not reported at this address"`) {
		t.Errorf("a name not reported: %s\n%s", resp.Status, body)
	}
}

// TestStatusSharedListener starts instances that name the same status
// address, as several server blocks and a reload do: they share one listener,
// which the last one to stop closes.
func TestStatusSharedListener(t *testing.T) {
	port := statusUp(t, "127.0.0.161")
	shared, own := statusFreeAddr(t, "127.0.0.165"), statusFreeAddr(t, "127.0.0.166")
	block := func(name, addr string) string {
		return fmt.Sprintf("failover %s {\nprimary 127.0.0.161\ncheck tcp://:%d\ninterval 1m\nstatus %s\n}\n", name, port, addr)
	}
	listeners := func() int {
		statusServers.Lock()
		defer statusServers.Unlock()
		return len(statusServers.byAddr)
	}
	reported := func(addr string) string {
		var names []string
		for _, n := range statusAt(t, addr, "").Names {
			names = append(names, n.Name+"@"+n.Server)
		}
		return strings.Join(names, " ")
	}

	// Two server blocks; one instance has a block at another address, and one without any.
	a, stopA := startStatusFailover(t, "dns://.:53", block("app.example.org", shared)+block("own.example.org", own)+
		fmt.Sprintf("failover none.example.org {\nprimary 127.0.0.161\ncheck tcp://:%d\ninterval 1m\n}\n", port))
	_, stopB := startStatusFailover(t, "dns://example.net:53", block("app.example.net", shared))
	if n := listeners(); n != 2 {
		t.Errorf("%d listeners, want one per address", n)
	}
	if got := reported(shared); got != "app.example.net.@dns://example.net:53 app.example.org.@dns://.:53" {
		t.Errorf("at the shared address: %s", got)
	}
	if got := reported(own); got != "own.example.org.@dns://.:53" {
		t.Errorf("at the other address: %s", got)
	}

	// A reload: the new instance of the first server block starts before the
	// old one stops. Until it has judged its endpoints, the old one is reported.
	early, err := parse(func() *caddy.Controller {
		c := caddy.NewTestController("dns", block("api.example.org", shared))
		c.ServerBlockKeys = []string{"dns://.:53"}
		return c
	}())
	if err != nil {
		t.Fatal(err)
	}
	if err := joinStatus(shared, early); err != nil {
		t.Fatal(err)
	}
	if got := reported(shared); got != "app.example.net.@dns://example.net:53 app.example.org.@dns://.:53" {
		t.Errorf("with a new instance not started yet: %s", got)
	}
	early.stopStatus()
	early.stopStatus()
	_, stopC := startStatusFailover(t, "dns://.:53", block("api.example.org", shared))
	if got := reported(shared); got != "api.example.org.@dns://.:53 app.example.net.@dns://example.net:53" {
		t.Errorf("during a reload: %s", got)
	}
	stopA()
	a.stopStatus() // again
	if got := reported(shared); got != "api.example.org.@dns://.:53 app.example.net.@dns://example.net:53" {
		t.Errorf("after the old instance stopped: %s", got)
	}
	if !statusRefused(own) {
		t.Error("the address only the old instance had is still listened on")
	}

	stopB()
	if got := reported(shared); got != "api.example.org.@dns://.:53" {
		t.Errorf("after the other server block stopped: %s", got)
	}
	stopC()
	if !statusRefused(shared) {
		t.Error("the last instance stopped, and its status address is still listened on")
	}
	if n := listeners(); n != 0 {
		t.Errorf("%d listeners left", n)
	}
	if n := statusGoroutines(); n != 0 {
		t.Errorf("%d status server goroutines left", n)
	}
}

// statusGoroutines counts the goroutines serving a status listener.
func statusGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "created by github.com/failover-dns/failover.listenStatus")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestStatusListenConflict starts an instance whose second status address is
// taken: startup fails with an error naming it, and the first address is not
// left listened on.
func TestStatusListenConflict(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.166:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free := statusFreeAddr(t, "127.0.0.165")
	f, err := parse(caddy.NewTestController("dns", fmt.Sprintf(`
failover app.example.org {
	primary 127.0.0.161
	check   tcp://:80
	status  %s
}
failover www.example.org {
	primary 127.0.0.161
	check   tcp://:80
	status  %s
}`, free, taken.Addr())))
	if err != nil {
		t.Fatal(err)
	}
	err = f.OnStartup()
	want := fmt.Sprintf("failover: status %[1]s: listen tcp %[1]s: bind: address already in use", taken.Addr())
	if err == nil || err.Error() != want {
		t.Fatalf("startup with a status address taken: %v, want %s", err, want)
	}
	if !statusRefused(free) {
		t.Error("the status address before the one taken is left listened on")
	}
	statusServers.Lock()
	defer statusServers.Unlock()
	if len(statusServers.byAddr) != 0 {
		t.Errorf("listeners left: %v", statusServers.byAddr)
	}
}
