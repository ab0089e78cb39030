package failover

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
	"time"
)

// overrideSource is an override file that one or more failover blocks of a
// server block read. It is polled, not watched with inotify: a poll sees an
// edit in place, a file replaced by rename, a file that appears or goes, and
// the symlink swap through which Kubernetes updates a ConfigMap volume, all
// alike, on any file system.
type overrideSource struct {
	path   string
	blocks []*block // the blocks that read it: a target none of them has is reported
	set    atomic.Pointer[overrideSet]
	issue  atomic.Pointer[string] // what was wrong with the file at the last reading; nil when nothing

	// Owned by whoever reads the file: OnStartup, then the polling goroutine.
	content []byte
	read    bool // content holds a reading of the file
	missing bool // the file did not exist at the last reading
}

// current returns the overrides in force; nil when there are none. A nil
// source has none.
func (s *overrideSource) current() *overrideSet {
	if s == nil {
		return nil
	}
	return s.set.Load()
}

// reload reads the file and reports whether the overrides in force changed. A
// missing file means no overrides; a file that cannot be read leaves the
// overrides read before in force.
func (s *overrideSource) reload() bool {
	content, err := readBounded(s.path, maxOverrideFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.issue.Store(&fileMissing)
		if s.missing {
			return false
		}
		s.missing, s.read, s.content = true, false, nil
		overrideBadLines.WithLabelValues(s.path).Set(0)
		log.Infof("override file %s does not exist: no overrides", s.path)
		return s.replace(nil)
	case err != nil:
		if msg := err.Error(); msg != s.problem() { // logged once, not every poll
			s.issue.Store(&msg)
			log.Errorf("override file %s: %s; the overrides read before stay in force", s.path, msg)
		}
		return false
	}
	s.missing = false
	s.issue.Store(nil)
	if s.read && bytes.Equal(content, s.content) {
		return false
	}
	s.read, s.content = true, content
	set := parseOverrides(content)
	for _, bad := range set.bad {
		log.Warningf("override file %s:%d: %s; line ignored", s.path, bad.line, bad.problem)
	}
	for _, o := range set.all {
		if !s.matches(o) {
			log.Warningf("override file %s:%d: %s matches no address, and no NAME/POOL, of the failover blocks that read this file", s.path, o.line, o.target)
		}
	}
	overrideBadLines.WithLabelValues(s.path).Set(float64(len(set.bad)))
	return s.replace(set)
}

// replace puts set in force, logs what changed, and reports whether anything did.
func (s *overrideSource) replace(set *overrideSet) bool {
	prev := s.set.Load()
	before, after := prev.describe(), set.describe()
	for target, line := range after {
		if before[target] != line {
			log.Infof("override %s (%s)", line, s.path)
		}
	}
	for target, line := range before {
		if _, ok := after[target]; !ok {
			log.Infof("override %s removed (%s)", line, s.path)
		}
	}
	s.set.Store(set)
	return len(before) != len(after) || fmt.Sprint(before) != fmt.Sprint(after)
}

var fileMissing = "the file does not exist: no overrides"

// problem says what was wrong with the file at its last reading: "" when nothing.
func (s *overrideSource) problem() string {
	if p := s.issue.Load(); p != nil {
		return *p
	}
	return ""
}

// describe returns each override as a log line would show it, by target.
func (s *overrideSet) describe() map[string]string {
	lines := map[string]string{}
	if s == nil {
		return lines
	}
	for _, o := range s.all {
		line := o.target + " " + o.state.String()
		if o.reason != "" {
			line += ": " + o.reason
		}
		lines[o.target] = line
	}
	for _, r := range s.releases {
		line := r.String()
		lines[line] = line
	}
	return lines
}

// matches reports whether o applies to some member of the blocks reading s.
func (s *overrideSource) matches(o *override) bool {
	for _, b := range s.blocks {
		for _, p := range b.pools {
			if o.addr.IsValid() {
				if p.has(o.addr) {
					return true
				}
			} else if p.name == o.pool.pool && b.governs(o.pool.name) {
				return true
			}
		}
	}
	return false
}

// watch polls the file until stop is closed, calling onChange after each
// change of the overrides in force.
func (s *overrideSource) watch(stop <-chan struct{}, onChange func()) {
	tick := time.NewTicker(overridePoll)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			if s.reload() {
				onChange()
			}
		}
	}
}

// readBounded reads the file at path, refusing one larger than limit.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	content, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(content)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return content, nil
}

// overridePoll is how often override files are read: a change reaches the
// answers within that, and the time to rebuild them.
var overridePoll = 250 * time.Millisecond
