package integration

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coredns/coredns/test"
	"github.com/miekg/dns"
)

// loadConfig is one Corefile of the reload-under-load test: one failover block
// governing names, over hosts that answers every name.
type loadConfig struct {
	names              []string
	primary, secondary string
	interval           time.Duration
}

// hostsAnswers is what hosts answers for each name when failover does not govern it.
var hostsAnswers = map[string]string{
	"app.example.org.": "192.0.2.1",
	"api.example.org.": "192.0.2.2",
	"web.example.org.": "192.0.2.3",
}

func (c loadConfig) corefile(checkPort int) string {
	return fmt.Sprintf(`.:0 {
	failover %s {
		primary   %s
		secondary %s
		check     http://:%d/health
		interval  %s
		timeout   %s
	}
	hosts {
		192.0.2.1 app.example.org
		192.0.2.2 api.example.org
		192.0.2.3 web.example.org
	}
}
`, strings.Join(c.names, " "), c.primary, c.secondary, checkPort, c.interval, c.interval/2)
}

// answer is what the configuration answers for name while the endpoints in down
// are down: the healthy primaries, else the healthy secondaries; hosts' address
// for a name it does not govern.
func (c loadConfig) answer(name string, down map[string]bool) string {
	governed := false
	for _, n := range c.names {
		governed = governed || n+"." == name
	}
	if !governed {
		return hostsAnswers[name]
	}
	for _, pool := range []string{c.primary, c.secondary} {
		var healthy []string
		for _, addr := range strings.Fields(pool) {
			if !down[addr] {
				healthy = append(healthy, addr)
			}
		}
		if len(healthy) > 0 {
			return strings.Join(healthy, " ")
		}
	}
	return "all down"
}

// TestReloadUnderLoad queries a real CoreDNS from several goroutines while its
// Corefile is reloaded many times, changing names, pools and intervals. Every
// query must get an answer of the configuration before or after the reload in
// progress; none may fail or answer the endpoint that is down. Afterwards the
// goroutines are back at their baseline.
func TestReloadUnderLoad(t *testing.T) {
	backends := startBackends(t, "127.0.0.51", "127.0.0.52", "127.0.0.53", "127.0.0.54")
	backends[3].close() // 127.0.0.54 refuses its checks throughout
	down := map[string]bool{"127.0.0.54": true}
	port := backends[0].port

	configs := []loadConfig{
		{[]string{"app.example.org"}, "127.0.0.51", "127.0.0.52", 400 * time.Millisecond},
		{[]string{"app.example.org", "api.example.org"}, "127.0.0.52 127.0.0.54", "127.0.0.51", time.Second},
		{[]string{"api.example.org", "web.example.org"}, "127.0.0.54", "127.0.0.53 127.0.0.51", 600 * time.Millisecond},
		{[]string{"web.example.org"}, "127.0.0.51 127.0.0.53", "127.0.0.54", 2 * time.Second},
		{[]string{"app.example.org", "web.example.org"}, "127.0.0.53", "127.0.0.52", 300 * time.Millisecond},
	}
	// Timeouts are half the interval: long enough that a loaded machine does
	// not fail a probe of a healthy backend, which would change the answers.
	const reloads = 50

	// Warm up once, so that what CoreDNS starts once per process is in the baseline.
	inst, err := test.CoreDNSServer(configs[0].corefile(port))
	if err != nil {
		t.Fatal(err)
	}
	inst.Stop()
	inst.ShutdownCallbacks()
	waitGoroutines(t, "after warm-up", func() bool { return probedEndpoints() == 0 })
	baseline := runtime.NumGoroutine()

	inst, udp, _, err := test.CoreDNSServerAndPorts(configs[0].corefile(port))
	if err != nil {
		t.Fatal(err)
	}

	// generation is 2i while configuration i serves alone, and 2i+1 while the
	// reload from i to i+1 is in progress.
	var generation atomic.Int64
	configAt := func(i int64) loadConfig { return configs[i%int64(len(configs))] }
	var answered atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	names := []string{"app.example.org.", "api.example.org.", "web.example.org."}
	for q := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &dns.Client{Timeout: 2 * time.Second}
			for i := q; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := names[i%len(names)]
				first := generation.Load()
				got, err := exchange(c, udp, name)
				last := generation.Load()
				if err != nil {
					t.Errorf("query for %s during generation %d-%d: %v", name, first, last, err)
					return
				}
				allowed := map[string]bool{}
				for g := first / 2; g <= (last+1)/2; g++ {
					allowed[configAt(g).answer(name, down)] = true
				}
				if !allowed[got] {
					t.Errorf("%s answered %q during generation %d-%d; allowed: %v", name, got, first, last, allowed)
					return
				}
				answered.Add(1)
			}
		}()
	}

	for i := int64(1); i <= reloads && !t.Failed(); i++ {
		generation.Store(2*i - 1)
		next, err := inst.Restart(test.NewInput(configAt(i).corefile(port)))
		if err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		inst = next
		generation.Store(2 * i)
		// Let every querier ask under the new configuration alone before the next reload.
		target := answered.Load() + 100
		deadline := time.Now().Add(5 * time.Second)
		for answered.Load() < target && !t.Failed() {
			if time.Now().After(deadline) {
				t.Fatalf("after reload %d, no answers for 5s", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d answers checked across %d reloads", answered.Load(), reloads)

	inst.Stop()
	inst.ShutdownCallbacks()
	waitGoroutines(t, "after the last shutdown", func() bool {
		return probedEndpoints() == 0 && followGoroutines() == 0 && runtime.NumGoroutine() <= baseline
	})
}

// exchange asks server for name's A records and returns the addresses in order,
// or an error for a failed query or anything but NOERROR with addresses.
func exchange(c *dns.Client, server, name string) (string, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, _, err := c.Exchange(m, server)
	if err != nil {
		return "", err
	}
	if r.Rcode != dns.RcodeSuccess {
		return "", fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
	}
	var addrs []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			addrs = append(addrs, a.A.String())
		}
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("empty answer")
	}
	return strings.Join(addrs, " "), nil
}
