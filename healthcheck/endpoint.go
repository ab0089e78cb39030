package healthcheck

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Settings are how an endpoint is probed and judged.
type Settings struct {
	Checks   []*Check      // all must pass
	Port     uint16        // when not 0, the port every check connects to, whatever its URL says
	Interval time.Duration // time between the starts of two probes
	Timeout  time.Duration // bound on one probe, all checks together; shorter than Interval
	Fall     int           // consecutive failures that mark a healthy endpoint down
	Rise     int           // consecutive successes that mark a down endpoint up
	HTTP     HTTPOptions   // for http and https checks

	// TLS is the base configuration of https and grpcs checks; nil: verify
	// against the system roots. The probe uses a copy taken when the endpoint
	// is created, with ServerName set to the check's host when empty and at
	// least TLS 1.2. TLSIdentity names it for sharing: endpoints whose
	// settings differ only by TLS configurations of the same identity share
	// their probes.
	TLS         *tls.Config
	TLSIdentity string
}

// checks returns the check URLs, as the user wrote them, separated by spaces.
func (s Settings) checks() string {
	urls := make([]string, len(s.Checks))
	for i, c := range s.Checks {
		urls[i] = c.String()
	}
	return strings.Join(urls, " ")
}

// key identifies the probes that can be shared: the same address probed the same way.
type key struct {
	addr     netip.Addr
	port     uint16
	checks   string
	interval time.Duration
	timeout  time.Duration
	fall     int
	rise     int
	http     string
	tls      string
}

func (s Settings) key(addr netip.Addr) key {
	tlsID := s.TLSIdentity
	if s.TLS != nil && tlsID == "" {
		tlsID = fmt.Sprintf("%p", s.TLS) // unnamed: only the same configuration shares
	}
	return key{addr, s.Port, s.checks(), s.Interval, s.Timeout, s.Fall, s.Rise, s.HTTP.identity(), tlsID}
}

// Endpoint is one address under one check, as one engine uses it. Engines
// that use the same address probed the same way share its probes and its
// verdict (see registry.go): from Start, Healthy reads the shared verdict,
// without a lock; before Start, an endpoint counts as healthy and not probed.
type Endpoint struct {
	Addr     netip.Addr
	Settings Settings

	engine *Engine
	shared atomic.Pointer[entry] // set by the engine's Start
}

// Healthy reports the endpoint's current verdict.
func (e *Endpoint) Healthy() bool {
	if en := e.shared.Load(); en != nil {
		return en.healthy.Load()
	}
	return true
}

// Since returns when the verdict was first reached or last changed; the zero
// time before the first probe.
func (e *Endpoint) Since() time.Time {
	if en := e.shared.Load(); en != nil {
		if ns := en.since.Load(); ns != 0 {
			return time.Unix(0, ns)
		}
	}
	return time.Time{}
}

// Doubtful reports whether the endpoint is healthy but failed its last
// probes, fewer than Fall of them: its verdict may be about to change.
// Answers use it to shorten their TTL while a change may come.
func (e *Endpoint) Doubtful() bool {
	if en := e.shared.Load(); en != nil {
		return en.doubt.Load() && en.healthy.Load()
	}
	return false
}

// LastFailure returns when the endpoint's last failed probe ended; the zero
// time when none has failed. A failback hold restarts at a failure.
func (e *Endpoint) LastFailure() time.Time {
	if en := e.shared.Load(); en != nil {
		if ns := en.failed.Load(); ns != 0 {
			return time.Unix(0, ns)
		}
	}
	return time.Time{}
}

// ProbeResult is what one finished probe found.
type ProbeResult struct {
	At     time.Time     // when it started
	Took   time.Duration // how long it ran
	Passed bool
	Reason string // why it failed, as Reason says; "" when it passed
}

// LastProbe returns the result of the endpoint's last finished probe, or nil
// before the first. An inherited verdict brings no result with it.
func (e *Endpoint) LastProbe() *ProbeResult {
	if en := e.shared.Load(); en != nil {
		return en.last.Load()
	}
	return nil
}

// Probed reports whether the endpoint has a verdict: its first probe has
// finished, or it inherited one.
func (e *Endpoint) Probed() bool {
	if en := e.shared.Load(); en != nil {
		return en.probed.Load()
	}
	return false
}

// String names the endpoint in logs: its address and check.
func (e *Endpoint) String() string { return describe(e.Addr, e.Settings) }

func describe(ip netip.Addr, s Settings) string {
	addr := ip.String()
	if s.Port != 0 {
		addr = net.JoinHostPort(addr, strconv.Itoa(int(s.Port)))
	}
	return addr + " (" + s.checks() + ")"
}

// record counts one probe result and reports whether the served verdict
// changed, and whether the local one did (or was reached again after a
// delegation: see steer.go).
//
// The first result decides at once: after a restart, a dead endpoint must not be
// served for Fall intervals, nor a live one be held back for Rise intervals.
// After that, Fall consecutive failures take a healthy endpoint down and Rise
// consecutive successes bring a down endpoint back, so a flap shorter than
// either threshold does not move the verdict. The first result after a
// delegation ends decides at once too: the local verdict is stale by then.
func (e *entry) record(passed bool) (changed, localChanged bool) {
	healthy := e.local.Load()
	restarted := e.restart.Swap(false)
	switch {
	case !e.probed.Load():
		// After the verdict: a reader that sees Probed sees the first verdict.
		defer e.probed.Store(true)
		healthy = passed
		// The first verdict dates from now even when it confirms the
		// healthy state every endpoint starts in.
		e.since.Store(time.Now().UnixNano())
		localChanged = true
	case restarted:
		e.passes, e.fails = 0, 0
		healthy = passed
		localChanged = true
	case passed:
		e.fails = 0
		e.passes++
		if e.passes >= e.settings.Rise {
			healthy = true
		}
	default:
		e.passes = 0
		e.fails++
		if e.fails >= e.settings.Fall {
			healthy = false
		}
	}
	if healthy != e.local.Load() {
		e.local.Store(healthy)
		localChanged = true
	}
	if e.steered() {
		return false, localChanged // the fleet decides what is served
	}
	if healthy == e.healthy.Load() {
		return false, localChanged
	}
	// since first: a reader that sees the new verdict also sees when it came.
	e.since.Store(time.Now().UnixNano())
	e.healthy.Store(healthy)
	return true, localChanged
}

// settleDoubt sets whether en is in doubt after a probe: healthy by its own
// probes, with failures since its last pass. It reports whether that changed,
// which its engines are told as they are of a new verdict: a doubt shortens
// the TTL of the answers (ttl SECONDS MIN), which must be rebuilt. Called by
// the worker probing en, after record.
func (e *entry) settleDoubt() bool {
	doubt := e.local.Load() && e.fails > 0
	return e.doubt.Swap(doubt) != doubt
}
