package integration

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failover-dns/failover/internal/k8stest"
)

// The scenarios of a fleet (issue 12): three (or N) CoreDNS processes, each
// with its own identity, share health through Leases on one real
// kube-apiserver; their backends are real HTTP servers. Replicas and
// backends listen on 127.0.41.0/24; a test that isolates a replica runs in
// a network namespace of its own and puts its backends in the pod network,
// 10.244.41.0/24, which the isolated replica reaches through a veth pair.

// Probing of every fleet test: a renew period of one interval (1s, the
// least), so a Lease lasts three.
const (
	fleetInterval = time.Second
	fleetTimeout  = 500 * time.Millisecond
	fleetFall     = 2
	fleetRise     = 2
	fleetLease    = 3 * fleetInterval
	fleetNS       = "dns"
	// What two shared, race-instrumented cores add to a bound that the
	// design gives; the tests log what they measure.
	fleetMargin = 2 * time.Second
	// How soon after the API server answers again the replicas share
	// again: a Lease duration, and a reconnection as package kube's
	// reflectors make one (after at most 5 s, stretched by jitter up to 10 s;
	// client-go's default waits up to a minute), and the margin.
	fleetRejoin = fleetLease + 10*time.Second + fleetMargin
)

// fleetBlock is a failover block governing name, with the primary and
// secondary pools given (addresses separated by spaces), probed on port.
func fleetBlock(name, primary, secondary string, port, ttl int) string {
	return fmt.Sprintf(`	failover %s {
		primary   %s
		secondary %s
		check     http://:%d/health
		interval  %s
		timeout   %s
		fall      %d
		rise      %d
		ttl       %d
		{{replica}}
	}`, name, primary, secondary, port, fleetInterval, fleetTimeout, fleetFall, fleetRise, ttl)
}

// fleetCluster starts the API server of a fleet test, and returns it and a
// kubeconfig of a ServiceAccount that may do on Leases of fleetNS exactly
// what the issue grants: get, list, watch, create, update, delete.
func fleetCluster(t *testing.T) (*k8stest.Cluster, string) {
	t.Helper()
	cluster := k8stest.Start(t)
	cluster.Namespace(t, fleetNS)
	kubeconfig := cluster.ServiceAccountKubeconfig(t, fleetNS, "coredns")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "failover-fleet", Namespace: fleetNS},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"coordination.k8s.io"},
			Resources: []string{"leases"},
			Verbs:     []string{"get", "list", "watch", "create", "update", "delete"},
		}},
	}
	if _, err := cluster.Client.RbacV1().Roles(fleetNS).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "failover-fleet", Namespace: fleetNS},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "failover-fleet"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "coredns", Namespace: fleetNS}},
	}
	if _, err := cluster.Client.RbacV1().RoleBindings(fleetNS).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return cluster, kubeconfig
}

// leases returns the UID of each Lease of group (in fleetNS) by holder.
func leases(t *testing.T, cluster *k8stest.Cluster, group string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := cluster.Client.CoordinationV1().Leases(fleetNS).List(ctx, metav1.ListOptions{LabelSelector: "failover.coredns.io/fleet=" + group})
	if err != nil {
		t.Fatal(err)
	}
	uids := map[string]string{}
	for _, l := range list.Items {
		holder := ""
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		if l.Name != group+"-"+holder {
			t.Errorf("Lease %s held by %q: want the name GROUP-IDENTITY", l.Name, holder)
		}
		uids[holder] = string(l.UID)
	}
	return uids
}

// stopAll stops the replicas (SIGTERM) and checks that their Leases go:
// shutdown deletes a replica's Lease.
func stopAll(t *testing.T, cluster *k8stest.Cluster, group string, replicas []*replica) {
	t.Helper()
	for _, r := range replicas {
		r.stop()
	}
	k8stest.WaitFor(t, 10*time.Second, "no Lease of "+group+" once its replicas stopped", func() bool {
		return len(leases(t, cluster, group)) == 0
	})
}

