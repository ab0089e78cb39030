package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/failover-dns/failover"
)

// massFailure is a run of the real plugin (-names): names in failover blocks
// of perBlock names each, every block with a primary and a secondary
// endpoint of its own, all primaries made to fail at once.
type massFailure struct {
	names, perBlock    int
	interval, timeout  time.Duration
	mode               string        // how the primaries fail: refuse, hang or error; none in steady
	warmup, poll, wait time.Duration // before the failure; the least between two rounds of queries; the most to wait for the answers to move
	check              string        // http, https or tcp
	duration           time.Duration // steady: the window
	caFile             string        // with an https check: the server's CA, for the blocks' tls
	status             string        // HOST:PORT of a status listener every block names; empty: none
	fall, rise         int
	cpuProfile         string // of the steady run's window; "" for none
}

// window is how long lateness is measured from the failure: until the
// probes after the last move have run too.
func (m massFailure) window() time.Duration { return m.interval + m.timeout + time.Second }

// corefile returns the failover blocks: block i governs n<i>-<j>.scale.example.org,
// with primary address 2i and secondary 2i+1 from base.
func (m massFailure) corefile(base netip.Addr, port int) string {
	var sb strings.Builder
	for i := range m.names / m.perBlock {
		sb.WriteString("failover")
		for j := range m.perBlock {
			fmt.Fprintf(&sb, " n%d-%d.scale.example.org", i, j)
		}
		fmt.Fprintf(&sb, " {\n\tprimary %s\n\tsecondary %s\n\tcheck %s\n\tinterval %v\n\ttimeout %v\n\tfall %d\n\trise %d\n",
			nth(base, 2*i), nth(base, 2*i+1), checkURL(m.check, port), m.interval, m.timeout, m.fall, m.rise)
		if m.check == "https" {
			fmt.Fprintf(&sb, "\ttls %s\n", m.caFile)
		}
		if m.status != "" {
			fmt.Fprintf(&sb, "\tstatus %s\n", m.status)
		}
		sb.WriteString("}\n")
	}
	return sb.String()
}

// run sets up failover from the Corefile as CoreDNS does, starts it, makes
// every primary fail, and measures when each name's answer moves to its
// secondary, through the plugin's ServeDNS.
func (m massFailure) run(srv *server, base netip.Addr) {
	blocks := m.names / m.perBlock
	f, q := m.start(srv, base)
	defer f.OnShutdown()
	// The lateness of a window as long as the failure's, before it: what
	// the machine allows without failure.
	time.Sleep(m.warmup)
	f.ProbeLateness()
	time.Sleep(m.window())
	c50, c99, cmost, cn := f.ProbeLateness()
	failovers0, _ := failoverSeries()
	user0, sys0 := cpuTime()

	failed := time.Now()
	srv.fail(m.mode, 0, blocks, 2)
	failedTook := time.Since(failed)
	// A name's time is that of the first query answered with its
	// secondary: the answer moved between it and the query before.
	moved := make([]time.Duration, m.names)
	pending := make([]int, m.names)
	for i := range pending {
		pending[i] = i
	}
	// The queries take at most a quarter of a core, so as not to make the
	// probes late themselves: a round of 10,000 takes about 10 ms.
	rounds := 0
	for deadline := failed.Add(m.wait); len(pending) > 0 && time.Now().Before(deadline); rounds++ {
		round := time.Now()
		pending = slices.DeleteFunc(pending, func(i int) bool {
			if q.answersSecondary(i) {
				moved[i] = time.Since(failed)
				return true
			}
			return false
		})
		time.Sleep(max(m.poll, 3*time.Since(round)))
	}
	queried := time.Since(failed)
	// Lateness through the failure: until the probes after the last move
	// have run too.
	time.Sleep(time.Until(failed.Add(m.window())))
	p50, p99, most, n := f.ProbeLateness()
	window := time.Since(failed)
	user1, sys1 := cpuTime()

	budget := m.interval + m.timeout + 200*time.Millisecond
	fmt.Printf("failure: every primary made to fail (%s) at once; the server took %v\n", m.mode, failedTook.Round(time.Microsecond))
	if len(pending) > 0 {
		fmt.Printf("moved to the secondary: %d of %d names; %d had not after %v, such as %s\n",
			m.names-len(pending), m.names, len(pending), m.wait, q.names[pending[0]])
	}
	done := slices.DeleteFunc(moved, func(d time.Duration) bool { return d == 0 })
	slices.Sort(done)
	if len(done) > 0 {
		fmt.Printf("answers moved after the failure (%d names, queried in %d rounds, one every %v on average): p50 %v, p99 %v, max %v\n",
			len(done), rounds, (queried / time.Duration(max(rounds, 1))).Round(time.Millisecond),
			quantile(done, 0.5).Round(time.Millisecond), quantile(done, 0.99).Round(time.Millisecond), done[len(done)-1].Round(time.Millisecond))
	}
	fmt.Printf("probe lateness before the failure, for %v: p50 %v, p99 %v, max %v over %d probes\n",
		m.window(), c50.Round(time.Microsecond), c99.Round(time.Microsecond), cmost.Round(time.Microsecond), cn)
	fmt.Printf("probe lateness from the failure, for %v: p50 %v, p99 %v, max %v over %d probes\n",
		window.Round(time.Millisecond), p50.Round(time.Microsecond), p99.Round(time.Microsecond), most.Round(time.Microsecond), n)
	fmt.Printf("process CPU meanwhile: %.2f s per s (probes, rebuilds, series, the queries of this program)\n",
		((user1-user0)+(sys1-sys0)).Seconds()/window.Seconds())
	failovers, series := failoverSeries()
	fmt.Printf("metrics: failovers_total rose by %v (want %d); %d failover series\n", failovers-failovers0, m.names, series)
	allMoved := len(pending) == 0 && len(done) > 0 && done[len(done)-1] <= budget
	fmt.Printf("targets: every name moved within interval + timeout + 200ms = %v %s; p99 lateness < 100ms %s\n",
		budget, verdict(allMoved), verdict(p99 < 100*time.Millisecond))
}

