package healthcheck

import (
	"fmt"
	"hash/fnv"
	"time"
)

// Steering lets a fleet of replicas (package fleet) share the probing and
// the verdicts of endpoints: while an endpoint is steered, what Healthy
// reports is what the fleet decides (Decide), and its own probes only feed
// the fleet (Local, and the callback given to Steer); while it is delegated,
// another replica probes it and this process does not. An endpoint that no
// fleet steers any more is probed and judged by this process alone again.
//
// Steering belongs to the entry, the endpoint as the process probes it, so
// the engines of a reload that share an entry share its steering; Steer and
// Unsteer are counted, as the engines using an entry are.

// ID names the endpoint the same way in every process with the same
// configuration: its address, port and checks, and a digest of its HTTP and
// TLS options when they are not the defaults. Interval, timeout and
// thresholds are not part of it: they say how often and how strictly the
// same thing is asked.
func (e *Endpoint) ID() string {
	id := describe(e.Addr, e.Settings)
	extra := e.Settings.HTTP.identity() + "\x00" + e.Settings.TLSIdentity
	if extra == (HTTPOptions{}).identity()+"\x00" {
		return id
	}
	h := fnv.New32a()
	h.Write([]byte(extra))
	return fmt.Sprintf("%s #%08x", id, h.Sum32())
}

// Local returns the verdict of this process's own probes, and whether it has
// one; for an endpoint not steered it is the verdict Healthy reports.
func (e *Endpoint) Local() (healthy, probed bool) {
	if en := e.shared.Load(); en != nil {
		return en.local.Load(), en.probed.Load()
	}
	return true, false
}

// Steer hands the served verdict of e's entry to the caller, from now until
// the matching Unsteer: Healthy keeps its current verdict until Decide. Call
// it after the engine's Start. onLocal, when not nil, is called from a probe
// goroutine each time the local verdict changes, and after the first probe
// that follows a delegation; each Steer replaces the callback of the last.
func (e *Endpoint) Steer(onLocal func()) {
	en := e.shared.Load()
	if en == nil {
		return
	}
	en.steerMu.Lock()
	defer en.steerMu.Unlock()
	en.steers++
	if onLocal != nil {
		en.onLocal.Store(&onLocal)
	}
	en.steeredFlag.Store(true)
}

// Unsteer undoes one Steer. After the last, the entry is probed again if it
// was delegated, its first probe deciding at once, and meanwhile it keeps the
// verdict the fleet gave it; if it was not delegated, the local verdict is
// served at once.
func (e *Endpoint) Unsteer() {
	en := e.shared.Load()
	if en == nil {
		return
	}
	en.steerMu.Lock()
	if en.steers == 0 {
		en.steerMu.Unlock()
		return
	}
	en.steers--
	if en.steers > 0 {
		en.steerMu.Unlock()
		return
	}
	en.steeredFlag.Store(false)
	en.onLocal.Store(nil)
	wasDelegated := en.delegated.Swap(false)
	if wasDelegated {
		en.restart.Store(true)
	}
	en.steerMu.Unlock()
	if wasDelegated {
		en.expedite()
		return
	}
	en.serve(en.local.Load(), "its own probes decide again")
}

// Decide sets the verdict served for e's entry, which a fleet steers; why
// says in the log what decided it. The engines using it are told of a
// change as after a probe. It does nothing once the entry is not steered.
func (e *Endpoint) Decide(healthy bool, why string) {
	en := e.shared.Load()
	if en == nil || !en.steered() {
		return
	}
	en.serve(healthy, why)
}

// Delegate stops (on) or resumes (off) the probes of e's entry, which a
// fleet steers: on, another replica probes it. The first probe after a
// delegation starts at once and decides the local verdict by itself. It does
// nothing on an entry not steered: an endpoint nobody steers is probed.
func (e *Endpoint) Delegate(on bool) {
	en := e.shared.Load()
	if en == nil {
		return
	}
	en.steerMu.Lock()
	if en.steers == 0 {
		en.steerMu.Unlock()
		return
	}
	was := en.delegated.Swap(on)
	if was && !on {
		en.restart.Store(true)
	}
	en.steerMu.Unlock()
	if was && !on {
		en.expedite()
	}
}

// Delegated reports whether another replica probes e instead of this process.
func (e *Endpoint) Delegated() bool {
	if en := e.shared.Load(); en != nil {
		return en.delegated.Load()
	}
	return false
}

// Steered reports whether a fleet decides e's served verdict.
func (e *Endpoint) Steered() bool {
	if en := e.shared.Load(); en != nil {
		return en.steered()
	}
	return false
}

func (en *entry) steered() bool { return en.steeredFlag.Load() }

// serve sets the served verdict, and tells the engines when it changed.
func (en *entry) serve(healthy bool, why string) {
	en.steerMu.Lock() // one change at a time: the log and the callbacks follow the order of the changes
	defer en.steerMu.Unlock()
	if en.healthy.Load() == healthy {
		return
	}
	en.since.Store(time.Now().UnixNano())
	en.healthy.Store(healthy)
	if users := en.users.Load(); users == nil || len(*users) == 0 {
		return // released by every engine: nobody to tell, nothing to log (a shutdown)
	}
	if healthy {
		log.Infof("endpoint %s is up: %s", en, why)
	} else {
		log.Warningf("endpoint %s is down: %s", en, why)
	}
	en.notify()
}

// localChanged tells the fleet steering en that its local verdict changed.
func (en *entry) localChanged(err error) {
	if !en.steered() {
		return
	}
	if en.local.Load() {
		log.Infof("endpoint %s passes this replica's probes; the fleet decides what is served", en)
	} else {
		log.Infof("endpoint %s fails this replica's probes (%s); the fleet decides what is served", en, Reason(err))
	}
	if f := en.onLocal.Load(); f != nil {
		(*f)()
	}
}

// expedite has en's next probe start at once: now if it waits in the queue,
// else as soon as the probe running ends.
func (en *entry) expedite() {
	s := en.sched
	if s == nil || en.slot == nil {
		return
	}
	s.mu.Lock()
	sl := en.slot
	head := false
	switch {
	case sl.removed:
	case sl.index >= 0:
		sl.due = time.Since(s.base)
		heapFix(&s.queue, sl.index)
		head = s.queue[0] == sl
	default:
		// Its probe runs: it may have begun before the change, or be the
		// first probe, whose result Start returned on before it ended.
		sl.hurry = true
	}
	s.mu.Unlock()
	if head {
		s.nudge()
	}
}
