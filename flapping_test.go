package failover

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/failover-dns/failover/healthcheck"
)

// switchableBackend is a real HTTP health endpoint whose answer a test turns
// between 200 and 503.
type switchableBackend struct {
	ip   string
	up   atomic.Bool
	srv  *http.Server
	done chan struct{}
}

// startSwitchableBackends starts one healthy backend per ip, all on one port.
func startSwitchableBackends(t *testing.T, ips ...string) (int, []*switchableBackend) {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		port := 0
		var listeners []net.Listener
		for _, ip := range ips {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(port)))
			if err != nil {
				break
			}
			port = ln.Addr().(*net.TCPAddr).Port
			listeners = append(listeners, ln)
		}
		if len(listeners) < len(ips) {
			for _, ln := range listeners {
				ln.Close()
			}
			continue
		}
		backends := make([]*switchableBackend, len(ips))
		for i, ln := range listeners {
			b := &switchableBackend{ip: ips[i], done: make(chan struct{})}
			b.up.Store(true)
			b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if !b.up.Load() {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
			})}
			go func() {
				defer close(b.done)
				if err := b.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
					t.Errorf("backend %s: %v", b.ip, err)
				}
			}()
			t.Cleanup(func() { b.srv.Close(); <-b.done })
			backends[i] = b
		}
		return port, backends
	}
	t.Fatalf("no port free on all of %v", ips)
	return 0, nil
}

// TestAnswersUnderFlapping turns real backends up and down at random while
// several goroutines query a governed name, and checks every answer against
// the configuration under the endpoints' verdicts at that moment: the healthy
// addresses of the first pool that has any, the primary pool when none has
// (all_down primary), never an empty answer nor an error.
func TestAnswersUnderFlapping(t *testing.T) {
	const (
		interval = 40 * time.Millisecond
		// A verdict reaches the answers once the probe goroutine has published
		// it. For a query this close to a verdict change, either verdict is allowed.
		publishLag = 250 * time.Millisecond
		duration   = 5 * time.Second
		queriers   = 4
	)
	ips := []string{"127.0.0.81", "127.0.0.82", "127.0.0.83"}
	port, backends := startSwitchableBackends(t, ips...)
	f, err := parse(caddy.NewTestController("dns", fmt.Sprintf(`failover app.example.org {
		primary   127.0.0.81 127.0.0.82
		secondary 127.0.0.83
		check     http://:%d/health
		interval  %s
		timeout   %s
		fall      2
		rise      2
	}`, port, interval, interval/2)))
	if err != nil {
		t.Fatal(err)
	}
	f.Next = hostsLike
	var primary, secondary []*healthcheck.Endpoint
	for _, m := range f.blocks[0].pools[0].members {
		primary = append(primary, m.endpoint)
	}
	for _, m := range f.blocks[0].pools[1].members {
		secondary = append(secondary, m.endpoint)
	}
	endpoints := append(slices.Clone(primary), secondary...)
	if err := f.OnStartup(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.OnShutdown() })

	ctx, stop := context.WithTimeout(context.Background(), duration)
	defer stop()
	var wg sync.WaitGroup

	// Each backend changes state every 500-1300ms, so the endpoints go through
	// every combination: one primary down, both down, all down.
	for i, b := range backends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Duration(500+rng.IntN(800)) * time.Millisecond):
					b.up.Store(!b.up.Load())
				}
			}
		}()
	}

	var checked, undecided atomic.Int64
	answersSeen := sync.Map{} // answer -> true, to show the test went through the states
	for range queriers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				before := time.Now()
				verdicts := readVerdicts(endpoints)
				got, err := serveAddresses(f, "app.example.org.")
				after := readVerdicts(endpoints)
				if err != nil {
					t.Error(err)
					return
				}
				allowed := allowedAnswers(verdicts, after, before.Add(-publishLag), primary, secondary)
				if len(allowed) > 1 {
					undecided.Add(1)
				}
				if !allowed[got] {
					t.Errorf("answered %q with verdicts %v before and %v after the query; allowed: %v", got, verdicts, after, allowed)
					return
				}
				checked.Add(1)
				answersSeen.Store(got, true)
			}
		}()
	}
	wg.Wait()

	var seen []string
	answersSeen.Range(func(k, _ any) bool { seen = append(seen, k.(string)); return true })
	t.Logf("%d answers checked (%d near a verdict change), answers seen: %v", checked.Load(), undecided.Load(), seen)
	if decided := checked.Load() - undecided.Load(); decided < 1000 {
		t.Errorf("only %d answers were checked away from a verdict change: the test proves too little", decided)
	}
	if len(seen) < 3 {
		t.Errorf("the answers went through %v only: the endpoints did not change state enough", seen)
	}
}