// TestFleetAgreement fails and recovers the primary of three replicas
// several times, and measures each time how long the replicas disagree:
// from the first answering the new pool to the last. With a fleet they
// agree within one interval and a second of the first; the same replicas
// without fleet are measured for comparison.
func TestFleetAgreement(t *testing.T) {
	cluster, kubeconfig := fleetCluster(t)
	backends := startBackends(t, "127.0.41.21", "127.0.41.22")
	primary, secondary := backends[0], backends[1]
	const name, group, cycles = "app.example.org.", fleetNS + "/app", 3
	shared := fleetSpec{group: group, kubeconfig: kubeconfig, blocks: fleetBlock(name, primary.ip, secondary.ip, primary.port, 5)}
	alone := shared
	alone.group = ""

	windows := map[string][]time.Duration{}
	for _, mode := range []struct {
		name string
		spec fleetSpec
	}{{"fleet", shared}, {"without fleet", alone}} {
		t.Run(mode.name, func(t *testing.T) {
			replicas := startFleet(t, mode.spec, "127.0.41.11", "127.0.41.12", "127.0.41.13")
			if mode.spec.group != "" {
				fleetWait(t, 30*time.Second, replicas, func(_ *replica, rep *statusReport) string { return settled(rep, replicas, 3) })
				if got := leases(t, cluster, "app"); len(got) != 3 {
					t.Fatalf("Leases of the group: %v, want one for each of 3 replicas", got)
				}
			}
			logs := make([]*answerLog, len(replicas))
			for i, r := range replicas {
				logs[i] = watchAnswers(t, r, name)
			}
			waitAgreement(t, logs, time.Time{}, primary.ip, 10*time.Second)
			for range cycles {
				for _, change := range []struct {
					mode backendMode
					want string
				}{{unavailable, secondary.ip}, {healthy, primary.ip}} {
					at := time.Now()
					primary.set(change.mode)
					w := waitAgreement(t, logs, at, change.want, 30*time.Second)
					windows[mode.name] = append(windows[mode.name], w)
				}
			}
			if mode.spec.group != "" {
				stopAll(t, cluster, "app", replicas)
			}
		})
	}

	bound := fleetInterval + time.Second
	for _, w := range windows["fleet"] {
		if w > bound {
			t.Errorf("with a fleet the replicas disagreed for %v after a change, want within interval + 1s = %v (all: %v)", w, bound, windows["fleet"])
			break
		}
	}
	for _, mode := range []string{"fleet", "without fleet"} {
		ws := windows[mode]
		if len(ws) == 0 {
			continue // its subtest failed before any change
		}
		t.Logf("%s: disagreement window p99 %v, max %v over %d changes (interval %v, fall %d, rise %d): %v",
			mode, percentile(ws, 99), slices.Max(ws), len(ws), fleetInterval, fleetFall, fleetRise, ws)
	}
}

