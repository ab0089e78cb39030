package failover

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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

	state       atomic.Pointer[snapshot] // read by every query; replaced on each health change
	judged      atomic.Bool              // every endpoint has had a verdict: see Ready
	signer      atomic.Pointer[signer]   // the dnssec plugin of its server block, found at startup; nil without (sign.go)
	series      []series                 // the metric series of this instance's names and endpoints
	stateSeries stateSeries              // those of the state of each name, looked up; set by publishFirst

	// Health changes, rebuilt into the answers by the goroutine follow (rebuild.go).
	changes       *changes
	dependents    *dependents
	stopFollowing chan struct{} // closed by OnShutdown: follow ends
	following     sync.WaitGroup
	rebuilds      atomic.Uint64 // snapshots published by follow
	moves         *moveLog      // owned by follow
	deadlines     deadlines     // owned by follow
	holds         holds         // owned by follow

	overrides      []*overrideSource // the override files of its blocks, each once
	overrideSeries []series          // the series of the overrides in force; owned by follow once started
	alertSeries    []series          // the series of the targets alerts hold down; owned by follow once started
	alertPush      sync.Mutex        // held while the alerts are pushed to the fleets (alertfleet.go)
	alertsLeft     bool              // under alertPush: shutting down, nothing more is pushed
	stopWatching   chan struct{}     // closed by OnShutdown: the override files' polling ends
	watching       sync.WaitGroup
	stopOnce       sync.Once // OnShutdown's
}

func newFailover() *Failover {
	f := &Failover{changes: newChanges(), moves: newMoveLog(), stopWatching: make(chan struct{}), stopFollowing: make(chan struct{})}
	// Called on a probe worker: it must not wait for a rebuild.
	f.engine = healthcheck.NewEngine(f.changes.endpointChanged)
	// Once for the process, whatever server blocks share the endpoint.
	f.engine.OnProbe = recordProbe
	f.engine.OnTransition = recordTransition
	// A doubt shortens the TTL of the answers (ttl SECONDS MIN) and restarts a failback hold.
	f.engine.OnDoubt = f.changes.endpointChanged
	return f
}

// prepare indexes the parsed blocks and publishes answers under no verdict
// yet, so that a query before startup finds a snapshot. The instance may
// never start (a reload that fails): it sets no metric.
func (f *Failover) prepare() {
	f.dependents = newDependents(f.blocks)
	f.state.Store(buildSnapshot(f.blocks, probedHealthy))
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
	if err := f.startServices(); err != nil {
		return err
	}
	f.engine.Start()
	f.awaitServices(kubeSyncWait)
	f.joinFleets()
	f.shareAlerts()
	f.publishFirst(probedHealthy)
	startServing(f)
	f.following.Add(1)
	go f.follow(probedHealthy)
	for _, s := range f.overrides {
		f.watching.Add(1)
		go func() {
			defer f.watching.Done()
			s.watch(f.stopWatching, func() { f.changes.overridesChanged(s) })
		}()
	}
	return nil
}

// publishFirst publishes the first verdicts, which healthy reports, and marks
// the instance judged. The first state is not a failover: it sets the gauges
// only. The changes recorded while the first probes ran are in it.
func (f *Failover) publishFirst(healthy func(member) bool) {
	f.changes.take()
	now := time.Now()
	next := buildSnapshotAfter(f.blocks, healthy, f.carried(), now)
	f.state.Store(next)
	f.deadlines = make(deadlines, len(f.blocks))
	for i, b := range f.blocks {
		ds := next.blockDecisions(i, b)
		f.deadlines.set(i, ds)
		f.holds.count(ds)
	}
	f.judged.Store(true)
	f.stateSeries = lookupStateSeries(f.blocks)
	f.stateSeries.recordState(f.blocks, next, healthy)
	f.overrideSeries = overrideSeries(f.blocks)
	setOverrideSeries(nil, f.overrideSeries)
	f.recordAlertSeries(next, allPositions(len(f.blocks)))
}

// Ready implements the ready plugin's Readiness: ready once every endpoint has
// a verdict, whatever the verdicts are. A failover to the secondary is the
// plugin doing its work, not a reason to take the server out of service.
// Its Services must have been listed once too, and their addresses probed
// when the block probes them: before, a Service's pool is empty for want of
// knowing, not because it is.
func (f *Failover) Ready() bool {
	all, _ := f.services()
	return f.judged.Load() && f.servicesSettled(all)
}

// OnShutdown stops probing and the override files' polling, and waits for
// every goroutine of the instance to end.
func (f *Failover) OnShutdown() error {
	// Once: a failed reload may have shut the instance down already, and
	// the series must be released once.
	f.stopOnce.Do(func() {
		stopServing(f)
		f.stopStatus()
		close(f.stopWatching)
		f.watching.Wait()
		f.engine.Stop()
		f.unshareAlerts()
		f.leaveFleets()
		f.stopServices()
		// No series is set after it is released: a series no other
		// instance owns would come back.
		close(f.stopFollowing)
		f.following.Wait()
		f.holds.release()
		releaseSeries(f.series)
		releaseSeries(f.overrideSeries)
		f.overrideSeries = nil
		releaseSeries(f.alertSeries)
		f.alertSeries = nil
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
	rw.sign = f.signer.Load()
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
