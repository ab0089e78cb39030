package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// steady runs the real plugin with nothing failing (-fail none): after the
// warm-up, the probes of every block for m.duration, and the same cost
// figures as the engine alone, of the whole process (probes, answers'
// rebuilds, series, the status listener), with fall 3 and rise 2. No query is asked in the window:
// the CPU is the probing's.
func (m massFailure) steady(srv *server, base netip.Addr) {
	endpoints := 2 * m.names / m.perBlock
	m.status = freeAddress(nth(base, endpoints))
	// The engine alone's fall and rise: the same full TLS handshakes, one
	// every fall probes, and so the same work a probe.
	m.fall, m.rise = 3, 2
	f, q := m.start(srv, base)
	defer f.OnShutdown()
	time.Sleep(m.warmup)

	f.ProbeLateness()
	probes0, failed0 := probeCount()
	server0 := srv.stats() // also resets the server's counts
	user0, sys0 := cpuTime()
	stopProfile := startProfile(m.cpuProfile)
	wall0 := time.Now()
	var tw timeWait
	tick := time.NewTicker(time.Second)
	for end := wall0.Add(m.duration); time.Now().Before(end); {
		<-tick.C
		tw.sample()
	}
	tick.Stop()
	wall := time.Since(wall0)
	user1, sys1 := cpuTime()
	stopProfile()
	probes1, failed1 := probeCount()
	server1 := srv.stats()
	p50, p99, most, n := f.ProbeLateness()

	probes := uint64(probes1 - probes0)
	expected := float64(endpoints) / m.interval.Seconds()
	rate := float64(probes) / wall.Seconds()
	cpu := ((user1 - user0) + (sys1 - sys0)).Seconds() / wall.Seconds()
	fmt.Printf("window: %v, nothing failing\n", wall.Round(time.Millisecond))
	fmt.Printf("probes: %.0f/s, expected %.0f/s (%.2f%%); failed %.0f (probes_total)\n", rate, expected, 100*rate/expected, failed1-failed0)
	fmt.Printf("lateness in the window: p50 %v, p99 %v, max %v over %d probes\n",
		p50.Round(time.Microsecond), p99.Round(time.Microsecond), most.Round(time.Microsecond), n)
	fmt.Printf("process CPU: %.3f s per s (user %.3f, sys %.3f; getrusage)\n",
		cpu, (user1-user0).Seconds()/wall.Seconds(), (sys1-sys0).Seconds()/wall.Seconds())
	fmt.Printf("server: %d requests (%.0f/s), per answering address min %d max %d\n",
		server1.requests, float64(server1.requests)/wall.Seconds(), server1.fewest, server1.most)
	costs{wall: wall, user: user1 - user0, sys: sys1 - sys0, probes: probes, server: serverWindow(server0, server1), check: m.check}.print()
	tw.print(base, endpoints, srv.port)
	onPrimary := m.names - len(q.pending(false))
	fmt.Printf("after the window: %d of %d names answer with their primary; status page %s\n", onPrimary, m.names, statusPage(m.status))
	fmt.Printf("targets: p99 lateness < 100ms %s; CPU < 1 core %s\n", verdict(p99 < 100*time.Millisecond), verdict(cpu < 1))
}

// probeCount returns the probes the plugin finished, and of them the
// failed, from probes_total as the prometheus plugin exposes it.
func probeCount() (all, failed float64) {
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		fatalf("%v", err)
	}
	for _, mf := range families {
		if mf.GetName() != "coredns_failover_probes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue()
			all += v
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == "fail" {
					failed += v
				}
			}
		}
	}
	return all, failed
}

// freeAddress returns addr with a port free on it now, for the status
// listener: an address of the benchmark's range, past the endpoints.
func freeAddress(addr netip.Addr) string {
	ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		fatalf("status address: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// statusPage fetches the status page once: the listener was on throughout.
func statusPage(addr string) string {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/status")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	n, _ := io.Copy(io.Discard, resp.Body)
	return fmt.Sprintf("%s, %d bytes", resp.Status, n)
}

// startProfile writes a CPU profile to path until the returned function is
// called; nothing for an empty path.
func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fatalf("%v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fatalf("%v", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
