package failover

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
)

// timeline decides one name again and again, each time under the health and
// overrides the test gives, as the rebuilds of an instance would: each
// decision follows the one before.
type timeline struct {
	t    *testing.T
	b    *block
	now  time.Time
	prev *decision
}

func newTimeline(t *testing.T, lines string) *timeline {
	t.Helper()
	f, err := parse(caddy.NewTestController("dns", `failover app.example.org {
		primary   192.0.2.1
		secondary 198.51.100.1
		pool      dr 203.0.113.1
		check     tcp://:80
		interval  1s
		rise      2
`+lines+`
	}`))
	if err != nil {
		t.Fatal(err)
	}
	return &timeline{t: t, b: f.blocks[0], now: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
}

// at decides the name after wait, with the addresses in down down and the
// override file content overrides, and returns the A answer.
func (tl *timeline) at(wait time.Duration, overrides string, down ...string) *choice {
	tl.now = tl.now.Add(wait)
	var ov *overrideSet
	if overrides != "" {
		ov = parseOverrides([]byte(overrides))
		if len(ov.bad) > 0 {
			tl.t.Fatalf("bad override lines %v", ov.bad)
		}
	}
	healthy := func(m member) bool {
		return !strings.Contains(" "+strings.Join(down, " ")+" ", " "+m.addr.String()+" ")
	}
	name := tl.b.names[0]
	d := tl.b.decide(name, judgeName(name, ov, nil, healthy), tl.prev, ov, tl.now)
	tl.prev = &d
	return &d.a
}

func (tl *timeline) expect(c *choice, pool string, held bool) {
	tl.t.Helper()
	if c.pool != pool || (c.hold != nil) != held {
		tl.t.Fatalf("at %s: pool %q, hold %+v; want pool %q, held %v", tl.now.Format(time.TimeOnly), c.pool, c.hold, pool, held)
	}
}

func TestFailbackImmediateByDefault(t *testing.T) {
	tl := newTimeline(t, "")
	tl.expect(tl.at(0, ""), "primary", false)
	tl.expect(tl.at(time.Second, "", "192.0.2.1"), "secondary", false)
	tl.expect(tl.at(time.Second, ""), "primary", false)
}

func TestFailbackHoldsForDuration(t *testing.T) {
	tl := newTimeline(t, "failback 10s")
	tl.expect(tl.at(0, ""), "primary", false) // a start holds nothing back
	tl.expect(tl.at(time.Second, "", "192.0.2.1"), "secondary", false)

	c := tl.at(3*time.Second, "")
	tl.expect(c, "secondary", true)
	start := tl.now
	if c.hold.from != 0 || !c.hold.since.Equal(start) || !c.hold.until(tl.b.failback).Equal(start.Add(10*time.Second)) {
		t.Fatalf("hold %+v, until %s", c.hold, c.hold.until(tl.b.failback))
	}
	if d := tl.prev.deadline; !d.Equal(start.Add(10 * time.Second)) {
		t.Errorf("decision deadline %s, want the end of the hold %s", d, start.Add(10*time.Second))
	}
	tl.expect(tl.at(9*time.Second, ""), "secondary", true)
	tl.expect(tl.at(time.Second, ""), "primary", false)

	// Failing over is never held back, and a new incident is a new hold.
	tl.expect(tl.at(time.Second, "", "192.0.2.1"), "secondary", false)
	c = tl.at(time.Second, "")
	tl.expect(c, "secondary", true)
	if !c.hold.since.Equal(tl.now) {
		t.Errorf("the next incident's hold started at %s, want %s", c.hold.since, tl.now)
	}
}

// TestFailbackHoldEndsWhenPoolGoesDownAgain: the primary failing during its
// hold ends the hold; its return starts another.
func TestFailbackHoldEndsWhenPoolGoesDownAgain(t *testing.T) {
	tl := newTimeline(t, "failback 10s")
	tl.at(0, "")
	tl.at(time.Second, "", "192.0.2.1")
	tl.expect(tl.at(time.Second, ""), "secondary", true)
	tl.expect(tl.at(5*time.Second, "", "192.0.2.1"), "secondary", false)
	c := tl.at(time.Second, "")
	tl.expect(c, "secondary", true)
	tl.expect(tl.at(9*time.Second, ""), "secondary", true)
	tl.expect(tl.at(time.Second, ""), "primary", false)
}

func TestFailbackNeverWorseThanFailback(t *testing.T) {
	tl := newTimeline(t, "failback 10s")
	tl.at(0, "")
	tl.at(time.Second, "", "192.0.2.1")
	tl.expect(tl.at(time.Second, ""), "secondary", true)
	// The secondary fails during the hold: the dr pool is after it.
	tl.expect(tl.at(time.Second, "", "198.51.100.1"), "dr", true)
	// No pool after the primary is up: the primary answers at once.
	tl.expect(tl.at(time.Second, "", "198.51.100.1", "203.0.113.1"), "primary", false)
}

func TestFailbackManualWaitsForItsRelease(t *testing.T) {
	tl := newTimeline(t, "failback manual\noverride /dev/null")
	tl.at(0, "")
	tl.at(time.Second, "", "192.0.2.1")
	c := tl.at(time.Second, "")
	tl.expect(c, "secondary", true)
	h := c.hold
	line := h.releaseLine(tl.b, "app.example.org.")
	if want := "app.example.org./primary release 2026-12-03T10:00:02Z"; line != want {
		t.Fatalf("release line %q, want %q", line, want)
	}
	if c.hold.until(tl.b.failback) != (time.Time{}) || tl.prev.deadline != (time.Time{}) {
		t.Errorf("a manual hold ends by itself at %s", c.hold.until(tl.b.failback))
	}
	tl.expect(tl.at(24*time.Hour, ""), "secondary", true)

	// The release of an earlier incident's hold releases nothing.
	old := "app.example.org/primary release " + h.since.Add(-time.Hour).Format(time.RFC3339) + " last week's\n"
	tl.expect(tl.at(time.Second, old), "secondary", true)
	// A release while the primary is down waits for it to be up.
	tl.expect(tl.at(time.Second, old+line, "192.0.2.1"), "secondary", false)

	// Its own release line, as the status page gives it, ends it.
	tl = newTimeline(t, "failback manual\noverride /dev/null")
	tl.at(0, "")
	tl.at(time.Second, "", "192.0.2.1")
	c = tl.at(time.Second, "")
	line = c.hold.releaseLine(tl.b, "app.example.org.")
	tl.expect(tl.at(time.Minute, line+" checked by ops\n"), "primary", false)
	// Left in the file, it does not release the next incident's hold.
	tl.expect(tl.at(time.Minute, line+"\n", "192.0.2.1"), "secondary", false)
	tl.expect(tl.at(time.Minute, line+"\n"), "secondary", true)
}

func TestFailbackOverridesWinOverAHold(t *testing.T) {
	for _, overrides := range []string{"app.example.org/primary up\n", "198.51.100.1 down\n", "192.0.2.1 up\n"} {
		tl := newTimeline(t, "failback 1h")
		tl.at(0, "")
		tl.at(time.Second, "", "192.0.2.1")
		tl.expect(tl.at(time.Second, ""), "secondary", true)
		tl.expect(tl.at(time.Second, overrides), "primary", false)
	}
}

func TestTTLFollowsHealth(t *testing.T) {
	tl := newTimeline(t, "ttl 300 5\nfailback 10s")
	c := tl.at(0, "")
	if c.ttl != 5 || c.ttlWhy != ttlChanged {
		t.Errorf("first answer: ttl %d (%s), want 5 (changed): one probe judged it", c.ttl, c.ttlWhy)
	}
	// max(rise × interval, MIN + 1 s): 6 s.
	if want := tl.now.Add(6 * time.Second); !tl.prev.deadline.Equal(want) {
		t.Errorf("deadline %s, want the end of the window after a change %s", tl.prev.deadline, want)
	}
	if c := tl.at(5*time.Second, ""); c.ttl != 5 || c.ttlWhy != ttlChanged {
		t.Errorf("5 s after the start: ttl %d (%s), want 5 (changed): a resolver that got 5 asks again now", c.ttl, c.ttlWhy)
	}
	if c := tl.at(time.Second, ""); c.ttl != 300 || c.ttlWhy != ttlSteady || !tl.prev.deadline.IsZero() {
		t.Errorf("steady: ttl %d (%s), deadline %s; want 300 (steady), none", c.ttl, c.ttlWhy, tl.prev.deadline)
	}
	if c := tl.at(time.Minute, "", "192.0.2.1"); c.ttl != 5 || c.ttlWhy != ttlChanged {
		t.Errorf("failover: ttl %d (%s), want 5 (changed)", c.ttl, c.ttlWhy)
	}
	if c := tl.at(time.Minute, ""); c.ttl != 5 || c.ttlWhy != ttlHold {
		t.Errorf("hold: ttl %d (%s), want 5 (hold)", c.ttl, c.ttlWhy)
	}
	if c := tl.at(time.Minute, "", "192.0.2.1", "198.51.100.1", "203.0.113.1"); c.ttl != 5 || c.ttlWhy != ttlAllDown {
		t.Errorf("all down: ttl %d (%s), want 5 (all_down)", c.ttl, c.ttlWhy)
	}

	tl = newTimeline(t, "ttl 300")
	for _, down := range [][]string{nil, {"192.0.2.1"}, nil} {
		if c := tl.at(time.Second, "", down...); c.ttl != 300 || c.ttlWhy != "" {
			t.Errorf("ttl 300 alone, down %v: ttl %d (%s)", down, c.ttl, c.ttlWhy)
		}
	}
}

func TestSetupFailbackAndTTL(t *testing.T) {
	tl := newTimeline(t, "ttl 300 5\nfailback 90s")
	if b := tl.b; b.ttl != 300 || !b.shortTTL || b.minTTL != 5 || b.failback.String() != "1m30s" {
		t.Errorf("ttl %d, short %v, min %d, failback %s", b.ttl, b.shortTTL, b.minTTL, b.failback)
	}
	if b := newTimeline(t, "failback manual\noverride /dev/null").b; !b.failback.manual {
		t.Error("failback manual not read")
	}
	if b := newTimeline(t, "failback immediate").b; !b.failback.immediate() {
		t.Error("failback immediate not read")
	}
	for _, tc := range []struct{ line, want string }{
		{"ttl 5 300", "'ttl' MIN 300 is longer than SECONDS 5"},
		{"ttl 300 5 1", "'ttl' takes SECONDS, and optionally MIN"},
		{"ttl 300 5s", "not '5s'"},
		{"failback 0s", "'failback' must be immediate, manual or a positive duration"},
		{"failback sometimes", "not 'sometimes'"},
		{"failback", "'failback' takes exactly one argument"},
		{"failback manual", "failback manual needs 'override FILE' in the block"},
	} {
		_, err := parse(caddy.NewTestController("dns", "failover app.example.org {\nprimary 192.0.2.1\ncheck tcp://:80\n"+tc.line+"\n}"))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), ":4 - ") {
			t.Errorf("%s: error %v, want %q at line 4", tc.line, err, tc.want)
		}
	}
}

