package failover

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"

	"github.com/failover-dns/failover/healthcheck"
)

// Failover is the plugin handler of one server block: every failover block in
// it, the engine probing their endpoints, and the answers under the current health.
type Failover struct {
	Next plugin.Handler

	blocks []*block
	engine *healthcheck.Engine

	state     atomic.Pointer[snapshot] // read by every query; replaced on each health change
	publishMu sync.Mutex               // one rebuild at a time, so the last one published is the newest
}

func newFailover() *Failover {
	f := &Failover{}
	f.engine = healthcheck.NewEngine(func(*healthcheck.Endpoint) { f.publish() })
	return f
}

// publish rebuilds the answers from the endpoints' current verdicts.
func (f *Failover) publish() {
	f.publishMu.Lock()
	defer f.publishMu.Unlock()
	f.state.Store(buildSnapshot(f.blocks, func(m member) bool { return m.endpoint.Healthy() }))
}

// OnStartup starts probing and publishes the first verdicts, before CoreDNS
// serves with this instance.
func (f *Failover) OnStartup() error {
	f.engine.Start()
	f.publish()
	return nil
}

// OnShutdown stops probing and waits for every probe goroutine to end.
func (f *Failover) OnShutdown() error {
	f.engine.Stop()
	return nil
}

// ServeDNS implements plugin.Handler.
func (f *Failover) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if !isAddressQuery(r) {
		return plugin.NextOrFailure(f.Name(), f.Next, ctx, w, r)
	}
	// One snapshot for the whole query: the answer is consistent even while
	// probes publish new health.
	snap := f.state.Load()
	rw := newRewriter(w, r, snap)
	defer rw.release()
	rcode, err := plugin.NextOrFailure(f.Name(), f.Next, ctx, rw, r)
	if rw.written || plugin.ClientWrite(rcode) {
		return rcode, err
	}
	// The rest of the chain wrote nothing and left the error answer to the
	// server (or there is no rest of the chain): a governed name is answered here.
	q := r.Question[0]
	if snap.lookup(q.Name, q.Qtype) == nil {
		return rcode, err
	}
	rw.WriteMsg(new(dns.Msg).SetRcode(r, rcode))
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
