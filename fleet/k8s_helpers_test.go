package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	golog "log"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/failover-dns/failover/healthcheck"
	"github.com/failover-dns/failover/internal/k8stest"
	"github.com/failover-dns/failover/kube"
)

// The tests' loopback range, 127.0.31.0/24, and the namespace of their
// Leases.
const (
	testNamespace = "dns"
	self          = "replica-0" // this process, by POD_NAME
)

// Deadlines. A Lease written by a test reaches this replica's informer, and a
// write of ours the API server, within a second on a busy machine; the first
// list and write may take longer while the API server warms up.
const (
	changeDeadline = 2 * time.Second
	joinDeadline   = 30 * time.Second
)

// probeSettings probe every 250 ms, and decide on one result: this replica's
// Lease is renewed every second (the minimum) and lasts 3.
func probeSettings(port int) healthcheck.Settings {
	check, err := healthcheck.ParseCheck(fmt.Sprintf("http://:%d/", port))
	if err != nil {
		panic(err)
	}
	return healthcheck.Settings{Checks: []*healthcheck.Check{check}, Interval: 250 * time.Millisecond,
		Timeout: 200 * time.Millisecond, Fall: 1, Rise: 1}
}

// backend is a real HTTP health endpoint on a loopback address: it passes
// (200) or fails (503), and counts the probes it receives.
type backend struct {
	ip      string
	failing atomic.Bool
	hits    atomic.Int64
}

func (b *backend) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	b.hits.Add(1)
	if b.failing.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
}

// startBackends serves one backend on each of n addresses from 127.0.31.first,
// all on one port, returned.
func startBackends(t *testing.T, first, n int) ([]*backend, int) {
	t.Helper()
	for range 20 {
		port := 0
		var bs []*backend
		var servers []*http.Server
		for i := range n {
			b := &backend{ip: fmt.Sprintf("127.0.31.%d", first+i)}
			ln, err := net.Listen("tcp", net.JoinHostPort(b.ip, fmt.Sprint(port)))
			if err != nil {
				break
			}
			port = ln.Addr().(*net.TCPAddr).Port
			srv := &http.Server{Handler: b}
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					t.Errorf("backend %s: %v", b.ip, err)
				}
			}()
			bs, servers = append(bs, b), append(servers, srv)
		}
		t.Cleanup(func() {
			for _, srv := range servers {
				srv.Close()
			}
		})
		if len(bs) == n {
			return bs, port
		}
	}
	t.Fatalf("no port free on %d addresses from 127.0.31.%d", n, first)
	return nil, 0
}

// startEngine probes the backends, as a block's engine does, until t ends,
// and returns their endpoints once each has a verdict.
func startEngine(t *testing.T, bs []*backend, port int) []*healthcheck.Endpoint {
	t.Helper()
	g := healthcheck.NewEngine(nil)
	var eps []*healthcheck.Endpoint
	for _, b := range bs {
		eps = append(eps, g.Endpoint(netip.MustParseAddr(b.ip), probeSettings(port)))
	}
	g.Start()
	t.Cleanup(g.Stop)
	return eps
}

// testConfig is a group of the cluster's, joined as replica-0.
func testConfig(t *testing.T, c *k8stest.Cluster, group string, probers, quorum int) Config {
	t.Helper()
	t.Setenv(EnvPodName, self)
	c.Namespace(t, testNamespace)
	cfg := Config{Namespace: testNamespace, Group: group, Source: kube.Source{Kubeconfig: c.Kubeconfig(t)}, Probers: probers, Quorum: quorum}
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// join joins cfg's group, and leaves it when t ends unless the test did.
func join(t *testing.T, cfg Config, eps []*healthcheck.Endpoint) *Membership {
	t.Helper()
	m := Join(cfg, eps)
	t.Cleanup(m.Leave)
	return m
}

func waitShared(t *testing.T, m *Membership) {
	t.Helper()
	k8stest.WaitFor(t, joinDeadline, "the group shared", func() bool { return m.Status().Mode == ModeShared })
}

// replica writes the Lease of another replica of a group, as that replica
// would: its observations of endpoints, renewed now, lasting duration.
type replica struct {
	client           kubernetes.Interface
	namespace, group string
	identity         string
	duration         time.Duration
	skew             time.Duration // how far its clock is from ours: it writes renewTime by its clock
	mu               sync.Mutex
	obs              map[string]bool // by endpoint ID
	pushed           string          // its pushed annotation, as written; none when empty
}

func newReplica(c *k8stest.Cluster, group, identity string, duration time.Duration) *replica {
	return &replica{client: c.Client, namespace: testNamespace, group: group, identity: identity, duration: duration, obs: map[string]bool{}}
}

// observe sets what the replica sees of eps, from its next write.
func (r *replica) observe(up bool, eps ...*healthcheck.Endpoint) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range eps {
		r.obs[e.ID()] = up
	}
}

// write writes the Lease now, and fails t if it cannot.
func (r *replica) write(t testing.TB) {
	t.Helper()
	if err := r.tryWrite(); err != nil {
		t.Errorf("replica %s: writing its Lease: %v", r.identity, err)
	}
}

func (r *replica) tryWrite() error {
	r.mu.Lock()
	var obs []observation
	for id, up := range r.obs {
		obs = append(obs, observation{idHash(id), up})
	}
	pushed := r.pushed
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	leases := r.client.CoordinationV1().Leases(r.namespace)
	name := leaseName(r.group, r.identity)
	now := metav1.NewMicroTime(time.Now().Add(r.skew))
	seconds := int32(r.duration / time.Second)
	spec := coordinationv1.LeaseSpec{HolderIdentity: &r.identity, LeaseDurationSeconds: &seconds, RenewTime: &now}
	meta := metav1.ObjectMeta{Name: name, Namespace: r.namespace, Labels: map[string]string{LabelGroup: r.group},
		Annotations: map[string]string{AnnotationObservations: encodeObservations(obs)}}
	if pushed != "" {
		meta.Annotations[AnnotationPushed] = pushed
	}
	have, err := leases.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: meta, Spec: spec}, metav1.CreateOptions{})
	case err == nil:
		have.Labels, have.Annotations, have.Spec = meta.Labels, meta.Annotations, spec
		_, err = leases.Update(ctx, have, metav1.UpdateOptions{})
	}
	return err
}

// renewing writes the Lease every period until the returned stop is called
// (or t ends): a live replica. Only the first write must succeed: the later
// ones fail while the API server is down, as a real replica's do.
func (r *replica) renewing(t *testing.T, period time.Duration) (stop func()) {
	r.write(t)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				_ = r.tryWrite()
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(done); <-finished }) }
	t.Cleanup(stop)
	return stop
}

// ownLease reads this replica's Lease; nil when it does not exist.
func ownLease(t *testing.T, c *k8stest.Cluster, group string) *coordinationv1.Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := c.Client.CoordinationV1().Leases(testNamespace).Get(ctx, leaseName(group, self), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("reading this replica's Lease: %v", err)
	}
	return l
}

// logBuffer collects what this package logs, for tests that count lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// captureLog collects CoreDNS's log (the standard logger) until t ends.
func captureLog(t *testing.T) *logBuffer {
	b := &logBuffer{}
	golog.SetOutput(b)
	t.Cleanup(func() { clog.Discard(); golog.SetOutput(io.Discard) })
	return b
}
