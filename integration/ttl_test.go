package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/test"
	"github.com/miekg/dns"

	"github.com/failover-dns/failover/internal/testutil"
)

// TTLs that follow health (`ttl SECONDS MIN`, ttl.go): answers carry SECONDS
// while nothing suggests a change, and MIN while one may come. The tests here
// run a real CoreDNS, real HTTP backends on 127.0.31.0/24 and, end to end,
// Debian's Unbound in front as the caching resolver clients ask.

// The settings of the tests: the issue's `ttl 300 5` with `fall 3`.
const (
	ttlSeconds  = 300
	ttlMin      = 5
	ttlInterval = time.Second
	ttlTimeout  = 500 * time.Millisecond
	ttlFall     = 3
	ttlRise     = 2
	// How long answers keep MIN after a change (changeWindow in ttl.go).
	ttlWindow = max(ttlRise*ttlInterval, ttlMin*time.Second+time.Second)
	// What a loaded, shared 2-core machine adds to a bound the settings give.
	ttlSlack = time.Second
	// How often a client asks: the brief's 100-200 ms.
	ttlPoll = 150 * time.Millisecond
)

// ttlAnswer is an A answer as a client sees it: its addresses ("NODATA" for
// none, the rcode's name for an error) and how long it may be cached: the
// TTL of its first address record, or of the SOA of a NODATA.
type ttlAnswer struct {
	addrs string
	ttl   uint32
}

func (a ttlAnswer) String() string { return fmt.Sprintf("%s TTL %d", a.addrs, a.ttl) }

// askTTL asks server for the A records of name, recursively (a resolver
// answers from its cache), and returns the answer.
func askTTL(server, name string) (ttlAnswer, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	c := &dns.Client{Timeout: time.Second}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		return ttlAnswer{}, err
	}
	if r.Rcode != dns.RcodeSuccess {
		return ttlAnswer{addrs: dns.RcodeToString[r.Rcode]}, nil
	}
	var a ttlAnswer
	var addrs []string
	for _, rr := range r.Answer {
		if rr, ok := rr.(*dns.A); ok {
			if addrs == nil {
				a.ttl = rr.Hdr.Ttl
			}
			addrs = append(addrs, rr.A.String())
		}
	}
	if addrs == nil {
		a.addrs = "NODATA"
		for _, rr := range r.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				a.ttl = soa.Hdr.Ttl
			}
		}
		return a, nil
	}
	a.addrs = strings.Join(addrs, " ")
	return a, nil
}

// ttlWant is what a name answers and why, as the status endpoint says.
type ttlWant struct {
	addrs string
	ttl   uint32
	why   string // the status's ttl_why: "" without MIN
}