// querier asks the plugin for the A record of each name, as a client's query
// reaches it: failover answers alone, nothing after it in the chain.
type querier struct {
	f         *failover.Failover
	names     []string
	primary   []net.IP // by name
	secondary []net.IP
	req       []*dns.Msg
	ctx       context.Context
	w         *answerWriter // one for every query: they are asked one at a time
}

func newQuerier(f *failover.Failover, names, perBlock int, base netip.Addr) *querier {
	q := &querier{f: f, ctx: context.Background(), w: &answerWriter{}}
	for i := range names {
		block := i / perBlock
		name := fmt.Sprintf("n%d-%d.scale.example.org.", block, i%perBlock)
		q.names = append(q.names, name)
		q.primary = append(q.primary, net.IP(nth(base, 2*block).AsSlice()))
		q.secondary = append(q.secondary, net.IP(nth(base, 2*block+1).AsSlice()))
		r := new(dns.Msg)
		r.SetQuestion(name, dns.TypeA)
		q.req = append(q.req, r)
	}
	return q
}

// answer returns the address name i answers with, or nil.
func (q *querier) answer(i int) net.IP {
	w := q.w
	w.msg = nil
	q.f.ServeDNS(q.ctx, w, q.req[i])
	if w.msg == nil || len(w.msg.Answer) != 1 {
		return nil
	}
	if a, ok := w.msg.Answer[0].(*dns.A); ok {
		return a.A
	}
	return nil
}

func (q *querier) answersSecondary(i int) bool { return q.secondary[i].Equal(q.answer(i)) }

// pending returns the names that do not answer with their primary (their
// secondary when secondary is true).
func (q *querier) pending(secondary bool) []int {
	var wrong []int
	for i := range q.names {
		want := q.primary[i]
		if secondary {
			want = q.secondary[i]
		}
		if !want.Equal(q.answer(i)) {
			wrong = append(wrong, i)
		}
	}
	return wrong
}

// answerWriter keeps the message written.
type answerWriter struct {
	test.ResponseWriter
	msg *dns.Msg
}

func (w *answerWriter) WriteMsg(m *dns.Msg) error { w.msg = m; return nil }

// failoverSeries returns the sum of failovers_total, and how many series
// the plugin has, from the default registry, as the prometheus plugin
// exposes them.
func failoverSeries() (failovers float64, series int) {
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		fatalf("%v", err)
	}
	for _, mf := range families {
		if !strings.HasPrefix(mf.GetName(), "coredns_failover_") {
			continue
		}
		series += len(mf.GetMetric())
		if mf.GetName() == "coredns_failover_failovers_total" {
			for _, m := range mf.GetMetric() {
				failovers += m.GetCounter().GetValue()
			}
		}
	}
	return failovers, series
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// nth returns the address i after base.
func nth(base netip.Addr, i int) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], binary.BigEndian.Uint32(base.AsSlice())+uint32(i))
	return netip.AddrFrom4(b)
}

// start sets failover up from the Corefile as CoreDNS does, starts it, and
// returns once every name answers with its primary. The caller shuts it down.
func (m massFailure) start(srv *server, base netip.Addr) (*failover.Failover, *querier) {
	blocks := m.names / m.perBlock
	corefile := m.corefile(base, srv.port)
	c := caddy.NewTestController("dns", corefile)
	setup, err := caddy.DirectiveAction("dns", "failover")
	if err != nil {
		fatalf("%v", err)
	}
	parsed := time.Now()
	if err := setup(c); err != nil {
		fatalf("setup: %v", err)
	}
	f := dnsserver.GetConfig(c).Plugin[0](nil).(*failover.Failover)
	status := ""
	if m.status != "" {
		status = ", status on " + m.status
	}
	fmt.Printf("plugin: %d names in %d failover blocks (%d a block), %d endpoints, %s, interval %v, timeout %v, fall %d, rise %d%s; setup %v\n",
		m.names, blocks, m.perBlock, 2*blocks, checkURL(m.check, srv.port), m.interval, m.timeout, m.fall, m.rise, status, time.Since(parsed).Round(time.Millisecond))

	started := time.Now()
	if err := f.OnStartup(); err != nil {
		fatalf("startup: %v", err)
	}
	fmt.Printf("start: %v (the first round of probes, and the first answers and series)\n", time.Since(started).Round(time.Millisecond))

	// On a busy machine a first probe may time out: the failure starts
	// from every name on its primary.
	q := newQuerier(f, m.names, m.perBlock, base)
	for deadline := time.Now().Add(m.wait); ; time.Sleep(m.poll) {
		wrong := q.pending(false)
		if len(wrong) == 0 {
			break
		}
		if time.Now().After(deadline) {
			fatalf("before the failure, %d names do not answer with their primary after %v, such as %s", len(wrong), m.wait, q.names[wrong[0]])
		}
	}
	return f, q
}
