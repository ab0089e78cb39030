package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestSameSourceSameDigest builds the binary and the image twice, each into
// its own directory, and finds the same image digest and byte-identical
// outputs; a different timestamp gives another digest.
func TestSameSourceSameDigest(t *testing.T) {
	const ref = "failover-coredns:v1.15.0-failover.0"
	first := staticBinary(t)
	second := filepath.Join(t.TempDir(), "coredns")
	if err := buildBinary("go", second); err != nil {
		t.Fatal(err)
	}
	build := func(binary string) (v1.Hash, outputs) {
		t.Helper()
		img, err := newImage(spec{binary: binary, caBundle: caBundlePath, created: testCreated, version: "v1.15.0-failover.0"})
		if err != nil {
			t.Fatal(err)
		}
		o := outputsIn(t.TempDir())
		if err := writeOutputs(img, ref, o); err != nil {
			t.Fatal(err)
		}
		digest, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return digest, o
	}
	d1, o1 := build(first)
	d2, o2 := build(second)
	if d1 != d2 {
		t.Fatalf("two builds of the same source: digests %s and %s", d1, d2)
	}
	for _, name := range []string{"index.json", "oci-layout"} {
		sameFile(t, filepath.Join(o1.layout, name), filepath.Join(o2.layout, name))
	}
	sameFile(t, o1.archive, o2.archive)

	later, err := newImage(spec{binary: first, caBundle: caBundlePath, created: testCreated.Add(1e9), version: "v1.15.0-failover.0"})
	if err != nil {
		t.Fatal(err)
	}
	if d3, err := later.Digest(); err != nil || d3 == d1 {
		t.Fatalf("another timestamp: digest %s (error %v), want other than %s", d3, err, d1)
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
