package failover

import (
	"strings"
	"testing"
	"time"
)

// TestMassMovesLoggedInSummary checks the log of the moves of a mass
// failure: the first moveLines moves of a period have a line each, the
// others one line for each kind of move, with their number, once the
// period ends.
func TestMassMovesLoggedInSummary(t *testing.T) {
	const blocks = moveLines + 12
	v := verdicts{}
	f := parsedWith(t, manyBlocks(blocks, 1), v)
	logged := captureLog(t)
	for i := range f.blocks[:blocks/2] {
		v[primaryOf(f, i)] = true
		f.changes.endpointChanged(primaryOf(f, i))
	}
	f.rebuild(v.healthy)
	for i := range f.blocks[blocks/2:] {
		v[primaryOf(f, blocks/2+i)] = true
		f.changes.endpointChanged(primaryOf(f, blocks/2+i))
	}
	f.rebuild(v.healthy)
	out := logged.take()
	if n := strings.Count(out, " A fails over from pool primary to secondary (failover)"); n != moveLines || strings.Count(out, "\n") != moveLines {
		t.Errorf("%d lines of a name each, want %d and nothing else:\n%s", n, moveLines, out)
	}
	f.moves.flush() // the period ends
	out = logged.take()
	if !strings.Contains(out, "12 more names A fail over from pool primary to secondary (failover): n") || !strings.HasSuffix(out, " ...\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("not one summary of the 12 other moves:\n%s", out)
	}

	// A new period: the failback of the last names.
	defer func(period time.Duration) { moveLogPeriod = period }(moveLogPeriod)
	moveLogPeriod = 50 * time.Millisecond
	f.following.Add(1)
	go f.follow(v.healthy)
	defer func() { close(f.stopFollowing); f.following.Wait() }()
	for i := range f.blocks[:moveLines+1] {
		v[primaryOf(f, i)] = false
		f.changes.endpointChanged(primaryOf(f, i))
	}
	var summary string
	waitUntil(t, "the summary of the period", func() bool {
		summary += logged.take()
		return strings.Contains(summary, "more name")
	})
	if n := strings.Count(summary, ". A fails back from pool secondary to primary (healthy)"); n != moveLines ||
		!strings.Contains(summary, "1 more name A fails back from pool secondary to primary (healthy): n") || strings.Contains(summary, "...") {
		t.Errorf("not %d lines and a summary of the last failback:\n%s", moveLines, summary)
	}
}
