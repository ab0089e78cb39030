package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/failover-dns/failover/checkconf"
)

// corefiles returns the bodies of the ~~~ corefile blocks of a Markdown file.
func corefiles(t *testing.T, path string) []string {
	t.Helper()
	md, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur *strings.Builder
	for _, line := range strings.Split(string(md), "\n") {
		switch {
		case cur == nil && strings.TrimSpace(line) == "~~~ corefile":
			cur = new(strings.Builder)
		case cur != nil && strings.TrimSpace(line) == "~~~":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	return blocks
}

// validate checks corefile as checkconf does: as CoreDNS reads it at startup,
// without binding its ports or probing.
func validate(corefile string) error {
	return checkconf.Check("Corefile", []byte(corefile))
}

// TestDocumentedCorefiles checks that every Corefile in the README, the guides
// of docs/ and the demo is accepted exactly as written.
func TestDocumentedCorefiles(t *testing.T) {
	demo, err := os.ReadFile("../example/Corefile")
	if err != nil {
		t.Fatal(err)
	}
	readme := corefiles(t, "../README.md")
	if len(readme) < 3 {
		t.Fatalf("found %d corefile blocks in the README, want at least 3", len(readme))
	}
	guides, err := filepath.Glob("../docs/*.md")
	if err != nil || len(guides) == 0 {
		t.Fatalf("no guides in docs/: %v", err)
	}
	for _, guide := range guides {
		readme = append(readme, corefiles(t, guide)...)
	}

	// The zone file an example names, relative to the working directory.
	dir := t.TempDir()
	zone := "$ORIGIN example.org.\n@ 3600 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 300\n@ 3600 IN NS ns\nns 3600 IN A 192.0.2.53\nwww 3600 IN CNAME app\n"
	if err := os.WriteFile(filepath.Join(dir, "db.example.org"), []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)

	for i, corefile := range append(readme, string(demo)) {
		if err := validate(corefile); err != nil {
			t.Errorf("corefile %d refused: %v\n%s", i+1, err, corefile)
		}
	}
	// The check itself can fail.
	if err := validate("example.org {\nfailover app.example.org {\nprimary 192.0.2.1\n}\n}\n"); err == nil {
		t.Error("a block without check was accepted")
	}
}
