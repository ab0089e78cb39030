package failover

import (
	"bytes"
	"io"
	golog "log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/coredns/caddy"
)

// logBuffer collects what the plugin logs during a test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// take returns what was logged since the last take.
func (b *logBuffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	b.buf.Reset()
	return s
}

// captureLog collects the log until the test ends (log_test.go discards it otherwise).
func captureLog(t *testing.T) *logBuffer {
	b := &logBuffer{}
	golog.SetOutput(b)
	t.Cleanup(func() { golog.SetOutput(io.Discard) })
	return b
}

// overrideTestSource returns the override source of a parsed block reading
// an override file in a new directory, and the file's path.
func overrideTestSource(t *testing.T) (*overrideSource, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "overrides")
	f, err := parse(caddy.NewTestController("dns", `failover app.example.org {
	primary   192.0.2.1 192.0.2.2
	secondary 198.51.100.1
	check     tcp://:80
	override  `+path+`
}`))
	if err != nil {
		t.Fatal(err)
	}
	return f.blocks[0].overrides, path
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOverrideFileReload follows one override file through its life: missing,
// written, unchanged, edited with mistakes, unreadable, removed. Each reading
// says whether the overrides changed and logs what it must.
func TestOverrideFileReload(t *testing.T) {
	logged := captureLog(t)
	src, path := overrideTestSource(t)
	state := func() string {
		if src.current() == nil {
			return ""
		}
		var states []string
		for _, o := range src.current().all {
			states = append(states, o.target+" "+o.state.String())
		}
		return strings.Join(states, ", ")
	}
	type step struct {
		what      string
		do        func()
		changed   bool
		overrides string
		logs      []string // each must be in the log of this step
	}
	steps := []step{
		{"missing", func() {}, false, "", []string{"override file " + path + " does not exist: no overrides"}},
		{"still missing", func() {}, false, "", nil},
		{"written", func() { write(t, path, "192.0.2.1 down drill\napp.example.org/secondary up\n") }, true,
			"192.0.2.1 down, app.example.org/secondary up",
			[]string{"override 192.0.2.1 down: drill (" + path + ")", "override app.example.org/secondary up ("}},
		{"unchanged", func() {}, false, "192.0.2.1 down, app.example.org/secondary up", nil},
		{"comment added", func() { write(t, path, "# drill\n192.0.2.1 down drill\napp.example.org/secondary up\n") }, false,
			"192.0.2.1 down, app.example.org/secondary up", nil},
		{"bad lines and a target that matches nothing", func() {
			write(t, path, "192.0.2.1 down drill\n192.0.2.2 dwn\nwww.example.org/primary drain\napp.example.org/secondary up\n")
		}, true, "192.0.2.1 down, www.example.org/primary drain, app.example.org/secondary up",
			[]string{path + ":2: unknown state 'dwn': want up, down, drain or release; line ignored",
				path + ":3: www.example.org/primary matches no address, and no NAME/POOL, of the failover blocks that read this file"}},
		{"too large", func() { write(t, path, strings.Repeat("# padding\n", maxOverrideFile/10+1)) }, false,
			"192.0.2.1 down, www.example.org/primary drain, app.example.org/secondary up",
			[]string{"larger than 1048576 bytes; the overrides read before stay in force"}},
		{"state changed", func() { write(t, path, "192.0.2.1 drain\n") }, true, "192.0.2.1 drain",
			[]string{"override 192.0.2.1 drain (", "override app.example.org/secondary up removed ("}},
		{"removed", func() { os.Remove(path) }, true, "", []string{"override 192.0.2.1 drain removed (", "does not exist"}},
		{"written again", func() { write(t, path, "192.0.2.2 down\n") }, true, "192.0.2.2 down", []string{"override 192.0.2.2 down ("}},
		{"a directory in its place", func() { os.Remove(path); os.Mkdir(path, 0o755) }, false, "192.0.2.2 down",
			[]string{"is a directory; the overrides read before stay in force"}},
	}
	// What the status says is wrong with the file, after the steps that have a problem.
	problems := map[string]string{
		"missing":                  "does not exist",
		"still missing":            "does not exist",
		"too large":                "larger than 1048576 bytes",
		"removed":                  "does not exist",
		"a directory in its place": "is a directory",
	}
	for _, s := range steps {
		s.do()
		if changed := src.reload(); changed != s.changed {
			t.Errorf("%s: changed %v, want %v", s.what, changed, s.changed)
		}
		if got := state(); got != s.overrides {
			t.Errorf("%s: overrides %q, want %q", s.what, got, s.overrides)
		}
		if got, want := src.problem(), problems[s.what]; !strings.Contains(got, want) || (want == "") != (got == "") {
			t.Errorf("%s: problem %q, want %q", s.what, got, want)
		}
		log := logged.take()
		for _, want := range s.logs {
			if !strings.Contains(log, want) {
				t.Errorf("%s: log lacks %q:\n%s", s.what, want, log)
			}
		}
		if len(s.logs) == 0 && log != "" {
			t.Errorf("%s: logged %q", s.what, log)
		}
	}
}

// TestOverrideFileSymlinkSwap updates the file as Kubernetes updates a
// ConfigMap volume: the file is a symlink to ..data/overrides, and ..data a
// symlink to a directory of the version, which a rename replaces at once.
func TestOverrideFileSymlinkSwap(t *testing.T) {
	src, _ := overrideTestSource(t)
	dir := filepath.Dir(src.path)
	version := func(name, content string) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, name, "overrides"), content)
		if err := os.Symlink(name, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..2026_11_25_10_00_00.1", "192.0.2.1 down\n")
	if err := os.Symlink(filepath.Join("..data", "overrides"), src.path); err != nil {
		t.Fatal(err)
	}
	if !src.reload() || src.current().all[0].target != "192.0.2.1" {
		t.Fatalf("first version not read: %v", src.current().describe())
	}
	version("..2026_11_25_10_05_00.2", "192.0.2.2 drain\n")
	os.RemoveAll(filepath.Join(dir, "..2026_11_25_10_00_00.1"))
	if !src.reload() {
		t.Fatal("the swap was not seen")
	}
	if got := src.current().describe(); len(got) != 1 || got["192.0.2.2"] != "192.0.2.2 drain" {
		t.Errorf("after the swap: %v", got)
	}
}
