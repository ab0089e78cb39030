package healthcheck

import (
	"crypto/tls"
	"net/netip"
	"sync/atomic"
	"time"
)

// Settings are how an endpoint is probed and judged.
type Settings struct {
	Check    *Check
	Interval time.Duration // time between the starts of two probes
	Timeout  time.Duration // bound on one probe; shorter than Interval
	Fall     int           // consecutive failures that mark a healthy endpoint down
	Rise     int           // consecutive successes that mark a down endpoint up

	// TLS is the base configuration of an https check; nil: verify against the
	// system roots. The probe uses a copy taken when the endpoint is created,
	// with ServerName set to the check's host when empty and at least TLS 1.2.
	TLS *tls.Config
}

// key identifies the probes that can be shared: the same address probed the same way.
type key struct {
	addr     netip.Addr
	check    string
	interval time.Duration
	timeout  time.Duration
	fall     int
	rise     int
	tls      *tls.Config // by pointer: another configuration is another probe
}

func (s Settings) key(addr netip.Addr) key {
	return key{addr, s.Check.String(), s.Interval, s.Timeout, s.Fall, s.Rise, s.TLS}
}

// Endpoint is one address under one check. Its probe goroutine writes the
// verdict; any goroutine may read it with Healthy, without a lock.
type Endpoint struct {
	Addr     netip.Addr
	Settings Settings

	probe   prober
	healthy atomic.Bool
	probed  atomic.Bool  // the first probe has finished
	since   atomic.Int64 // when the verdict last changed, in Unix nanoseconds; 0 before any change

	// Owned by the probe goroutine.
	passes, fails int
}

func newEndpoint(addr netip.Addr, s Settings) *Endpoint {
	e := &Endpoint{Addr: addr, Settings: s, probe: newProber(s.Check, s.TLS, addr)}
	// Until its first result an endpoint counts as healthy.
	e.healthy.Store(true)
	return e
}

// Healthy reports the endpoint's current verdict.
func (e *Endpoint) Healthy() bool { return e.healthy.Load() }

// Since returns when the verdict last changed; the zero time if it never has.
func (e *Endpoint) Since() time.Time {
	if ns := e.since.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Probed reports whether the endpoint's first probe has finished.
func (e *Endpoint) Probed() bool { return e.probed.Load() }

// String names the endpoint in logs: its address and check.
func (e *Endpoint) String() string { return e.Addr.String() + " (" + e.Settings.Check.String() + ")" }

// record counts one probe result and reports whether the verdict changed.
//
// The first result decides at once: after a restart, a dead endpoint must not be
// served for Fall intervals, nor a live one be held back for Rise intervals.
// After that, Fall consecutive failures take a healthy endpoint down and Rise
// consecutive successes bring a down endpoint back, so a flap shorter than
// either threshold does not move the verdict.
func (e *Endpoint) record(passed bool) (changed bool) {
	healthy := e.healthy.Load()
	switch {
	case !e.probed.Load():
		// After the verdict: a reader that sees Probed sees the first verdict.
		defer e.probed.Store(true)
		healthy = passed
	case passed:
		e.fails = 0
		e.passes++
		if e.passes >= e.Settings.Rise {
			healthy = true
		}
	default:
		e.passes = 0
		e.fails++
		if e.fails >= e.Settings.Fall {
			healthy = false
		}
	}
	if healthy == e.healthy.Load() {
		return false
	}
	// since first: a reader that sees the new verdict also sees when it came.
	e.since.Store(time.Now().UnixNano())
	e.healthy.Store(healthy)
	return true
}
