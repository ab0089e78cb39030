package failover

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
	ot "github.com/opentracing/opentracing-go"

	"github.com/failover-dns/failover/healthcheck"
)

// Failover is the plugin handler of one server block: every failover block in
// it, the engine probing their endpoints, and the answers under the current health.
type Failover struct {
	Next plugin.Handler

	blocks     []*block
	engine     *healthcheck.Engine
	server     string      // the keys of its server block, as written: names it in the status
	generation *generation // its configuration's instances, stopped together if a reload fails (see lifecycle.go)

	state     atomic.Pointer[snapshot] // read by every query; replaced on each health change
	publishMu sync.Mutex               // one rebuild at a time, so the last one published is the newest
	judged    atomic.Bool              // every endpoint has had a verdict: see Ready
	series    []series                 // the metric series of this instance's names and endpoints

	overrides      []*overrideSource // the override files of its blocks, each once
	overrideSeries []series          // the series of the overrides in force; guarded by publishMu
	stopWatching   chan struct{}     // closed by OnShutdown: the override files' polling ends
	watching       sync.WaitGroup
	stopOnce       sync.Once // OnShutdown's
}

func newFailover() *Failover {
	f := &Failover{stopWatching: make(chan struct{})}
	f.engine = healthcheck.NewEngine(func(*healthcheck.Endpoint) { f.publish() })
	// Once for the process, whatever server blocks share the endpoint.
	f.engine.OnProbe = recordProbe
	f.engine.OnTransition = recordTransition
	return f
}

// publish rebuilds the answers from the endpoints' current verdicts.
func (f *Failover) publish() {
	f.publishMu.Lock()
	defer f.publishMu.Unlock()
	prev := f.state.Load()
	next := buildSnapshot(f.blocks, func(m member) bool { return m.endpoint.Healthy() })
	f.state.Store(next)
	// Before startup the instance may never run (a reload that fails): it
	// sets no metric.
	if f.judged.Load() {
		recordState(f.blocks, prev, next)
	}
}

// overridesChanged publishes the answers under the overrides now in force.
func (f *Failover) overridesChanged() {
	f.publish()
	f.publishMu.Lock()
	defer f.publishMu.Unlock()
	if f.judged.Load() {
		next := overrideSeries(f.blocks)
		setOverrideSeries(f.overrideSeries, next)
		f.overrideSeries = next
	}
}

// OnStartup starts probing and publishes the first verdicts, before CoreDNS
// serves with this instance.
func (f *Failover) OnStartup() error {
	for _, b := range f.blocks {
		if b.insecureTLS {
			log.Warningf("failover block for %s (line %d): tls_insecure_skip_verify: the certificates of its endpoints are not verified",
				strings.Join(b.names, " "), b.line)
		}
	}
	startPending(f)
	// First what can fail: a status address taken by another program refuses
	// the configuration before anything else starts.
	if err := f.startStatus(); err != nil {
		return err
	}
	f.series = ownedSeries(f.blocks)
	acquireSeries(f.series)
	// The overrides in force before the first answer: a restart in the
	// middle of a drill keeps it going.
	for _, s := range f.overrides {
		s.reload()
	}
	f.engine.Start()
	f.publishFirst()
	for _, s := range f.overrides {
		f.watching.Add(1)
		go func() {
			defer f.watching.Done()
			s.watch(f.stopWatching, f.overridesChanged)
		}()
	}
	return nil
}

// publishFirst publishes the first verdicts and marks the instance judged. The
// first state is not a failover: it sets the gauges only.
func (f *Failover) publishFirst() {
	f.publishMu.Lock()
	defer f.publishMu.Unlock()
	next := buildSnapshot(f.blocks, func(m member) bool { return m.endpoint.Healthy() })
	f.state.Store(next)
	f.judged.Store(true)
	recordState(f.blocks, nil, next)
	f.overrideSeries = overrideSeries(f.blocks)
	setOverrideSeries(nil, f.overrideSeries)
}