// TestFleetPartialView gives one of three replicas a network in which the
// primary is unreachable (a blackhole route), while the two others reach
// it: its own probes fail, and yet no replica fails over, since one vote
// of three is not more than half.
func TestFleetPartialView(t *testing.T) {
	corednsBinary(t) // built here: the run in a namespace of its own uses it
	if !k8stest.RunInPodNetwork(t) {
		return
	}
	cluster, kubeconfig := fleetCluster(t)
	backends := startBackends(t, "10.244.41.10", "10.244.41.20")
	primary, secondary := backends[0], backends[1]
	const name = "app.example.org."
	spec := fleetSpec{group: fleetNS + "/app", kubeconfig: kubeconfig, blocks: fleetBlock(name, primary.ip, secondary.ip, primary.port, 5)}

	replicas := startFleet(t, spec, "127.0.41.31", "127.0.41.32")
	cut := isolatedReplica(t, "replica-2")
	cut.start(spec, &isolation{blackholes: []string{primary.ip}, cluster: cluster, kubeconfig: kubeconfig})
	cut.waitServing()
	replicas = append(replicas, cut)

	// The fleet forms; the cut replica sees the primary down on its own,
	// and serves the verdict of the three: up.
	fleetWait(t, 30*time.Second, replicas, func(_ *replica, rep *statusReport) string { return settled(rep, replicas, 3) })
	votes := func(local string) func(*replica, *statusReport) string {
		return func(_ *replica, rep *statusReport) string {
			e, ok := rep.endpoints()[primary.ip]
			if !ok || e.Fleet == nil {
				return "no fleet status of the primary"
			}
			if f := e.Fleet; f.Local != local || f.Shared != "up" || f.Up != 2 || f.Down != 1 {
				return fmt.Sprintf("primary: %+v, want local %s, shared up, 2 up and 1 down", *f, local)
			}
			return ""
		}
	}
	fleetWait(t, 10*time.Second, []*replica{cut}, votes("down"))
	fleetWait(t, 10*time.Second, replicas[:2], votes("up"))
	for _, r := range replicas {
		for vote, want := range map[string]float64{"up": 2, "down": 1} {
			waitSum(t, r, `coredns_failover_fleet_votes\{endpoint="[^"]*`+regexp.QuoteMeta(primary.ip)+`[^"]*",group="`+spec.group+`",vote="`+vote+`"\}`, want)
		}
	}

	// For several times what it takes a replica to fail over alone, every
	// replica answers the primary.
	logs := make([]*answerLog, len(replicas))
	for i, r := range replicas {
		logs[i] = watchAnswers(t, r, name)
	}
	from := time.Now()
	waitAgreement(t, logs, time.Time{}, primary.ip, 10*time.Second)
	<-time.After(3 * fleetFall * fleetInterval) // the span observed
	for _, l := range logs {
		if got := l.since(from); !slices.Equal(got, []string{primary.ip}) {
			t.Errorf("%s answered %v while one replica of three could not reach the primary, want only %s", l.replica.identity, got, primary.ip)
		}
	}
	rep := fleetWait(t, 10*time.Second, []*replica{cut}, votes("down"))[0]
	if p := rep.endpoints()[primary.ip].LastProbe; p != nil {
		t.Logf("%s's last probe of the primary: %s (%s); the fleet's verdict: up, 2 votes to 1; every replica answered only the primary for %v",
			cut.identity, p.Result, p.Error, 3*fleetFall*fleetInterval)
	}
	if secondary.hits.Load() == 0 {
		t.Error("the secondary was never probed")
	}
}