// waitTTLWhy polls CoreDNS at server and its status at statusAddr until name
// answers want in both, and fails the test if that takes longer than
// within. It returns how long it took.
func waitTTLWhy(t *testing.T, server, statusAddr, name string, want ttlWant, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	var problem string
	for {
		if problem = ttlProblem(server, statusAddr, name, want); problem == "" {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer %s (%s) within %v: %s", name, ttlAnswer{want.addrs, want.ttl}, want.why, within, problem)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ttlProblem returns how the answer of name and its status differ from
// want; "" when they do not.
func ttlProblem(server, statusAddr, name string, want ttlWant) string {
	got, err := askTTL(server, name)
	switch {
	case err != nil:
		return err.Error()
	case got != ttlAnswer{want.addrs, want.ttl}:
		return "answered " + got.String()
	}
	r, _, err := statusGet(statusAddr)
	if err != nil {
		return "status: " + err.Error()
	}
	n := r.name(name)
	if n == nil {
		return "status: no " + name
	}
	a := n.Answer["A"]
	if a.TTL != want.ttl || a.TTLWhy != want.why {
		return fmt.Sprintf("status: ttl %d, ttl_why %q", a.TTL, a.TTLWhy)
	}
	return ""
}

// TestTTLFollowsHealth runs a real CoreDNS with four names over the same two
// backends: app.example.org with `ttl 300 5`, calm.example.org with `ttl 300`
// alone, dark.example.org with `ttl 300 5` and `all_down nodata`, and
// held.example.org with `ttl 300 5` and `failback 1m`. Through a fresh start,
// a failed probe, a failover, every pool down, and both pools back, app's
// answers carry 5 exactly while a change may come and 300 otherwise, the
// status says why, calm's always carry 300, dark's NODATA carries its SOA for
// 5 s, and held's carry 5 while its failback hold runs.
func TestTTLFollowsHealth(t *testing.T) {
	const primaryIP, secondaryIP = "127.0.31.51", "127.0.31.52"
	backends := startBackends(t, primaryIP, secondaryIP)
	primary, secondary := backends[0], backends[1]
	statusAddr := freeTCPAddr(t, "127.0.31.50")
	block := func(name, ttl, extra string) string {
		return fmt.Sprintf("failover %s {\nprimary %s\nsecondary %s\ncheck http://:%d/health\ninterval %s\ntimeout %s\nfall %d\nrise %d\nttl %s\nstatus %s\n%s}\n",
			name, primaryIP, secondaryIP, primary.port, ttlInterval, ttlTimeout, ttlFall, ttlRise, ttl, statusAddr, extra)
	}
	const app, calm, dark, held = "app.example.org.", "calm.example.org.", "dark.example.org.", "held.example.org."
	_, udp := startCoreDNS(t, "example.org:0 {\n"+
		block(app, fmt.Sprintf("%d %d", ttlSeconds, ttlMin), "")+
		block(calm, fmt.Sprint(ttlSeconds), "")+
		block(dark, fmt.Sprintf("%d %d", ttlSeconds, ttlMin), "all_down nodata\n")+
		block(held, fmt.Sprintf("%d %d", ttlSeconds, ttlMin), "failback 1m\n")+
		"}\n")
	window := ttlWindow // the short TTL after a change
	wait := func(name string, want ttlWant, within time.Duration) time.Duration {
		t.Helper()
		return waitTTLWhy(t, udp, statusAddr, name, want, within)
	}
	calmIs := func(addr string) {
		t.Helper()
		if problem := ttlProblem(udp, statusAddr, calm, ttlWant{addr, ttlSeconds, ""}); problem != "" {
			t.Fatalf("%s, with ttl %d alone: %s", calm, ttlSeconds, problem)
		}
	}

	// The first answers of a fresh start count as a change: one probe judged
	// each endpoint. The window began before startCoreDNS returned.
	wait(app, ttlWant{primaryIP, ttlMin, "changed"}, window)
	calmIs(primaryIP)
	took := wait(app, ttlWant{primaryIP, ttlSeconds, "steady"}, window+ttlSlack)
	t.Logf("fresh start: TTL %d (changed), then %d after %v more (the window, max(rise × interval, MIN + 1 s) = %v)", ttlMin, ttlSeconds, took.Round(time.Millisecond), window)

	// One failed probe of the answered primary, fewer than fall: doubt.
	primary.set(unavailable)
	took = wait(app, ttlWant{primaryIP, ttlMin, "doubt"}, ttlInterval+ttlSlack)
	primary.set(healthy) // before the next probe: the primary stays up
	calmIs(primaryIP)
	wait(dark, ttlWant{primaryIP, ttlMin, "doubt"}, ttlSlack)
	t.Logf("a failed probe (fall %d): TTL %d (doubt) %v after the primary began failing", ttlFall, ttlMin, took.Round(time.Millisecond))
	took = wait(app, ttlWant{primaryIP, ttlSeconds, "steady"}, ttlInterval+ttlSlack)
	t.Logf("a passed probe: TTL %d (steady) %v after the primary passed again", ttlSeconds, took.Round(time.Millisecond))

	// A failover: doubt while the primary fails its first probes, then the
	// change, short for rise × interval.
	primary.set(unavailable)
	wait(app, ttlWant{primaryIP, ttlMin, "doubt"}, ttlInterval+ttlSlack)
	took = wait(app, ttlWant{secondaryIP, ttlMin, "changed"}, ttlFall*ttlInterval+ttlSlack)
	calmIs(secondaryIP)
	t.Logf("failover: TTL %d (changed) %v after the primary's doubt began", ttlMin, took.Round(time.Millisecond))
	took = wait(app, ttlWant{secondaryIP, ttlSeconds, "steady"}, window+ttlSlack)
	if took < window-ttlSlack/2 {
		t.Errorf("the short TTL after the failover lasted %v, want the window, max(rise × interval, MIN + 1 s) = %v", took, window)
	}
	t.Logf("after the failover: TTL %d (steady) after %v (the window, max(rise × interval, MIN + 1 s) = %v)", ttlSeconds, took.Round(time.Millisecond), window)
	calmIs(secondaryIP)

	// Every pool down: app answers the primary as if healthy (all_down
	// primary), dark a NODATA whose SOA failover makes: both short.
	secondary.set(unavailable)
	took = wait(app, ttlWant{primaryIP, ttlMin, "all_down"}, ttlFall*ttlInterval+ttlSlack)
	wait(dark, ttlWant{"NODATA", ttlMin, "all_down"}, ttlSlack)
	calmIs(primaryIP)
	t.Logf("all down: TTL %d (all_down), the NODATA's SOA too, %v after the secondary began failing", ttlMin, took.Round(time.Millisecond))

	// The secondary back: a change (from all_down, which no hold keeps).
	secondary.set(healthy)
	wait(app, ttlWant{secondaryIP, ttlMin, "changed"}, ttlWindow+ttlSlack)
	wait(held, ttlWant{secondaryIP, ttlMin, "changed"}, ttlSlack)
	wait(held, ttlWant{secondaryIP, ttlSeconds, "steady"}, window+ttlSlack)

	// The primary back: app fails back, held stays on the secondary for a
	// minute, short all along: its answer will change when the hold ends.
	primary.set(healthy)
	took = wait(app, ttlWant{primaryIP, ttlMin, "changed"}, ttlWindow+ttlSlack)
	wait(held, ttlWant{secondaryIP, ttlMin, "hold"}, ttlSlack)
	calmIs(primaryIP)
	t.Logf("failback: TTL %d (changed) %v after the primary passed again; a name under failback 1m stays on the secondary with TTL %d (hold)", ttlMin, took.Round(time.Millisecond), ttlMin)
	wait(app, ttlWant{primaryIP, ttlSeconds, "steady"}, window+ttlSlack)
	if problem := ttlProblem(udp, statusAddr, held, ttlWant{secondaryIP, ttlMin, "hold"}); problem != "" {
		t.Errorf("%s during its hold: %s", held, problem)
	}
}

// ttlChain is a real CoreDNS governing app.example.org, and Debian's Unbound
// in front of it, a caching resolver with a stub zone to it, as the clients'
// resolver. Unbound runs with its defaults for caching: no prefetch, no
// serve-expired, no minimum TTL; it serves what it cached with the TTL left.
type ttlChain struct {
	core               string    // CoreDNS's address
	unbound            *resolver // the clients' resolver
	primary, secondary *backend
	primaryIP          string
	secondaryIP        string
}

const ttlName = "app.example.org."

// startTTLChain starts the chain with backends on ips and the block's ttl
// line. Unbound starts first, on the port CoreDNS is given, so that the
// first answers it gets can be those of CoreDNS's first seconds.
func startTTLChain(t *testing.T, ips [2]string, ttl string) *ttlChain {
	t.Helper()
	backends := startBackends(t, ips[0], ips[1])
	c := &ttlChain{primary: backends[0], secondary: backends[1], primaryIP: ips[0], secondaryIP: ips[1]}
	for attempt := 0; ; attempt++ {
		c.core = fmt.Sprintf("127.0.31.1:%d", testutil.FreeDNSPort(t, "127.0.31.1"))
		c.unbound = startUnbound(t, "127.0.31.2", resolverZone{name: "example.org", server: c.core})
		_, port, _ := strings.Cut(c.core, ":")
		corefile := fmt.Sprintf("example.org:%s {\nbind 127.0.31.1\nfailover %s {\nprimary %s\nsecondary %s\ncheck http://:%d/health\ninterval %s\ntimeout %s\nfall %d\nrise %d\nttl %s\n}\n}\n",
			port, ttlName, ips[0], ips[1], c.primary.port, ttlInterval, ttlTimeout, ttlFall, ttlRise, ttl)
		inst, _, _, err := test.CoreDNSServerAndPorts(corefile)
		if err == nil {
			t.Cleanup(func() {
				inst.Stop()
				inst.ShutdownCallbacks()
			})
			return c
		}
		if attempt == 4 {
			t.Fatalf("could not start CoreDNS: %v\n%s", err, corefile)
		}
	}
}

// ask asks Unbound, as a client does.
func (c *ttlChain) ask(t *testing.T) ttlAnswer {
	t.Helper()
	a, err := askTTL(c.unbound.addr, ttlName)
	if err != nil {
		t.Fatalf("unbound: %v\n%s", err, c.unbound.logText())
	}
	return a
}

// killPrimary closes the primary right after one of its probes, and
// returns when. Its next probe, the first to fail, comes an interval later:
// the slowest a failover can be, fall × interval. (Right after a fresh start
// the second probe of an endpoint may come up to two intervals after the
// first, which the scheduler makes at once: healthcheck/schedule.go.)
func (c *ttlChain) killPrimary(t *testing.T) time.Time {
	t.Helper()
	hits := c.primary.hits.Load()
	deadline := time.Now().Add(2*ttlInterval + ttlSlack)
	for c.primary.hits.Load() == hits {
		if time.Now().After(deadline) {
			t.Fatalf("the primary was not probed within %v", 2*ttlInterval+ttlSlack)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.primary.close()
	return time.Now()
}

// failOver kills the primary and returns when it died and how long CoreDNS
// took to answer the secondary.
func (c *ttlChain) failOver(t *testing.T) (died time.Time, took time.Duration) {
	t.Helper()
	died = c.killPrimary(t)
	return died, waitAnswer(t, c.core, ttlName, c.secondaryIP, ttlFall*ttlInterval+ttlSlack)
}

// staleAfterFailover has Unbound cache the primary's answer, kills the
// primary, and once CoreDNS answers the secondary, returns the TTL Unbound
// serves the primary's answer with: how long its clients keep seeing the old
// address after the failover. It logs the figures.
func (c *ttlChain) staleAfterFailover(t *testing.T, situation string, cachedTTL uint32) (stale uint32) {
	t.Helper()
	first := c.ask(t)
	cached := time.Now()
	if first != (ttlAnswer{c.primaryIP, cachedTTL}) {
		t.Fatalf("unbound's first answer: %s, want %s", first, ttlAnswer{c.primaryIP, cachedTTL})
	}
	died, took := c.failOver(t)
	got := c.ask(t)
	if got.addrs != c.primaryIP {
		t.Fatalf("right after the failover, unbound answered %s, want the primary's cached answer", got)
	}
	// Unbound counts in whole seconds: the TTL left is the one cached less
	// the seconds since, give or take one.
	left := float64(cachedTTL) - time.Since(cached).Seconds()
	if d := float64(got.ttl) - left; d < -1.5 || d > 1.5 {
		t.Errorf("unbound serves the stale answer with TTL %d, want about %.1f (%d less the %v since it cached it)", got.ttl, left, cachedTTL, time.Since(cached).Round(time.Millisecond))
	}
	t.Logf("%s: unbound cached TTL %d; CoreDNS failed over %v after the primary died; unbound then serves the old address with TTL %d: clients see the failover about %.0f s after the primary's death",
		situation, cachedTTL, took.Round(time.Millisecond), got.ttl, (time.Since(died) + time.Duration(got.ttl)*time.Second).Seconds())
	return got.ttl
}

// waitCore polls CoreDNS, not Unbound, until it answers want.
func (c *ttlChain) waitCore(t *testing.T, want ttlAnswer, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, err := askTTL(c.core, ttlName)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CoreDNS did not answer %s within %v: %s, %v", want, within, got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// followFailover has a client ask Unbound every ttlPoll from the primary's
// death until Unbound answers the secondary, CoreDNS asked alongside to tell
// when it failed over. It fails the test if that takes longer than
// interval × fall + MIN + 1 s, the bound, and logs the figures.
func (c *ttlChain) followFailover(t *testing.T, situation string, died time.Time) {
	t.Helper()
	bound := ttlFall*ttlInterval + ttlMin*time.Second + time.Second
	var coreTook time.Duration
	var staleTTL uint32 // the longest TTL Unbound gave the old address after the death
	deadline := died.Add(bound + ttlSlack)
	for {
		if coreTook == 0 {
			if got, err := lookup(c.core, ttlName, dns.TypeA); err == nil && got == c.secondaryIP {
				coreTook = time.Since(died)
			}
		}
		got := c.ask(t)
		seen := time.Since(died)
		if got.addrs == c.secondaryIP {
			t.Logf("%s: CoreDNS failed over %v after the primary died; unbound's clients saw it after %v (interval × fall + MIN + 1 s = %v); the longest TTL unbound gave the old address meanwhile: %d; the new one: %d (%d while unbound fetched it within the window after the change, else %d)",
				situation, coreTook.Round(time.Millisecond), seen.Round(time.Millisecond), bound, staleTTL, got.ttl, ttlMin, ttlSeconds)
			// A client asks every ttlPoll: it sees the change up to that late.
			if seen > bound+ttlPoll {
				t.Errorf("unbound's clients saw the failover %v after the primary died, want at most interval × fall + MIN + 1 s = %v", seen, bound)
			}
			return
		}
		if got.addrs != c.primaryIP {
			t.Fatalf("unbound answered %s", got)
		}
		staleTTL = max(staleTTL, got.ttl)
		if time.Now().After(deadline) {
			t.Fatalf("unbound's clients did not see the failover within %v of the primary's death (CoreDNS took %v); last answer %s", bound+ttlSlack, coreTook, got)
		}
		time.Sleep(ttlPoll)
	}
}

// TestTTLThroughUnbound measures how long clients of a caching resolver
// (Unbound) keep seeing the primary after it died, for `ttl 300 5` and `ttl
// 300`, when the resolver cached the answer while a change could come (right
// after CoreDNS started, while the primary was in doubt) and while all was
// calm. A resolver keeps what it cached for the TTL it was given: MIN pays
// off only for an answer given while a change could come. `ttl 20`, waited
// out, shows that the TTL Unbound serves for the stale answer is how long its
// clients keep seeing it, which the 300 s cases measure without waiting 300 s.
func TestTTLThroughUnbound(t *testing.T) {
	withMin := fmt.Sprintf("%d %d", ttlSeconds, ttlMin)
	t.Run("ttl 300 5 cached at start", func(t *testing.T) {
		c := startTTLChain(t, [2]string{"127.0.31.11", "127.0.31.12"}, withMin)
		// CoreDNS's first answers count as a change: Unbound caches them for MIN.
		first := c.ask(t)
		cached := time.Now()
		if first != (ttlAnswer{c.primaryIP, ttlMin}) {
			t.Fatalf("unbound's first answer: %s, want %s: asked within the window after CoreDNS's start", first, ttlAnswer{c.primaryIP, ttlMin})
		}
		died := c.killPrimary(t)
		// Its first failed probe, an interval later, must come while Unbound
		// still holds the answer: Unbound's next fetch then gets MIN (doubt).
		if since := died.Sub(cached); since > ttlMin*time.Second-ttlInterval {
			t.Fatalf("the primary died %v after unbound cached its answer for %d s: too late for the test", since, ttlMin)
		}
		c.followFailover(t, "ttl "+withMin+", cached at start", died)
	})

	t.Run("ttl 300 5 cached in doubt", func(t *testing.T) {
		c := startTTLChain(t, [2]string{"127.0.31.21", "127.0.31.22"}, withMin)
		c.waitCore(t, ttlAnswer{c.primaryIP, ttlSeconds}, ttlWindow+ttlSlack)
		died := c.killPrimary(t)
		// Its first failed probe: doubt. Unbound, which has not asked yet,
		// as one whose cached answer ran out then, gets MIN.
		c.waitCore(t, ttlAnswer{c.primaryIP, ttlMin}, ttlInterval+ttlSlack)
		if first := c.ask(t); first != (ttlAnswer{c.primaryIP, ttlMin}) {
			t.Fatalf("unbound's first answer: %s, want %s", first, ttlAnswer{c.primaryIP, ttlMin})
		}
		c.followFailover(t, "ttl "+withMin+", cached in doubt", died)
	})

	t.Run("ttl 300 5 cached when calm", func(t *testing.T) {
		c := startTTLChain(t, [2]string{"127.0.31.31", "127.0.31.32"}, withMin)
		// Past the start's window, CoreDNS answers SECONDS; Unbound has not asked yet.
		c.waitCore(t, ttlAnswer{c.primaryIP, ttlSeconds}, ttlWindow+ttlSlack)
		// As with ttl 300 alone: the TTL cached, less the time the failover took.
		c.staleAfterFailover(t, "ttl "+withMin+", cached when calm", ttlSeconds)
	})

	t.Run("ttl 300", func(t *testing.T) {
		c := startTTLChain(t, [2]string{"127.0.31.41", "127.0.31.42"}, fmt.Sprint(ttlSeconds))
		c.staleAfterFailover(t, fmt.Sprintf("ttl %d", ttlSeconds), ttlSeconds)
	})

	// The method: the TTL unbound serves for the stale answer is how long
	// its clients keep seeing it. With ttl 20, wait it out.
	t.Run("ttl 20 waited out", func(t *testing.T) {
		const short = 20
		c := startTTLChain(t, [2]string{"127.0.31.61", "127.0.31.62"}, fmt.Sprint(short))
		stale := c.staleAfterFailover(t, fmt.Sprintf("ttl %d", short), short)
		measured := time.Now()
		predicted := time.Duration(stale) * time.Second
		deadline := measured.Add(predicted + 2*time.Second + ttlSlack)
		for {
			got := c.ask(t)
			if got.addrs == c.secondaryIP {
				took := time.Since(measured)
				t.Logf("ttl %d: unbound served the old address with TTL %d; its clients saw the new one %v later", short, stale, took.Round(time.Millisecond))
				// Unbound keeps time in whole seconds: an entry lasts up
				// to a second more than the TTL it shows.
				if took < predicted-time.Second || took > predicted+time.Second+ttlPoll+ttlSlack/2 {
					t.Errorf("the old address stayed %v after unbound served it with TTL %d", took, stale)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("unbound still answers %s %v after serving it with TTL %d", got, time.Since(measured), stale)
			}
			time.Sleep(ttlPoll)
		}
	})
}

// TestTTLFlapThroughUnbound follows a flap through Unbound under `ttl 300 5`:
// Unbound cached the primary while it was in doubt, so with MIN; it asks
// again once that runs out, a few seconds after the failover, and the
// primary comes back right after. A resolver that held the answer with MIN
// when it changed should get MIN again, and follow the failback within MIN
// too: a flap is when a change may come.
//
// It failed when the short TTL after a change lasted rise × interval alone
// (here 2 s against MIN + 1 s = 6 s): a resolver that held the previous
// answer with MIN asks again up to MIN, plus the second of its clock, after
// the change; past the window, it got SECONDS, and missed the failback for up
// to SECONDS. The window is now max(rise × interval, MIN + 1 s) (changeWindow
// in ttl.go).
func TestTTLFlapThroughUnbound(t *testing.T) {
	c := startTTLChain(t, [2]string{"127.0.31.71", "127.0.31.72"}, fmt.Sprintf("%d %d", ttlSeconds, ttlMin))
	c.waitCore(t, ttlAnswer{c.primaryIP, ttlSeconds}, ttlWindow+ttlSlack)
	c.killPrimary(t)
	c.waitCore(t, ttlAnswer{c.primaryIP, ttlMin}, ttlInterval+ttlSlack) // doubt
	if first := c.ask(t); first != (ttlAnswer{c.primaryIP, ttlMin}) {
		t.Fatalf("unbound's first answer: %s, want %s", first, ttlAnswer{c.primaryIP, ttlMin})
	}
	coreTook := waitAnswer(t, c.core, ttlName, c.secondaryIP, ttlFall*ttlInterval+ttlSlack)
	failedOver := time.Now() // within 10 ms of CoreDNS's failover
	failover := c.untilUnbound(t, c.secondaryIP, ttlMin*time.Second+time.Second+ttlPoll+ttlSlack)
	fetched := time.Since(failedOver)

	// The primary back: a flap. CoreDNS fails back after rise probes.
	c.primary.reopen()
	backTook := waitAnswer(t, c.core, ttlName, c.primaryIP, (ttlRise+1)*ttlInterval+ttlSlack)
	coreBack := time.Now()
	within := ttlMin*time.Second + time.Second + ttlPoll
	back := c.untilUnbound(t, c.primaryIP, within+ttlSlack)
	seen := time.Since(coreBack)
	t.Logf("flap: CoreDNS failed over %v after the primary's doubt began; unbound fetched the secondary %v later with TTL %d (the window, max(rise × interval, MIN + 1 s) = %v); CoreDNS failed back %v after the primary returned; unbound's clients: %s after %v",
		coreTook.Round(time.Millisecond), fetched.Round(time.Millisecond), failover.ttl, ttlWindow, backTook.Round(time.Millisecond), back, seen.Round(time.Millisecond))
	switch {
	case back.addrs != c.primaryIP:
		t.Errorf("unbound's clients still see the secondary (TTL %d left) %v after CoreDNS failed back, want the primary within MIN + 1 s: unbound fetched the secondary %v after the failover, past rise × interval (%v), and got TTL %d",
			back.ttl, seen.Round(time.Millisecond), fetched.Round(time.Millisecond), ttlWindow, failover.ttl)
	case seen > within:
		t.Errorf("unbound's clients saw the failback %v after CoreDNS, want within MIN + 1 s", seen.Round(time.Millisecond))
	}
}

// untilUnbound has a client ask Unbound every ttlPoll until it answers addr,
// for at most within, and returns its last answer.
func (c *ttlChain) untilUnbound(t *testing.T, addr string, within time.Duration) ttlAnswer {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := c.ask(t)
		if got.addrs == addr || time.Now().After(deadline) {
			return got
		}
		time.Sleep(ttlPoll)
	}
}