func TestParseReleaseLines(t *testing.T) {
	set := parseOverrides([]byte(`app.example.org/primary release 2026-12-03T10:15:04Z checked by ops
App.Example.org./primary release 2026-12-03T10:15:04Z
192.0.2.1 release 2026-12-03T10:15:04Z
app.example.org/primary release
app.example.org/primary release yesterday
app.example.org/primary up
`))
	since := time.Date(2026, 12, 3, 10, 15, 4, 0, time.UTC)
	for _, tc := range []struct {
		started  time.Time
		released bool
	}{
		{since, true},
		{since.Add(-time.Hour), true},        // an older hold, still running: released as well
		{since.Add(time.Minute), true},       // another replica's hold of the same return
		{since.Add(61 * time.Second), false}, // the next incident's
	} {
		if got := set.released("app.example.org.", "primary", tc.started); got != tc.released {
			t.Errorf("hold started at %s: released %v, want %v", tc.started.Format(time.TimeOnly), got, tc.released)
		}
	}
	if set.lookup("app.example.org.", "primary", netip.MustParseAddr("192.0.2.1")) == nil {
		t.Error("a release line and an override of the same pool do not both apply")
	}
	var problems []string
	for _, bad := range set.bad {
		problems = append(problems, bad.String())
	}
	want := []string{
		"line 3: '192.0.2.1' cannot be released",
		"line 4: app.example.org/primary release needs the start of the hold it releases",
		"line 5: 'yesterday' is not the start of a hold",
	}
	if len(problems) != len(want) {
		t.Fatalf("bad lines %q, want %d", problems, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(problems[i], want[i]) {
			t.Errorf("bad line %q, want it to start with %q", problems[i], want[i])
		}
	}
}

// TestHoldsLogStartAndEnd: a hold is a log line when it starts, saying how it
// ends, and one when it ends, saying why; none while it lasts.
func TestHoldsLogStartAndEnd(t *testing.T) {
	logged := captureLog(t)
	var h holds
	defer h.release()
	for _, tc := range []struct {
		failback, start, end string
		wait                 time.Duration
		overrides            string
	}{
		{"failback 10s", "until 2026-12-03T10:00:12Z (failback 10s, restarted by a failed probe)", "was up for 10s without a failed probe", 10 * time.Second, ""},
		{"failback manual\noverride /dev/null", "until released: add 'app.example.org./primary release 2026-12-03T10:00:02Z'", "released by the override file", time.Hour, "app.example.org/primary release 2026-12-03T10:00:02Z\n"},
	} {
		tl := newTimeline(t, tc.failback)
		step := func(wait time.Duration, overrides string, down ...string) {
			prev := tl.prev
			tl.at(wait, overrides, down...)
			if prev != nil {
				h.follow(tl.b, []*decision{prev}, []*decision{tl.prev}, tl.now)
			}
		}
		step(0, "")
		step(time.Second, "", "192.0.2.1")
		step(time.Second, "")
		if h.held != 1 {
			t.Errorf("%s: %d names held, want 1", tc.failback, h.held)
		}
		step(time.Second, "")
		step(tc.wait, tc.overrides)
		log := logged.take()
		if h.held != 0 {
			t.Errorf("%s: %d names held after the hold, want 0", tc.failback, h.held)
		}
		for _, want := range []string{
			"app.example.org. A holds back pool primary, which is up again: answers stay on pool secondary " + tc.start,
			"app.example.org. A: the hold of pool primary ends after ",
			tc.end,
		} {
			if !strings.Contains(log, want) {
				t.Errorf("%s: log lacks %q:\n%s", tc.failback, want, log)
			}
		}
		if n := strings.Count(log, "holds back"); n != 1 {
			t.Errorf("%s: %d lines for the start of one hold:\n%s", tc.failback, n, log)
		}
	}
}
