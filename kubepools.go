package failover

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failover-dns/failover/fleet"
	"github.com/failover-dns/failover/healthcheck"
	"github.com/failover-dns/failover/kube"
)

// A pool may name Kubernetes Services beside addresses:
//
//	endpoints/NAMESPACE/SERVICE  the addresses of the Service's EndpointSlices,
//	                             each healthy while Kubernetes says it serves
//	                             and, when the block has checks, its probes pass
//	service/NAMESPACE/SERVICE    the Service's cluster IPs, healthy while it has
//	                             a serving endpoint; min_healthy counts those
//
// Their addresses come and go with the Service: the package kube watches it,
// once for the process however many blocks name it, and each change rebuilds
// the decisions of the blocks that name it, as a verdict change does.

// serviceForm is how a pool uses a Service.
type serviceForm int

const (
	formEndpoints serviceForm = iota // endpoints/NAMESPACE/SERVICE
	formService                      // service/NAMESPACE/SERVICE
)

var serviceForms = map[string]serviceForm{"endpoints": formEndpoints, "service": formService}

func (f serviceForm) String() string {
	if f == formService {
		return "service"
	}
	return "endpoints"
}

// serviceMember is one endpoints/ or service/ member of a pool.
type serviceMember struct {
	form      serviceForm
	namespace string
	name      string
	line      int // of its pool line, for messages

	// Set once the block is read: where the Service is watched, and the
	// probes of its endpoints (endpoints/ members of a block with checks).
	source kube.Source
	probe  *healthcheck.Settings // nil: not probed
	fleet  *fleet.Config         // the block's fleet, which shares its probes; nil for none

	// From OnStartup to OnShutdown.
	sub    atomic.Pointer[kube.Subscription]
	probes atomic.Pointer[probeSet] // the probed endpoints of its addresses, when probed
	follow *probeFollower
}

func (s *serviceMember) String() string {
	return s.form.String() + "/" + s.namespace + "/" + s.name
}

func (s *serviceMember) ref() kube.Ref {
	return kube.Ref{Source: s.source, Namespace: s.namespace, Name: s.name}
}

// state is what the watch of its Service knows now: nothing before startup.
func (s *serviceMember) state() *kube.State {
	if sub := s.sub.Load(); sub != nil {
		return sub.State()
	}
	return &kube.State{}
}

// serviceFormOf reports whether arg names a Service, and how.
func serviceFormOf(arg string) (serviceForm, bool) {
	prefix, _, ok := strings.Cut(arg, "/")
	if !ok {
		return 0, false
	}
	form, ok := serviceForms[prefix]
	return form, ok
}

// serviceMember reads endpoints/NAMESPACE/SERVICE or service/NAMESPACE/SERVICE.
func (p *blockParser) serviceMember(form serviceForm, arg string) (*serviceMember, error) {
	parts := strings.Split(arg, "/")
	if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
		return nil, p.c.Errf("'%s': a Service is named %s/NAMESPACE/SERVICE", arg, form)
	}
	for i, what := range []string{"namespace", "Service name"} {
		if !isDNSLabel(parts[i+1]) {
			return nil, p.c.Errf("'%s': '%s' is no Kubernetes %s (lower-case letters, digits and '-', at most 63)", arg, parts[i+1], what)
		}
	}
	s := &serviceMember{form: form, namespace: parts[1], name: parts[2], line: p.c.Line()}
	for _, other := range p.services {
		if other.String() == s.String() {
			return nil, p.c.Errf("'%s' is listed twice in this block", arg)
		}
	}
	p.services = append(p.services, s)
	return s, nil
}

// isDNSLabel reports whether s is an RFC 1123 label, as Kubernetes names
// namespaces and Services.
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// kubeconfig reads `kubeconfig FILE [CONTEXT]`, as the kubernetes plugin spells it.
func (p *blockParser) kubeconfig() (kube.Source, error) {
	args := p.c.RemainingArgs()
	if len(args) < 1 || len(args) > 2 {
		return kube.Source{}, p.c.Err("'kubeconfig' takes a FILE and an optional CONTEXT: kubeconfig FILE [CONTEXT]")
	}
	s := kube.Source{Kubeconfig: args[0]}
	if len(args) == 2 {
		s.Context = args[1]
	}
	return s, nil
}

