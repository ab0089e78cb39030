package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestSameSourceSameDigest builds the binary and the image twice, each into
// its own directory, as make image does, and finds the same digest and
// byte-identical outputs; another timestamp gives another digest.
func TestSameSourceSameDigest(t *testing.T) {
	dir1, dir2 := t.TempDir(), t.TempDir()
	d1 := makeImage(t, dir1)
	d2 := makeImage(t, dir2)
	if d1 != d2 {
		t.Fatalf("two builds of the same source: digests %s and %s", d1, d2)
	}
	o1, o2 := outputsIn(dir1), outputsIn(dir2)
	sameFile(t, filepath.Join(dir1, "coredns"), filepath.Join(dir2, "coredns"))
	for _, name := range []string{"index.json", "oci-layout"} {
		sameFile(t, filepath.Join(o1.layout, name), filepath.Join(o2.layout, name))
	}
	sameFile(t, o1.archive, o2.archive)

	later := makeImage(t, t.TempDir(), "-binary", filepath.Join(dir1, "coredns"), "-created", "1700000001")
	if later == d1 {
		t.Fatalf("another timestamp, the same digest %s", d1)
	}
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	da, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(da, db) {
		t.Errorf("%s and %s differ", a, b)
	}
}