// TestFleetKilledReplica kills one of three replicas (SIGKILL: its Lease
// stays) with probers 2: within the Lease duration the two others probe
// every endpoint it probed, no endpoint goes unprobed meanwhile, and no
// answer changes.
func TestFleetKilledReplica(t *testing.T) {
	cluster, kubeconfig := fleetCluster(t)
	primaryIPs := []string{"127.0.41.51", "127.0.41.52", "127.0.41.53"}
	secondaryIPs := []string{"127.0.41.54", "127.0.41.55", "127.0.41.56"}
	backends := startBackends(t, append(slices.Clone(primaryIPs), secondaryIPs...)...)
	const name = "app.example.org."
	spec := fleetSpec{group: fleetNS + "/app", kubeconfig: kubeconfig, probers: 2,
		blocks: fleetBlock(name, strings.Join(primaryIPs, " "), strings.Join(secondaryIPs, " "), backends[0].port, 5)}
	replicas := startFleet(t, spec, "127.0.41.41", "127.0.41.42", "127.0.41.43")
	reports := fleetWait(t, 30*time.Second, replicas, func(_ *replica, rep *statusReport) string { return settled(rep, replicas, 2) })

	// The victim is the replica that probes the most endpoints: at least
	// four of the six, as twelve probes are shared by three.
	probes := map[string][]string{}
	for addr, e := range reports[0].endpoints() {
		for _, id := range e.Fleet.Probers {
			probes[id] = append(probes[id], addr)
		}
	}
	victim := slices.MaxFunc(replicas, func(a, b *replica) int { return len(probes[a.identity]) - len(probes[b.identity]) })
	var survivors []*replica
	for _, r := range replicas {
		if r != victim {
			survivors = append(survivors, r)
		}
	}
	logs := make([]*answerLog, len(survivors))
	for i, r := range survivors {
		logs[i] = watchAnswers(t, r, name)
	}
	hits := watchHits(t, backends)
	want := strings.Join(primaryIPs, " ")
	waitAgreement(t, logs, time.Time{}, want, 10*time.Second)

	killed := time.Now()
	victim.kill()
	fleetWait(t, fleetLease+2*fleetMargin, survivors, func(_ *replica, rep *statusReport) string {
		if problem := settled(rep, survivors, 2); problem != "" {
			return problem
		}
		for addr, e := range rep.endpoints() {
			if !e.Fleet.Probing {
				return addr + " not probed by this replica"
			}
		}
		return ""
	})
	took := time.Since(killed)
	t.Logf("%s killed: its %d endpoints were probed by the two others %v later (Lease duration %v)", victim.identity, len(probes[victim.identity]), took.Round(time.Millisecond), fleetLease)
	if took > fleetLease+fleetMargin {
		t.Errorf("the survivors took %v to probe the killed replica's endpoints, want within the Lease duration %v (+%v)", took, fleetLease, fleetMargin)
	}

	for _, r := range survivors {
		waitSum(t, r, `coredns_failover_fleet_replicas\{group="`+spec.group+`"\}`, 2)
		waitSum(t, r, `coredns_failover_fleet_probing\{[^}]*group="`+spec.group+`"[^}]*\}`, float64(len(backends)))
	}

	// At the backends: each endpoint is probed twice an interval again, and
	// none waited for a probe longer than an interval and a margin.
	const window = 4 * fleetInterval
	taken := countHits(backends, window)
	end := time.Now()
	if least := int64(len(backends) * 2 * (int(window/fleetInterval) - 1)); taken < least {
		t.Errorf("%d health checks over %v at %d backends after the takeover, want at least %d (two probers each)", taken, window, len(backends), least)
	}
	longest := time.Duration(0)
	for i, b := range backends {
		gap := hits.longestGap(i, killed, end)
		if gap > fleetInterval+fleetMargin {
			t.Errorf("%s went %v without a health check after %s was killed", b.ip, gap, victim.identity)
		}
		longest = max(longest, gap)
	}
	t.Logf("after the takeover: %.1f checks/s at %d backends (two probers each: %d/s); the longest any went without a check since the kill: %v",
		float64(taken)/window.Seconds(), len(backends), 2*len(backends), longest.Round(time.Millisecond))
	for _, l := range logs {
		if got := l.since(killed); !slices.Equal(got, []string{want}) {
			t.Errorf("%s answered %v after %s was killed, want only %q", l.replica.identity, got, victim.identity, want)
		}
	}
	t.Logf("Leases of the group after the kill, by holder: %v", leases(t, cluster, "app"))
}

