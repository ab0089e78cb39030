package failover

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// overrideState is what an override forces.
type overrideState uint8

const (
	overrideUp    overrideState = iota + 1 // counted healthy, whatever its probes say
	overrideDown                           // counted down, whatever its probes say
	overrideDrain                          // never answered, not even when every pool is down; still probed
)

var overrideStates = map[string]overrideState{"up": overrideUp, "down": overrideDown, "drain": overrideDrain}

func (s overrideState) String() string {
	for name, state := range overrideStates {
		if state == s {
			return name
		}
	}
	return "unknown"
}

// override is one line of an override file.
type override struct {
	target string     // as written
	addr   netip.Addr // the address of an address target
	pool   poolTarget // the name (lower case, fully qualified) and pool of a NAME/POOL target
	state  overrideState
	reason string // the rest of the line, may be empty
	line   int
}

// poolTarget is the NAME/POOL form of a target.
type poolTarget struct{ name, pool string }

// badLine is a line of an override file that was ignored.
type badLine struct {
	line    int
	problem string
}

func (b badLine) String() string { return fmt.Sprintf("line %d: %s", b.line, b.problem) }

// overrideSet is one reading of an override file. It is never changed once
// built: a new reading makes a new set.
type overrideSet struct {
	addrs    map[netip.Addr]*override
	pools    map[poolTarget]*override
	all      []*override     // in the order of the file
	releases map[poolTarget]release // the latest release line of each target
	bad      []badLine
}

// release is a line `NAME/POOL release SINCE` of an override file: it ends
// the failback holds of NAME that keep its answers from POOL and started by
// SINCE, give or take releaseSkew (failback.go). Naming the hold by its start
// keeps the line from releasing the next incident's: left in the file, it
// does nothing to a hold that starts later.
type release struct {
	target poolTarget
	since  int64 // Unix seconds
	line   int
}

// releaseSkew is how much later than the SINCE of a release line a hold may
// have started and still be released: the replicas of a deployment see the
// pool come back at slightly different times (their probes are not in step,
// and each starts its own hold), and one line must release the holds of all.
const releaseSkew = time.Minute

