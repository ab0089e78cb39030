package fleet

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/failover-dns/failover/healthcheck"
)

// group is one fleet group as this process takes part in it: its Lease, the
// other replicas' Leases, and the endpoints its members steer.
//
// Three goroutines run while it has members: the informer of the group's
// Leases, the writer of this replica's Lease (publish.go), and the decision
// rounds (decide.go), which alone call Delegate and Decide.
type group struct {
	key      groupKey
	name     string // NAMESPACE/GROUP, in logs, metrics and the status page
	identity string
	lease    string // the name of this replica's Lease

	leases   coordinationv1client.LeaseInterface // nil when no client could be made: the group decides alone
	http     *http.Client
	informer cache.SharedIndexInformer
	synced   cache.ResourceEventHandlerRegistration // its handler's: HasSynced once the first list has been taken in
	cached   *coordinationv1.Lease                  // this replica's Lease as last written or read; the writer's alone

	ctx     context.Context
	cancel  context.CancelFunc
	running sync.WaitGroup // its goroutines
	calls   gate           // the informer's calls to the API server
	poke    chan struct{}  // a decision round is due
	soon    chan struct{}  // a prompt write is due

	mu       sync.Mutex
	members  []*Membership // oldest first; the newest's probers and quorum apply
	tracked  map[string]*tracked
	peers    map[string]*peer // the other replicas' Leases, by name
	live     []string         // sorted identities, at the last decision round
	liveGen  uint64           // counts the changes of live
	shared   bool             // mode: sharing (true) or deciding alone
	since    time.Time        // when the mode last changed, or the group started
	renew    time.Duration    // the period of this replica's writes
	duration time.Duration    // the leaseDurationSeconds it writes: 3 periods
	renewed  time.Time        // the last successful write; zero before
	writes   int64
	bytes    int
	writeErr string // why the last write failed; "" when it did not
	listOK   bool   // the informer's last list or watch succeeded

	pushedBy      map[*Membership][]string // what each member pushes (pushed.go)
	pushedTooMany bool                     // the last write left items out (logged once)
}

// tracked is one endpoint of the group, by ID: the endpoints of every
// member, in every block and instance, that probe the same thing the same
// way.
type tracked struct {
	id      string
	hash    uint64 // names it in observations
	prefix  uint64 // of its rendezvous scores
	ranked  ranking
	eps     []*healthcheck.Endpoint // replaced, never changed, under the group's lock
	refs    map[*healthcheck.Endpoint]int
	probing bool  // this replica probes it, as the last decision round said
	votes   tally // at the last decision round
	series  *endpointSeries
}

func newGroup(k groupKey, c Config) *group {
	identity, err := Identity()
	if err != nil {
		identity = "unknown" // Config.Check refused it at setup; only a caller that skipped it gets here
		log.Errorf("fleet %s: %v", c, err)
	}
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), logr.Discard()))
	g := &group{
		key: k, name: c.String(), identity: identity, lease: leaseName(c.Group, identity),
		ctx: ctx, cancel: cancel,
		poke: make(chan struct{}, 1), soon: make(chan struct{}, 1),
		tracked: map[string]*tracked{}, peers: map[string]*peer{},
		since: time.Now(), renew: maxRenew, duration: leaseDuration(maxRenew),
	}
	if err := g.connect(c); err != nil {
		g.writeErr = err.Error()
		log.Errorf("fleet %s: %v; this replica decides alone", g.name, err)
	}
	aloneGauge.WithLabelValues(g.name).Set(1)
	replicasGauge.WithLabelValues(g.name).Set(1)
	leaseWrites.WithLabelValues(g.name)
	return g
}

// connect makes the client of the group's Leases and their informer; it
// connects on the first call.
func (g *group) connect(c Config) error {
	cfg, err := c.Source.RESTConfig()
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = clientQPS, clientBurst
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	client, err := coordinationv1client.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return err
	}
	g.http = hc
	g.leases = client.Leases(c.Namespace)
	g.informer, g.synced = g.newInformer(c.Group)
	return nil
}

// start runs the group's goroutines.
func (g *group) start() {
	if g.informer != nil {
		g.running.Add(1)
		go func() {
			defer g.running.Done()
			g.informer.RunWithContext(g.ctx)
		}()
	}
	g.running.Add(1)
	go g.decideLoop()
	if g.leases != nil {
		g.running.Add(1)
		go g.publishLoop()
	}
}

