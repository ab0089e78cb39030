package fleet

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failover-dns/failover/fleet"
	"github.com/failover-dns/failover/healthcheck"
	"github.com/failover-dns/failover/internal/k8stest"
)

// The variants of one real replica: (b1)/(a1) is what a replica of a fleet
// of three costs, at 10,000 endpoints, against the same replica alone. The
// two other replicas of the fleet are simulated: two shared cores cannot
// run three replicas that each probe 10,000 endpoints a second.
var oneReplica = []variant{
	{"a1", "1 replica, no fleet", 1, 0, false, 0},
	{"b1", "1 replica, fleet, probers 1, 2 simulated", 1, 2, true, 1},
}

// BenchmarkFleetOneReplicaCPU measures the CPU of one CoreDNS replica in
// steady state at 10,000 endpoints, alone without fleet (a1), and in a fleet
// of three with probers 1 (b1), the two other replicas simulated:
//
//	go test -run '^$' -bench FleetOneReplicaCPU -benchtime 1x -v ./bench/fleet -rounds 2
//
// The benchmark process writes the simulated replicas' Leases (replica-1
// and replica-2) as a real replica does, renewed every second, each
// observing every endpoint up. The real replica (replica-0) then probes only
// the endpoints that rendezvous hashing ranks it first for, about a third,
// and takes the verdict of the others from the simulated Leases: what it
// probes, publishes and reads is what it would in a fleet of three real
// replicas, but for the Leases it reads, each of which carries every
// endpoint where a real one carries only those its replica probes (about
// a third with probers 1, 120 kB instead of 40 kB at 10,000 endpoints).
// package fleet's ranking is not exported, so the simulated replicas
// cannot observe their own share only.
func BenchmarkFleetOneReplicaCPU(b *testing.B) { run(b, oneReplica) }

// simulatedPeers write the Leases of the replicas a variant simulates.
type simulatedPeers struct {
	cluster    *k8stest.Cluster
	annotation string // every simulated replica's observations
	votes      int    // the votes every endpoint has once the real replicas count the simulated ones'
	cancel     context.CancelFunc
	renewing   sync.WaitGroup

	mu      sync.Mutex
	writes  int   // renewals that succeeded
	failed  int   // renewals that failed
	lastErr error // of the last renewal that failed
}

// startSimulatedPeers writes the Leases of v's simulated replicas, at once
// and then every second, until stop.
func startSimulatedPeers(b *testing.B, cluster *k8stest.Cluster, v variant, backendPort int) *simulatedPeers {
	ctx, cancel := context.WithCancel(context.Background())
	p := &simulatedPeers{cluster: cluster, annotation: allUp(b, backendPort), votes: v.simulated, cancel: cancel}
	b.Cleanup(cancel)
	for i := range v.simulated {
		identity := fmt.Sprintf("replica-%d", v.replicas+i)
		// The first write before the replicas start, so that they find
		// the Lease fresh at their first list.
		lease, err := p.write(ctx, identity, nil)
		if err != nil {
			b.Fatalf("writing the Lease of the simulated %s: %v", identity, err)
		}
		p.renewing.Add(1)
		go p.renew(ctx, identity, lease)
	}
	return p
}

// simulatedRenew is the simulated replicas' renewal period, and
// simulatedDuration their Leases' duration: a real replica's, whose
// endpoints are probed every second.
const (
	simulatedRenew    = time.Second
	simulatedDuration = 3
)

// renew writes identity's Lease every second until ctx ends.
func (p *simulatedPeers) renew(ctx context.Context, identity string, lease *coordinationv1.Lease) {
	defer p.renewing.Done()
	ticker := time.NewTicker(simulatedRenew)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		written, err := p.write(ctx, identity, lease)
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		if err == nil {
			p.writes++
			lease = written
		} else {
			p.failed++
			p.lastErr = err
		}
		p.mu.Unlock()
	}
}

// write renews identity's Lease from lease, the copy last written, or
// creates it when lease is nil, as a real replica does.
func (p *simulatedPeers) write(ctx context.Context, identity string, lease *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	leases := p.cluster.Client.CoordinationV1().Leases(namespace)
	now := metav1.NewMicroTime(time.Now())
	holder, seconds := identity, int32(simulatedDuration)
	if lease == nil {
		l := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name:        group + "-" + identity,
				Namespace:   namespace,
				Labels:      map[string]string{fleet.LabelGroup: group},
				Annotations: map[string]string{fleet.AnnotationObservations: p.annotation},
			},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &seconds, AcquireTime: &now, RenewTime: &now},
		}
		return leases.Create(ctx, l, metav1.CreateOptions{})
	}
	l := lease.DeepCopy()
	l.Spec.RenewTime = &now
	return leases.Update(ctx, l, metav1.UpdateOptions{})
}

// waitCounted returns once each replica of rs counts the simulated
// replicas' votes for every endpoint of its first block: the observations
// name the endpoints as the replicas do.
func (p *simulatedPeers) waitCounted(b *testing.B, rs []*replica) {
	deadline := time.Now().Add(settleWithin)
	for _, r := range rs {
		for {
			votes, err := r.fewestVotes(blockName(0))
			if err == nil && votes >= p.votes {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s does not count the simulated replicas' votes after %v: %d at least, want %d; %v", r.identity, settleWithin, votes, p.votes, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// stop ends the renewals; the caller deletes the Leases with the replicas'.
// Renewals that failed are logged: a simulated Lease not renewed in time
// makes the real replicas probe what they delegated, and the figures are
// then not a fleet's in steady state (the column unshared says whether a
// replica saw it).
func (p *simulatedPeers) stop(b *testing.B) {
	p.cancel()
	p.renewing.Wait()
	if p.failed > 0 {
		b.Logf("%d of %d renewals of the simulated Leases failed, the last with: %v", p.failed, p.failed+p.writes, p.lastErr)
	}
}

// allUp is the observations annotation of a replica that observes every
// endpoint up, each named by its ID as healthcheck gives it.
func allUp(b *testing.B, backendPort int) string {
	check, err := healthcheck.ParseCheck(checkURL(backendPort))
	if err != nil {
		b.Fatal(err)
	}
	obs := make([]observation, 0, *endpoints)
	addr := netip.MustParseAddr(firstBackend)
	for range *endpoints {
		e := healthcheck.Endpoint{Addr: addr, Settings: healthcheck.Settings{Checks: []*healthcheck.Check{check}}}
		obs = append(obs, observation{idHash(e.ID()), true})
		addr = addr.Next()
	}
	return encodeObservations(obs)
}

// The encoding of observations, copied from package fleet
// (fleet/observations.go), which does not export it: a Lease's annotation
// is base64 of, for each endpoint sorted by hash, the FNV-1a-64 of its ID,
// big-endian, and a state byte, 1 for up.
type observation struct {
	hash uint64
	up   bool
}

func idHash(id string) uint64 {
	const (
		fnvOffset64 = 14695981039346656037
		fnvPrime64  = 1099511628211
	)
	h := uint64(fnvOffset64)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= fnvPrime64
	}
	return h
}

func encodeObservations(obs []observation) string {
	slices.SortStableFunc(obs, func(a, b observation) int { return cmp.Compare(a.hash, b.hash) })
	buf := make([]byte, 0, len(obs)*9)
	for i, o := range obs {
		if i > 0 && obs[i-1].hash == o.hash {
			continue
		}
		buf = binary.BigEndian.AppendUint64(buf, o.hash)
		state := byte(0)
		if o.up {
			state = 1
		}
		buf = append(buf, state)
	}
	return base64.StdEncoding.EncodeToString(buf)
}