// parseOverrides reads an override file's content: one `TARGET STATE [REASON...]`
// a line, where TARGET is an address or NAME/POOL and STATE is up, down or
// drain; `#` starts a comment. A line that says anything else, or a target
// given again, is reported in bad and ignored: the other lines still apply.
func parseOverrides(content []byte) *overrideSet {
	set := &overrideSet{addrs: map[netip.Addr]*override{}, pools: map[poolTarget]*override{}, releases: map[poolTarget]release{}}
	scanner := bufio.NewScanner(bytes.NewReader(content))
	scanner.Buffer(nil, maxOverrideFile)
	for n := 1; scanner.Scan(); n++ {
		text, _, _ := strings.Cut(scanner.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if problem := set.add(n, fields); problem != "" {
			set.bad = append(set.bad, badLine{n, problem})
		}
	}
	return set
}

// add reads the fields of line n, and returns what is wrong with them, if anything.
func (s *overrideSet) add(n int, fields []string) string {
	if len(fields) < 2 {
		return fmt.Sprintf("'%s' has no state: want TARGET up|down|drain [REASON...]", fields[0])
	}
	if strings.EqualFold(fields[1], "release") {
		return s.addRelease(n, fields)
	}
	state, ok := overrideStates[strings.ToLower(fields[1])]
	if !ok {
		return fmt.Sprintf("unknown state '%s': want up, down, drain or release", fields[1])
	}
	o := &override{target: fields[0], state: state, reason: strings.Join(fields[2:], " "), line: n}

	t, isPool, problem := parsePoolTarget(fields[0])
	if !isPool {
		addr, err := netip.ParseAddr(fields[0])
		if err != nil || addr.Zone() != "" {
			return fmt.Sprintf("'%s' is neither an IP address nor NAME/POOL", fields[0])
		}
		addr = addr.Unmap()
		o.addr = addr
		if prev, ok := s.addrs[addr]; ok {
			return fmt.Sprintf("%s is already overridden at line %d", addr, prev.line)
		}
		s.addrs[addr] = o
		s.all = append(s.all, o)
		return ""
	}
	if problem != "" {
		return problem
	}
	o.pool = t
	if prev, ok := s.pools[t]; ok {
		return fmt.Sprintf("%s is already overridden at line %d", fields[0], prev.line)
	}
	s.pools[t] = o
	s.all = append(s.all, o)
	return ""
}

// parsePoolTarget reads a NAME/POOL target, and reports whether target has
// that form at all, and what is wrong with it.
func parsePoolTarget(target string) (poolTarget, bool, string) {
	name, poolName, isPool := strings.Cut(target, "/")
	if !isPool {
		return poolTarget{}, false, ""
	}
	if _, ok := dns.IsDomainName(name); !ok || name == "" || poolName == "" || strings.Contains(poolName, "/") {
		return poolTarget{}, true, fmt.Sprintf("'%s' is not NAME/POOL, such as app.example.org/primary", target)
	}
	qname, err := queryName(name) // as the Corefile's names: bücher.example.org/primary works
	if err != nil {
		return poolTarget{}, true, err.Error()
	}
	return poolTarget{qname, poolName}, true, ""
}

// addRelease reads a `NAME/POOL release SINCE [REASON...]` line.
func (s *overrideSet) addRelease(n int, fields []string) string {
	t, isPool, problem := parsePoolTarget(fields[0])
	switch {
	case !isPool:
		return fmt.Sprintf("'%s' cannot be released: a release names NAME/POOL, the pool a failback hold keeps answers from", fields[0])
	case problem != "":
		return problem
	case len(fields) < 3:
		return fmt.Sprintf("%s release needs the start of the hold it releases, as the status endpoint and the log give it: %s release 2026-12-03T10:15:04Z", fields[0], fields[0])
	}
	since, err := time.Parse(time.RFC3339, fields[2])
	if err != nil {
		return fmt.Sprintf("'%s' is not the start of a hold, such as 2026-12-03T10:15:04Z", fields[2])
	}
	if prev, ok := s.releases[t]; ok && prev.since > since.Unix() {
		return "" // an earlier incident's: the later line releases all it would
	}
	s.releases[t] = release{t, since.Unix(), n}
	return ""
}

func (r release) String() string {
	return r.target.name + "/" + r.target.pool + " release " + time.Unix(r.since, 0).UTC().Format(time.RFC3339)
}

// released reports whether a release line ends the hold of name that keeps
// its answers from pool and started at since. A nil set has none.
func (s *overrideSet) released(name, pool string, since time.Time) bool {
	if s == nil {
		return false
	}
	r, ok := s.releases[poolTarget{name, pool}]
	return ok && since.Unix() <= r.since+int64(releaseSkew/time.Second)
}

// lookup returns the override in force for member addr of pool of name: of
// the pool or of the address. When both are, the more cautious one wins: drain
// over down, down over up. A nil set has none.
func (s *overrideSet) lookup(name, pool string, addr netip.Addr) *override {
	if s == nil {
		return nil
	}
	byPool, byAddr := s.pools[poolTarget{name, pool}], s.addrs[addr]
	switch {
	case byPool == nil:
		return byAddr
	case byAddr == nil || byPool.state >= byAddr.state:
		return byPool
	}
	return byAddr
}

// poolOverride returns the override of a whole pool of name, or nil.
func (s *overrideSet) poolOverride(name, pool string) *override {
	if s == nil {
		return nil
	}
	return s.pools[poolTarget{name, pool}]
}

// hasPoolOverride reports whether any pool of name is overridden.
func (s *overrideSet) hasPoolOverride(name string) bool {
	if s == nil {
		return false
	}
	for t := range s.pools {
		if t.name == name {
			return true
		}
	}
	return false
}

// maxOverrideFile bounds what is read of an override file: a file that large
// is a mistake, not a list of overrides.
const maxOverrideFile = 1 << 20