// verdict is an endpoint's state as a query saw it.
type verdict struct {
	healthy bool
	since   time.Time
}

func (v verdict) String() string {
	if v.healthy {
		return "up"
	}
	return "down"
}

func readVerdicts(endpoints []*healthcheck.Endpoint) []verdict {
	vs := make([]verdict, len(endpoints))
	for i, e := range endpoints {
		// Healthy before Since: the probe stores since first, so a new verdict
		// is never read with an old time.
		vs[i].healthy = e.Healthy()
		vs[i].since = e.Since()
	}
	return vs
}

// allowedAnswers returns the answers the configuration allows for a query that
// read the verdicts before and after it. An endpoint whose verdict changed
// during the query, or shortly before it (after settled), may have been either
// up or down for the query.
func allowedAnswers(before, after []verdict, settled time.Time, primary, secondary []*healthcheck.Endpoint) map[string]bool {
	allowed := map[string]bool{}
	var uncertain []int
	for i := range before {
		if before[i] != after[i] || after[i].since.After(settled) {
			uncertain = append(uncertain, i)
		}
	}
	for combination := 0; combination < 1<<len(uncertain); combination++ {
		healthy := make([]bool, len(before))
		for i := range before {
			healthy[i] = after[i].healthy
		}
		for bit, i := range uncertain {
			healthy[i] = combination&(1<<bit) != 0
		}
		allowed[expectedAnswer(healthy, primary, secondary)] = true
	}
	return allowed
}

// expectedAnswer is the configuration's answer, written independently of the
// plugin: the healthy addresses of the first pool with any, else the primary pool.
func expectedAnswer(healthy []bool, primary, secondary []*healthcheck.Endpoint) string {
	pick := func(offset int, pool []*healthcheck.Endpoint) []string {
		var addrs []string
		for i, e := range pool {
			if healthy[offset+i] {
				addrs = append(addrs, e.Addr.String())
			}
		}
		return addrs
	}
	if addrs := pick(0, primary); len(addrs) > 0 {
		return strings.Join(addrs, " ")
	}
	if addrs := pick(len(primary), secondary); len(addrs) > 0 {
		return strings.Join(addrs, " ")
	}
	var all []string
	for _, e := range primary {
		all = append(all, e.Addr.String())
	}
	return strings.Join(all, " ")
}

// serveAddresses queries f for name's A records and returns the addresses in
// order, or an error for anything but a NOERROR answer with addresses.
func serveAddresses(f *Failover, name string) (string, error) {
	req := new(dns.Msg)
	req.SetQuestion(name, dns.TypeA)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	if _, err := f.ServeDNS(context.Background(), rec, req); err != nil {
		return "", err
	}
	if rec.Msg == nil || rec.Msg.Rcode != dns.RcodeSuccess {
		return "", fmt.Errorf("no NOERROR answer: %v", rec.Msg)
	}
	var addrs []string
	for _, rr := range rec.Msg.Answer {
		if a, ok := rr.(*dns.A); ok {
			addrs = append(addrs, a.A.String())
		}
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("empty answer: %v", rec.Msg)
	}
	slices.Sort(addrs)
	return strings.Join(addrs, " "), nil
}
