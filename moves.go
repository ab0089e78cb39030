package failover

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// move is a governed name's change of pool for one query type.
type move struct {
	back                  bool // a failback, to an earlier pool
	name, qtype, from, to string
	reason                string
}

// moveLog logs the moves of the names between pools. A mass failure moves
// thousands of names within an interval: moveLines moves a period
// (moveLogPeriod) get a line each, as any move does; the others are summed
// up at the end of the period, a line for each kind of move (direction,
// pools, reason and query type) with their number and the first few names.
// failovers_total, failbacks_total and the status endpoint have every name.
// It belongs to the goroutine that rebuilds the answers, which calls flush
// at the end of each period that logged a move.
type moveLog struct {
	lines int // logged a line each in this period
	rest  map[moveKind]*moveGroup
	last  moveKind   // the kind of the last move summed up, and its group:
	group *moveGroup // the moves of a mass failure are mostly of one kind
}

type moveKind struct {
	back                    bool
	qtype, from, to, reason string
}

type moveGroup struct {
	count int
	names []string // the first moveExamples
}

func newMoveLog() *moveLog { return &moveLog{rest: map[moveKind]*moveGroup{}} }

// pending reports whether the period logged any move.
func (l *moveLog) pending() bool { return l.lines > 0 }

func (l *moveLog) add(m move) {
	if l == nil {
		return
	}
	if l.lines < moveLines {
		l.lines++
		if m.back {
			log.Infof("%s %s fails back from pool %s to %s (%s)", m.name, m.qtype, m.from, m.to, m.reason)
		} else {
			log.Warningf("%s %s fails over from pool %s to %s (%s)", m.name, m.qtype, m.from, m.to, m.reason)
		}
		return
	}
	k := moveKind{m.back, m.qtype, m.from, m.to, m.reason}
	g := l.group
	if g == nil || k != l.last {
		if g = l.rest[k]; g == nil {
			g = &moveGroup{}
			l.rest[k] = g
		}
		l.last, l.group = k, g
	}
	g.count++
	if len(g.names) < moveExamples {
		g.names = append(g.names, m.name)
	}
}

// flush logs the summary of the moves of the period that had no line of
// their own, and starts a new period.
func (l *moveLog) flush() {
	defer func() {
		l.lines = 0
		clear(l.rest)
		l.group = nil
	}()
	kinds := make([]moveKind, 0, len(l.rest))
	for k := range l.rest {
		kinds = append(kinds, k)
	}
	slices.SortFunc(kinds, func(a, b moveKind) int { // failovers first, then by pools
		switch {
		case a.back && !b.back:
			return 1
		case !a.back && b.back:
			return -1
		}
		return cmp.Or(strings.Compare(a.from, b.from), strings.Compare(a.to, b.to),
			strings.Compare(a.reason, b.reason), strings.Compare(a.qtype, b.qtype))
	})
	for _, k := range kinds {
		g := l.rest[k]
		names := strings.Join(g.names, " ")
		if g.count > len(g.names) {
			names += " ..."
		}
		more := fmt.Sprintf("%d more names %s fail", g.count, k.qtype)
		if g.count == 1 {
			more = fmt.Sprintf("1 more name %s fails", k.qtype)
		}
		if k.back {
			log.Infof("%s back from pool %s to %s (%s): %s", more, k.from, k.to, k.reason, names)
		} else {
			log.Warningf("%s over from pool %s to %s (%s): %s", more, k.from, k.to, k.reason, names)
		}
	}
}

// moveLines is how many moves of a period are logged a line each;
// moveExamples, how many names a summary line lists.
const (
	moveLines    = 20
	moveExamples = 5
)

// moveLogPeriod is the period of moveLines; a test shortens it.
var moveLogPeriod = time.Second