// settleServices gives the block's Services their source and probes once the
// whole block is read, and refuses what cannot work.
func (p *blockParser) settleServices(b *block) error {
	line, hasKubeconfig := p.seen["kubeconfig"]
	if len(p.services) == 0 {
		if hasKubeconfig && b.fleet == nil {
			return errAt(p.c, line, "'kubeconfig' applies only to a block whose pools name Services (endpoints/NAMESPACE/SERVICE or service/NAMESPACE/SERVICE) or that has a 'fleet'")
		}
		return nil
	}
	if !hasKubeconfig {
		line = p.services[0].line
	}
	if err := b.source.Check(); err != nil {
		return errAt(p.c, line, "%s: %v", describeSource(b.source), err)
	}
	for _, s := range p.services {
		s.source = b.source
		if s.form == formEndpoints && len(b.probe.Checks) > 0 {
			s.probe = &b.probe
		}
	}
	return nil
}

func describeSource(s kube.Source) string {
	if s.Kubeconfig == "" {
		return "Services without 'kubeconfig' are read in-cluster"
	}
	return "kubeconfig " + s.String()
}

// hasServices reports whether some pool of b names a Service.
func (b *block) hasServices() bool {
	for _, p := range b.pools {
		if len(p.services) > 0 {
			return true
		}
	}
	return false
}

// liveMembers returns the members of each pool now: its addresses, then
// those its Services give, each address once per pool.
func (b *block) liveMembers() [][]member {
	live := make([][]member, len(b.pools))
	for i := range b.pools {
		live[i] = b.pools[i].liveMembers()
	}
	return live
}

func (p *pool) liveMembers() []member {
	if len(p.services) == 0 {
		return p.members
	}
	members := slices.Clone(p.members)
	seen := map[netip.Addr]bool{}
	for _, m := range members {
		seen[m.addr] = true
	}
	for _, s := range p.services {
		for _, m := range s.members() {
			if !seen[m.addr] {
				seen[m.addr] = true
				members = append(members, m)
			}
		}
	}
	return members
}

// members returns the members the Service gives now.
func (s *serviceMember) members() []member {
	st := s.state()
	var out []member
	switch s.form {
	case formService:
		serving := st.ServingCount()
		for i, addr := range st.ClusterIPs {
			m := s.member(addr)
			m.serving = serving > 0
			if i == 0 {
				m.weight = serving // the pool counts the Service's serving endpoints, once
			}
			out = append(out, m)
		}
	case formEndpoints:
		probes := s.probes.Load()
		for _, e := range st.Endpoints {
			m := s.member(e.Addr)
			m.serving, m.weight = e.Serving, 1
			if s.probe != nil {
				m.endpoint = probes.endpoint(e.Addr)
				m.unprobed = m.endpoint == nil
			}
			out = append(out, m)
		}
	}
	return out
}

func (s *serviceMember) member(addr netip.Addr) member {
	addr = addr.Unmap()
	return member{addr: addr, ip: net.IP(addr.AsSlice()), checkAddr: addr, source: s}
}

// size is how many endpoints p has now, as its healthy count counts them:
// a service/ member's are the Service's endpoints.
func (p *pool) size() int {
	n := len(p.members)
	for _, s := range p.services {
		st := s.state()
		n += len(st.Endpoints)
		if s.form == formService && len(st.ClusterIPs) == 0 {
			n -= len(st.Endpoints) // no address to answer: it counts nothing
		}
	}
	return n
}

// memberWeight is what m adds to its pool's healthy count when it counts
// healthy: 1 for an address, the serving endpoints of a service/ member.
func memberWeight(m member) int {
	if m.source == nil {
		return 1
	}
	return m.weight
}

// serviceHealthy is the verdict of a Service's member: Kubernetes says it
// serves and, when it is probed, its probes pass.
func serviceHealthy(m member) bool {
	return m.serving && !m.unprobed && (m.endpoint == nil || m.endpoint.Healthy())
}