// Ready implements the ready plugin's Readiness: ready once every endpoint has
// a verdict, whatever the verdicts are. A failover to the secondary is the
// plugin doing its work, not a reason to take the server out of service.
func (f *Failover) Ready() bool { return f.judged.Load() }

// OnShutdown stops probing and the override files' polling, and waits for
// every goroutine of the instance to end.
func (f *Failover) OnShutdown() error {
	// Once: a failed reload may have shut the instance down already, and
	// the series must be released once.
	f.stopOnce.Do(func() {
		f.stopStatus()
		close(f.stopWatching)
		f.watching.Wait()
		f.engine.Stop()
		f.publishMu.Lock()
		releaseSeries(f.series)
		releaseSeries(f.overrideSeries)
		f.overrideSeries = nil
		f.publishMu.Unlock()
	})
	return nil
}

// ServeDNS implements plugin.Handler.
func (f *Failover) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	// One snapshot for the whole query: the answer is consistent even while
	// probes publish new health.
	snap := f.state.Load()
	if !snap.intercepts(r) {
		return plugin.NextOrFailure(f.Name(), f.Next, ctx, w, r)
	}
	rw := newRewriter(ctx, w, r, snap)
	rcode, err := f.serveNext(ctx, rw, r)
	return rw.finish(rcode, err, f.Next == nil)
}

// serveNext hands the query to the next plugin through rw. It is
// plugin.NextOrFailure without the writer that tells the metrics plugin which
// plugin wrote the response: over a rewriter, which does not pass that on, the
// writer does nothing but costs an allocation per query. With a trace, the
// next plugin's span is wanted: NextOrFailure makes it.
func (f *Failover) serveNext(ctx context.Context, rw *rewriter, r *dns.Msg) (int, error) {
	if f.Next == nil || ot.SpanFromContext(ctx) != nil {
		return plugin.NextOrFailure(f.Name(), f.Next, ctx, rw, r)
	}
	return f.Next.ServeDNS(ctx, rw, r)
}

// finish sends the response the rest of the chain wrote, or answers a governed
// name it wrote nothing for; alone tells that there is no rest of the chain.
// From then on, writes go out at once.
func (rw *rewriter) finish(rcode int, err error, alone bool) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.written || plugin.ClientWrite(rcode) {
		// As the server does, failover ignores a failed write: the client
		// will ask again.
		rw.flush()
		rw.done = true
		return rcode, err
	}
	rcode, err = rw.answerAlone(rcode, err, alone)
	rw.done = true
	return rcode, err
}

// answerAlone answers a governed name that the rest of the chain wrote nothing
// for: it left the error answer to the server, or there is no rest of the
// chain. Called with mu held.
func (rw *rewriter) answerAlone(rcode int, err error, alone bool) (int, error) {
	q := rw.req.Question[0]
	if !isAddressQuery(rw.req) || rw.snap.lookup(q.Name, q.Qtype) == nil {
		// Another type of a governed name: with no plugin after failover,
		// nothing else knows the name, and failover denies the type.
		// Otherwise the chain's error (a forward that got no answer) may hide
		// a real record: the server sends it on.
		if !alone || rw.snap.exists(q.Name) == nil {
			return rcode, err
		}
		rcode = dns.RcodeNameError
	}
	rw.held = new(dns.Msg).SetRcode(rw.req, rcode)
	rw.written = true
	rw.flush()
	return dns.RcodeSuccess, nil
}

// Name implements plugin.Handler.
func (f *Failover) Name() string { return pluginName }

// isAddressQuery reports whether r is a query failover may answer: one IN question for A or AAAA.
func isAddressQuery(r *dns.Msg) bool {
	if r.Opcode != dns.OpcodeQuery || len(r.Question) != 1 {
		return false
	}
	q := r.Question[0]
	return q.Qclass == dns.ClassINET && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeAAAA)
}
