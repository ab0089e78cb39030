package integration

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/failover-dns/failover/internal/checkconf"
)

// corefiles returns the bodies of the ~~~ corefile blocks of a Markdown file.
func corefiles(t *testing.T, path string) []string {
	t.Helper()
	return fencedBlocks(t, path, "~~~ corefile", "~~~")
}

// fencedBlocks returns the bodies of the blocks of a Markdown file that open
// with the line open and close with the line end.
func fencedBlocks(t *testing.T, path, open, end string) []string {
	t.Helper()
	md, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur *strings.Builder
	for _, line := range strings.Split(string(md), "\n") {
		switch {
		case cur == nil && strings.TrimSpace(line) == open:
			cur = new(strings.Builder)
		case cur != nil && strings.TrimSpace(line) == end:
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	return blocks
}

// validate checks corefile, read from the file at path, as checkconf does:
// as CoreDNS reads it at startup, without binding its ports or probing.
func validate(path, corefile string) error {
	return checkconf.Check(path, []byte(corefile))
}

// TestDocumentedCorefiles checks that every Corefile in the README, the guides
// of docs/ and the tree (the demo's; any file named Corefile or *.Corefile,
// outside testdata) is accepted exactly as written.
func TestDocumentedCorefiles(t *testing.T) {
	var names, bodies []string
	addBlocks := func(md string) int {
		blocks := corefiles(t, md)
		for i, b := range blocks {
			names = append(names, fmt.Sprintf("%s, corefile block %d", filepath.Base(md), i+1))
			bodies = append(bodies, b)
		}
		return len(blocks)
	}
	if n := addBlocks("../README.md"); n < 3 {
		t.Fatalf("found %d corefile blocks in the README, want at least 3", n)
	}
	guides, err := filepath.Glob("../docs/*.md")
	if err != nil || len(guides) == 0 {
		t.Fatalf("no guides in docs/: %v", err)
	}
	for _, guide := range guides {
		addBlocks(guide)
	}
	files := corefilesInTree(t, "..")
	if !slices.Contains(files, filepath.Join("..", "example", "Corefile")) {
		t.Fatalf("the demo's Corefile is not among the files found: %v", files)
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		abs, err := filepath.Abs(f) // its imports are relative to it, not to the directory below
		if err != nil {
			t.Fatal(err)
		}
		names, bodies = append(names, abs), append(bodies, string(body))
	}

	// The zone file an example names, relative to the working directory.
	dir := t.TempDir()
	zone := "$ORIGIN example.org.\n@ 3600 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 300\n@ 3600 IN NS ns\nns 3600 IN A 192.0.2.53\nwww 3600 IN CNAME app\n"
	if err := os.WriteFile(filepath.Join(dir, "db.example.org"), []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	// The token file of docs/alertmanager.md's alert lines, read as the block is.
	if err := os.WriteFile(filepath.Join(dir, "alert-token"), []byte("a-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	// As in a pod, where failover blocks read Services in-cluster (the
	// kubernetes plugin would also need a token: no documented Corefile has it).
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
	t.Setenv("KUBERNETES_SERVICE_PORT", "443")

	for i, corefile := range bodies {
		if err := validate(names[i], corefile); err != nil {
			t.Errorf("%s refused: %v\n%s", names[i], err, corefile)
		}
	}
	// The check itself can fail.
	if err := validate("Corefile", "example.org {\nfailover app.example.org {\nprimary 192.0.2.1\n}\n}\n"); err == nil {
		t.Error("a block without check was accepted")
	}
}

// corefilesInTree returns the files under root named Corefile or *.Corefile,
// outside hidden directories (.git, the demo's .example) and testdata.
func corefilesInTree(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (d.Name() == "Corefile" || strings.HasSuffix(d.Name(), ".Corefile")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