// services returns every Service member of f's blocks, with the position of
// its block.
func (f *Failover) services() (all []*serviceMember, blocks []int) {
	for i, b := range f.blocks {
		for _, p := range b.pools {
			for _, s := range p.services {
				all = append(all, s)
				blocks = append(blocks, i)
			}
		}
	}
	return all, blocks
}

// startServices watches every Service of f; each change rebuilds the block
// that names it. The endpoints/ members of blocks with checks get probed.
func (f *Failover) startServices() error {
	all, blocks := f.services()
	for i, s := range all {
		block := blocks[i]
		changed := func() { f.changes.blockChanged(block) }
		if s.probe != nil {
			s.follow = newProbeFollower(s, changed)
			changed = s.follow.wake
		}
		sub, err := kube.Watch(s.ref(), changed)
		if err != nil {
			f.stopServices()
			return fmt.Errorf("failover block at line %d: %s: %w", f.blocks[block].line, s, err)
		}
		s.sub.Store(sub)
		if s.follow != nil {
			f.following.Add(1)
			go s.follow.run(&f.following)
		}
		changed() // what the watch knew before Watch returned

	}
	return nil
}

// stopServices ends the watches and probes startServices began.
func (f *Failover) stopServices() {
	all, _ := f.services()
	for _, s := range all {
		if s.follow != nil {
			s.follow.stop()
		}
		if sub := s.sub.Swap(nil); sub != nil {
			sub.Close()
		}
	}
}

// probeSet is the probed endpoints of a Service's addresses at one moment,
// and the engine probing them.
type probeSet struct {
	engine     *healthcheck.Engine
	byAddr     map[netip.Addr]*healthcheck.Endpoint
	membership *fleet.Membership // in the block's fleet, if it has one
}

// stop stops the probes and leaves the fleet.
func (ps *probeSet) stop() {
	ps.engine.Stop()
	if ps.membership != nil {
		ps.membership.Leave()
	}
}

func (ps *probeSet) endpoint(addr netip.Addr) *healthcheck.Endpoint {
	if ps == nil {
		return nil
	}
	return ps.byAddr[addr]
}

// probeFollower keeps the probes of an endpoints/ member on the Service's
// current addresses. Each change of addresses makes a new engine of them and
// starts it before it stops the previous one, as a reload does: an address
// kept keeps its entry in the process's registry, and with it its verdict,
// and a new address is answered only once it has been probed.
type probeFollower struct {
	s       *serviceMember
	changed func() // rebuilds the block
	wakeUp  chan struct{}
	done    chan struct{}

	mu       sync.Mutex
	stopped  bool
	starting *healthcheck.Engine // being started: stop interrupts it
}

func newProbeFollower(s *serviceMember, changed func()) *probeFollower {
	return &probeFollower{s: s, changed: changed, wakeUp: make(chan struct{}, 1), done: make(chan struct{})}
}

// wake is the Service's onChange: it never blocks.
func (pf *probeFollower) wake() {
	select {
	case pf.wakeUp <- struct{}{}:
	default:
	}
}

func (pf *probeFollower) run(wg *sync.WaitGroup) {
	defer wg.Done()
	defer func() {
		if ps := pf.s.probes.Swap(nil); ps != nil {
			ps.stop()
		}
	}()
	for {
		select {
		case <-pf.done:
			return
		case <-pf.wakeUp:
		}
		pf.follow()
		pf.changed()
	}
}

