package integration

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// observePeriod is how often the fleet tests ask each replica, and look at
// each backend's count of health checks.
const observePeriod = 20 * time.Millisecond

// answerChange is an answer a replica gave from at on.
type answerChange struct {
	at     time.Time
	answer string
}

// answerLog records each change of what one replica answers for a name,
// asked every observePeriod until the test ends. A query that fails twice
// in a row is recorded as the answer "error: ...".
type answerLog struct {
	replica *replica
	mu      sync.Mutex
	changes []answerChange
}

// watchAnswers starts asking r for name's A records.
func watchAnswers(t *testing.T, r *replica, name string) *answerLog {
	l := &answerLog{replica: r}
	done := make(chan struct{})
	stopped := make(chan struct{})
	t.Cleanup(func() { close(done); <-stopped })
	go func() {
		defer close(stopped)
		tick := time.NewTicker(observePeriod)
		defer tick.Stop()
		last := ""
		for {
			answer := l.ask(name)
			if answer != last {
				l.mu.Lock()
				l.changes = append(l.changes, answerChange{time.Now(), answer})
				l.mu.Unlock()
				last = answer
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return l
}

func (l *answerLog) ask(name string) string {
	var err error
	for range 2 {
		var answer string
		if answer, err = lookup(l.replica.dns, name, dns.TypeA); err == nil {
			return answer
		}
	}
	return "error: " + err.Error()
}

// firstSince returns when the replica first answered want at or after
// since, having answered something else before.
func (l *answerLog) firstSince(since time.Time, want string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.changes {
		if !c.at.Before(since) && c.answer == want {
			return c.at, true
		}
	}
	return time.Time{}, false
}

// current returns the answer the replica gives now, as last recorded.
func (l *answerLog) current() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.changes) == 0 {
		return ""
	}
	return l.changes[len(l.changes)-1].answer
}

// since returns the answers the replica gave from since on: the one it
// gave then, and every one after.
func (l *answerLog) since(since time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var answers []string
	for i, c := range l.changes {
		if c.at.After(since) || i == len(l.changes)-1 || l.changes[i+1].at.After(since) {
			answers = append(answers, c.answer)
		}
	}
	return answers
}

// waitAgreement waits until every log's replica answers want, and returns
// the disagreement window of the change made at since: from the first
// replica answering want to the last.
func waitAgreement(t *testing.T, logs []*answerLog, since time.Time, want string, within time.Duration) time.Duration {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var first, last time.Time
		all := true
		for _, l := range logs {
			at, ok := l.firstSince(since, want)
			if !ok {
				all = false
				break
			}
			if first.IsZero() || at.Before(first) {
				first = at
			}
			if at.After(last) {
				last = at
			}
		}
		if all {
			return last.Sub(first)
		}
		if time.Now().After(deadline) {
			var now []string
			for _, l := range logs {
				now = append(now, fmt.Sprintf("%s: %q", l.replica.identity, l.current()))
			}
			t.Fatalf("not every replica answers %q within %v of the change: %v", want, within, now)
		}
		time.Sleep(observePeriod)
	}
}

// percentile returns the p-th percentile of ds by the nearest-rank method.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

// hitLog records, every observePeriod, the health checks each backend has
// received, until the test ends: when they arrived (within observePeriod)
// and how many by then.
type hitLog struct {
	backends []*backend
	mu       sync.Mutex
	arrivals [][]hitSample // per backend, a sample each time its count grew
}

// hitSample is a backend's count of health checks, first seen at at.
type hitSample struct {
	at   time.Time
	hits int64
}

// watchHits starts recording the health checks of backends.
func watchHits(t *testing.T, backends []*backend) *hitLog {
	l := &hitLog{backends: backends, arrivals: make([][]hitSample, len(backends))}
	done := make(chan struct{})
	stopped := make(chan struct{})
	t.Cleanup(func() { close(done); <-stopped })
	go func() {
		defer close(stopped)
		tick := time.NewTicker(observePeriod)
		defer tick.Stop()
		for {
			now := time.Now()
			l.mu.Lock()
			for i, b := range backends {
				n := b.hits.Load()
				if a := l.arrivals[i]; len(a) == 0 || a[len(a)-1].hits != n {
					l.arrivals[i] = append(a, hitSample{now, n})
				}
			}
			l.mu.Unlock()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return l
}

// longestGap returns, for backend i, the longest time between two health
// checks in [from, to], counting the edges of the span as checks.
func (l *hitLog) longestGap(i int, from, to time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	last, gap := from, time.Duration(0)
	for _, s := range l.arrivals[i] {
		if s.at.Before(from) || s.at.After(to) {
			continue
		}
		gap = max(gap, s.at.Sub(last))
		last = s.at
	}
	return max(gap, to.Sub(last))
}

// countHits returns how many health checks the backends receive, together,
// over the next d: a measurement window, not a wait for something to happen.
func countHits(backends []*backend, d time.Duration) int64 {
	total := func() (n int64) {
		for _, b := range backends {
			n += b.hits.Load()
		}
		return n
	}
	before := total()
	<-time.After(d)
	return total() - before
}