// TestFleetAPIServerStopped stops the API server for 30s under three
// replicas: they keep answering, fall back to deciding alone (status and
// metric say so) and fail over on their own probes meanwhile, then rejoin
// the fleet with the Leases they had. Then 20 reloads (SIGUSR1) of each
// leave no goroutine, informer or watch behind, and keep the Leases.
func TestFleetAPIServerStopped(t *testing.T) {
	cluster, kubeconfig := fleetCluster(t)
	backends := startBackends(t, "127.0.41.71", "127.0.41.72")
	primary, secondary := backends[0], backends[1]
	const name, group = "app.example.org.", fleetNS + "/app"
	spec := func(ttl int) fleetSpec {
		return fleetSpec{group: group, kubeconfig: kubeconfig, blocks: fleetBlock(name, primary.ip, secondary.ip, primary.port, ttl)}
	}
	replicas := startFleet(t, spec(5), "127.0.41.61", "127.0.41.62", "127.0.41.63")
	isSettled := func(_ *replica, rep *statusReport) string { return settled(rep, replicas, 3) }
	fleetWait(t, 30*time.Second, replicas, isSettled)
	held := leases(t, cluster, "app")
	logs := make([]*answerLog, len(replicas))
	for i, r := range replicas {
		logs[i] = watchAnswers(t, r, name)
	}
	waitAgreement(t, logs, time.Time{}, primary.ip, 10*time.Second)

	const outage = 30 * time.Second
	stopped := time.Now()
	cluster.StopAPIServer(t)
	fleetWait(t, fleetLease+2*fleetMargin, replicas, func(_ *replica, rep *statusReport) string {
		if g := rep.fleet(); g == nil || g.Mode != "alone" {
			return "not deciding alone"
		}
		return ""
	})
	t.Logf("the replicas decided alone %v after the API server stopped (Lease duration %v)", time.Since(stopped).Round(time.Millisecond), fleetLease)
	alone := `coredns_failover_fleet_alone\{group="` + group + `"\}`
	for _, r := range replicas {
		waitSeries(t, r.metrics, alone, 1)
	}
	// Alone, each fails over and back on its own probes.
	at := time.Now()
	primary.set(unavailable)
	waitAgreement(t, logs, at, secondary.ip, 10*time.Second)
	at = time.Now()
	primary.set(healthy)
	waitAgreement(t, logs, at, primary.ip, 10*time.Second)

	<-time.After(time.Until(stopped.Add(outage))) // the rest of the outage
	cluster.StartAPIServer(t)
	restarted := time.Now()
	fleetWait(t, 2*time.Minute, replicas, isSettled)
	took := time.Since(restarted)
	t.Logf("the replicas shared again %v after the API server answered", took.Round(time.Millisecond))
	if took > fleetRejoin {
		t.Errorf("the replicas took %v to share again after the API server answered, want within %v", took.Round(time.Millisecond), fleetRejoin)
	}
	for _, r := range replicas {
		waitSeries(t, r.metrics, alone, 0)
	}
	for _, l := range logs {
		for _, answer := range l.since(stopped) {
			if answer != primary.ip && answer != secondary.ip {
				t.Errorf("%s answered %q during or after the outage", l.replica.identity, answer)
			}
		}
	}
	if got := leases(t, cluster, "app"); !maps.Equal(got, held) {
		t.Errorf("Leases after the outage %v, before %v: want the same, renewed", got, held)
	}

	// 20 reloads, each with another ttl, which the answers show.
	before, watchesBefore := fleetResources(t, cluster, replicas)
	for i := range 20 {
		ttl := 10 + i
		for _, r := range replicas {
			r.reload(spec(ttl))
		}
		for _, r := range replicas {
			waitTTL(t, r, name, ttl)
		}
	}
	fleetWait(t, 30*time.Second, replicas, isSettled)
	var after []resources
	var watchesAfter int
	k8stest.WaitFor(t, 30*time.Second, "the goroutines and watches of before the reloads", func() bool {
		after, watchesAfter = fleetResources(t, cluster, replicas)
		return watchesAfter <= watchesBefore && slices.EqualFunc(before, after, func(b, a resources) bool {
			return a.reflectors == b.reflectors && a.goroutines <= b.goroutines+goroutineSlack
		})
	})
	t.Logf("before 20 reloads: %+v, %d Lease watches at the API server; after: %+v, %d", before, watchesBefore, after, watchesAfter)
	if got := leases(t, cluster, "app"); !maps.Equal(got, held) {
		t.Errorf("Leases after 20 reloads %v, before %v: a reload keeps them", got, held)
	}
}

// goroutineSlack is how many more goroutines than before the reloads a
// replica may run after them: what serves a scrape or a probe in flight. A
// leak of one goroutine a reload shows as 20.
const goroutineSlack = 5

// resources is what a replica runs that a reload could leak.
type resources struct {
	goroutines int // go_goroutines
	reflectors int // informers' list-and-watch loops
}

// reflectorFrame is in the stack of an informer's list-and-watch loop.
const reflectorFrame = "k8s.io/client-go/tools/cache.(*Reflector).Run"