// follow probes the Service's current addresses, when they changed.
func (pf *probeFollower) follow() {
	addrs := map[netip.Addr]bool{}
	for _, e := range pf.s.state().Endpoints {
		addrs[e.Addr.Unmap()] = true
	}
	prev := pf.s.probes.Load()
	if prev != nil && len(prev.byAddr) == len(addrs) {
		same := true
		for a := range addrs {
			if prev.byAddr[a] == nil {
				same = false
				break
			}
		}
		if same {
			return
		}
	}
	next := &probeSet{byAddr: map[netip.Addr]*healthcheck.Endpoint{}}
	next.engine = healthcheck.NewEngine(func(*healthcheck.Endpoint) { pf.changed() })
	next.engine.OnProbe, next.engine.OnTransition = recordProbe, recordTransition
	next.engine.OnDoubt = func(*healthcheck.Endpoint) { pf.changed() } // the TTL of the answers may change
	for a := range addrs {
		next.byAddr[a] = next.engine.Endpoint(a, *pf.s.probe)
	}
	pf.mu.Lock()
	if pf.stopped {
		pf.mu.Unlock()
		return
	}
	pf.starting = next.engine
	pf.mu.Unlock()
	next.engine.Start() // returns once each new address has a verdict, or at stop
	pf.mu.Lock()
	pf.starting = nil
	stopped := pf.stopped
	pf.mu.Unlock()
	if stopped {
		next.engine.Stop()
		return
	}
	if pf.s.fleet != nil {
		next.membership = fleet.Join(*pf.s.fleet, next.engine.Endpoints())
	}
	pf.s.probes.Store(next)
	if prev != nil {
		prev.stop()
	}
}

func (pf *probeFollower) stop() {
	pf.mu.Lock()
	if pf.stopped {
		pf.mu.Unlock()
		return
	}
	pf.stopped = true
	starting := pf.starting
	pf.mu.Unlock()
	close(pf.done)
	if starting != nil {
		starting.Stop()
	}
}

// serviceStatus reports one Service of a pool in the status document.
type serviceStatus struct {
	Member    string `json:"member"`    // as written: endpoints/NS/SVC or service/NS/SVC
	Synced    bool   `json:"synced"`    // listed once since startup
	Found     bool   `json:"found"`     // the Service exists; if not, it gives no address
	Endpoints int    `json:"endpoints"` // addresses of its EndpointSlices
	Serving   int    `json:"serving"`   // of them, serving
	API       string `json:"api"`       // its API server: "up", or "unreachable since TIME: ERROR", keeping the last state known
	Source    string `json:"source"`    // in-cluster, or the kubeconfig
}

func servicesStatus(services []*serviceMember) []serviceStatus {
	var out []serviceStatus
	for _, s := range services {
		st := s.state()
		ss := serviceStatus{Member: s.String(), Synced: st.Synced, Found: st.Found, Endpoints: len(st.Endpoints), Serving: st.ServingCount(), API: "not started", Source: s.source.String()}
		if sub := s.sub.Load(); sub != nil {
			api := sub.Source()
			switch {
			case api.Up:
				ss.API = "up"
			case api.Since.IsZero():
				ss.API = "unreachable: " + api.Err
			default:
				ss.API = "unreachable since " + timestamp(api.Since) + ": " + api.Err
			}
		}
		out = append(out, ss)
	}
	return out
}

// kubeSyncWait bounds how long startup waits for the first listing of its
// Services, as the kubernetes plugin waits for its own: long enough for an
// API server that answers, short enough that one that does not delays
// CoreDNS little. The server is not ready until they are listed.
var kubeSyncWait = 5 * time.Second

// awaitServices waits until every Service of f is listed once, and the
// probes of the addresses listed have their verdicts, or until wait passes.
func (f *Failover) awaitServices(wait time.Duration) {
	all, _ := f.services()
	if len(all) == 0 {
		return
	}
	deadline := time.Now().Add(wait)
	for !f.servicesSettled(all) {
		if time.Now().After(deadline) {
			log.Warningf("server block %s: Services not listed within %s of startup: their pools are empty until they are, and CoreDNS is not ready", f.server, wait)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// servicesSettled reports whether every Service of all is listed and every
// endpoints/ member probed has probes on what was listed.
func (f *Failover) servicesSettled(all []*serviceMember) bool {
	for _, s := range all {
		st := s.state()
		if !st.Synced {
			return false
		}
		if s.probe == nil {
			continue
		}
		probes := s.probes.Load()
		for _, e := range st.Endpoints {
			if probes.endpoint(e.Addr.Unmap()) == nil {
				return false
			}
		}
	}
	return true
}