// stop ends the group's goroutines and deletes its Lease, waiting at most
// deleteTimeout for the API server; no goroutine of the group is left when
// it returns.
func (g *group) stop() {
	g.cancel()
	g.running.Wait()
	g.calls.closeAndWait()
	if g.leases != nil {
		g.deleteLease()
		g.http.CloseIdleConnections()
	}
	g.mu.Lock()
	for id := range g.tracked {
		deleteEndpointSeries(g.name, id)
	}
	g.mu.Unlock()
	deleteGroupSeries(g.name)
}

// add tracks m's endpoints.
func (g *group) add(m *Membership) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.members = append(g.members, m)
	for _, e := range m.endpoints {
		id := e.ID()
		t := g.tracked[id]
		if t == nil {
			t = &tracked{id: id, hash: idHash(id), prefix: rankPrefix(id), refs: map[*healthcheck.Endpoint]int{}, probing: true,
				series: newEndpointSeries(g.name, id)}
			g.tracked[id] = t
		}
		if t.refs[e]++; t.refs[e] == 1 {
			t.eps = append(t.eps[:len(t.eps):len(t.eps)], e)
		}
	}
	g.timing()
}

// remove stops tracking m's endpoints, and reports whether m was the last
// member.
func (g *group) remove(m *Membership) (last bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, other := range g.members {
		if other == m {
			g.members = append(g.members[:i:i], g.members[i+1:]...)
			break
		}
	}
	for _, e := range m.endpoints {
		t := g.tracked[e.ID()]
		if t == nil {
			continue
		}
		if t.refs[e]--; t.refs[e] > 0 {
			continue
		}
		delete(t.refs, e)
		eps := make([]*healthcheck.Endpoint, 0, len(t.eps))
		for _, other := range t.eps {
			if other != e {
				eps = append(eps, other)
			}
		}
		t.eps = eps
		if len(t.eps) == 0 {
			delete(g.tracked, t.id)
			deleteEndpointSeries(g.name, t.id)
		}
	}
	g.timing()
	return len(g.members) == 0
}

// ranking caches whether this replica ranks among the probers of an
// endpoint: it changes only with the live set and probers.
type ranking struct {
	gen     uint64 // liveGen + 1 when computed; 0: never
	probers int
	top     bool
}

// config is the group's configuration: the newest member's. Under mu.
func (g *group) config() Config {
	if len(g.members) == 0 {
		return Config{Probers: DefaultProbers, Quorum: DefaultQuorum}
	}
	return g.members[len(g.members)-1].config
}

// Bounds of the renewal period: the smallest interval of the group's
// endpoints, so that the observations are as fresh as the probes, but not
// more than once a second (each write goes to every replica's watch), and at
// least every 10 seconds, so that a dead replica's endpoints move within 30.
const (
	minRenew = time.Second
	maxRenew = 10 * time.Second
)

// timing sets the renewal period and the lease duration from the tracked
// endpoints. Under mu.
func (g *group) timing() {
	renew := maxRenew
	for _, t := range g.tracked {
		for _, e := range t.eps {
			renew = min(renew, e.Settings.Interval)
		}
	}
	g.renew = max(renew, minRenew)
	g.duration = leaseDuration(g.renew)
}

// leaseDuration is three renewal periods, in whole seconds as a Lease says it.
func leaseDuration(renew time.Duration) time.Duration {
	return ((3*renew + time.Second - 1) / time.Second) * time.Second
}

// changed has a decision round and a write happen promptly.
func (g *group) changed() {
	g.decideSoon()
	g.publishSoon()
}

// localChanged is the endpoints' callback: a local verdict changed.
func (g *group) localChanged() { g.changed() }

func (g *group) decideSoon() {
	select {
	case g.poke <- struct{}{}:
	default:
	}
}

func (g *group) publishSoon() {
	select {
	case g.soon <- struct{}{}:
	default:
	}
}

// gate counts the calls the informer makes to the API server, some from
// goroutines its reflector does not wait for, so that stop can wait for
// them. Once closed it lets nothing in.
type gate struct {
	mu      sync.Mutex
	closed  bool
	running sync.WaitGroup
}

var errStopped = errors.New("fleet group stopped")

func (gt *gate) enter() bool {
	gt.mu.Lock()
	defer gt.mu.Unlock()
	if gt.closed {
		return false
	}
	gt.running.Add(1)
	return true
}

func (gt *gate) leave() { gt.running.Done() }

func (gt *gate) closeAndWait() {
	gt.mu.Lock()
	gt.closed = true
	gt.mu.Unlock()
	gt.running.Wait()
}

// The client-side rate limit of a group's requests. A replica writes its
// Lease once a renewal period and at most once per coalesce period after
// changes, so ten a second is never reached in operation; client-go's
// default of five would delay the prompt writes of a burst. Variables for the
// benchmark, which measures the API server, not the limiter.
var (
	clientQPS   float32 = 10
	clientBurst         = 20
)