// fleetResources reads the resources of each replica, from its metrics and
// its pprof goroutine dump, and how many watches of Leases the API server
// serves (every client's: the replicas' and its own), from its metrics.
func fleetResources(t *testing.T, cluster *k8stest.Cluster, replicas []*replica) ([]resources, int) {
	t.Helper()
	out := make([]resources, len(replicas))
	for i, r := range replicas {
		text, err := metricsGet(r.metrics)
		if err != nil {
			t.Fatalf("%s: metrics: %v", r.identity, err)
		}
		g, ok := sumSeries(text, "go_goroutines")
		if !ok {
			t.Fatalf("%s: no go_goroutines in its metrics", r.identity)
		}
		dump, err := goroutineDump(r.pprof)
		if err != nil {
			t.Fatalf("%s: goroutine dump: %v", r.identity, err)
		}
		out[i] = resources{goroutines: int(g), reflectors: countGoroutines(dump, reflectorFrame)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	text, err := cluster.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatalf("the API server's metrics: %v", err)
	}
	watches, ok := sumSeries(string(text), `apiserver_longrunning_requests\{[^}]*resource="leases"[^}]*verb="WATCH"[^}]*\}`)
	if !ok {
		t.Fatal("the API server's metrics have no apiserver_longrunning_requests of Lease watches")
	}
	return out, int(watches)
}

// waitTTL waits until r answers name with records of ttl: a reload to the
// Corefile with that ttl has taken effect.
func waitTTL(t *testing.T, r *replica, name string, ttl int) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	c := &dns.Client{Timeout: time.Second}
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, _, err := c.Exchange(m, r.dns)
		switch {
		case err != nil:
			last = err.Error()
		case len(resp.Answer) == 0:
			last = "no answer"
		case resp.Answer[0].Header().Ttl == uint32(ttl):
			return
		default:
			last = resp.Answer[0].String()
		}
		time.Sleep(observePeriod)
	}
	t.Fatalf("%s does not answer with ttl %d within 30s of its reload: %s\n%s", r.identity, ttl, last, r.logTail(20))
}

// TestFleetProbeLoad runs 1, 3 and 5 replicas with probers 3 over ten
// endpoints probed every second, and counts the health checks at the
// backends once the fleet has settled: at most three a second an endpoint
// (one with a single replica), however many replicas there are.
func TestFleetProbeLoad(t *testing.T) {
	cluster, kubeconfig := fleetCluster(t)
	var primaryIPs, secondaryIPs []string
	for i := range 5 {
		primaryIPs = append(primaryIPs, fmt.Sprintf("127.0.41.%d", 101+i))
		secondaryIPs = append(secondaryIPs, fmt.Sprintf("127.0.41.%d", 106+i))
	}
	backends := startBackends(t, append(slices.Clone(primaryIPs), secondaryIPs...)...)
	replicaIPs := []string{"127.0.41.81", "127.0.41.82", "127.0.41.83", "127.0.41.84", "127.0.41.85"}
	const window = 6 * time.Second
	rates := map[int]float64{}
	for _, n := range []int{1, 3, 5} {
		t.Run(fmt.Sprintf("%d replicas", n), func(t *testing.T) {
			group := fmt.Sprintf("load-%d", n)
			spec := fleetSpec{group: fleetNS + "/" + group, kubeconfig: kubeconfig, probers: 3,
				blocks: fleetBlock("app.example.org.", strings.Join(primaryIPs, " "), strings.Join(secondaryIPs, " "), backends[0].port, 5)}
			replicas := startFleet(t, spec, replicaIPs[:n]...)
			probers := min(n, 3)
			fleetWait(t, 30*time.Second, replicas, func(_ *replica, rep *statusReport) string { return settled(rep, replicas, probers) })
			// What was probed before the hand-over settled is past after one
			// more interval.
			<-time.After(fleetInterval)
			checks := countHits(backends, window)
			rate := float64(checks) / window.Seconds()
			rates[n] = rate
			pairs := int64(probers * len(backends)) // (prober, endpoint) pairs, one check an interval each
			perPair := int64(window / fleetInterval)
			t.Logf("%d replicas, probers 3, %d endpoints at %v: %.1f checks/s at the backends over %v (%d checks; limit %d/s)",
				n, len(backends), fleetInterval, rate, window, checks, pairs)
			// A pair checks perPair times in the window, or once more as the
			// window's edges fall.
			if checks > pairs*(perPair+1) {
				t.Errorf("%d checks in %v: more than %d probers an endpoint", checks, window, probers)
			}
			if checks < pairs*(perPair-1) {
				t.Errorf("%d checks in %v: fewer than %d probers an endpoint", checks, window, probers)
			}
			stopAll(t, cluster, group, replicas)
		})
	}
	t.Logf("checks/s at %d backends by replicas: %v", len(backends), rates)
}
