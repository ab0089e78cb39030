package fleet

import (
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"testing"
)

func TestIDHashIsFNV1a64(t *testing.T) {
	for _, id := range []string{"", "127.0.31.1:80 (http://:80/)", "10.0.0.1 (tcp://:443) #0badf00d"} {
		h := fnv.New64a()
		h.Write([]byte(id))
		if got, want := idHash(id), h.Sum64(); got != want {
			t.Errorf("idHash(%q) = %x, want FNV-1a-64 %x", id, got, want)
		}
	}
}

func TestObservationsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var obs []observation
	for i := range 1000 {
		obs = append(obs, observation{idHash(fmt.Sprintf("10.0.%d.%d:80 (http://:80/)", i/256, i%256)), r.IntN(2) == 0})
	}
	want := map[uint64]bool{}
	for _, o := range obs {
		want[o.hash] = o.up
	}
	value := encodeObservations(obs)
	if raw, _ := base64.StdEncoding.DecodeString(value); len(raw) != 9*len(want) {
		t.Fatalf("%d bytes for %d observations, want 9 each", len(raw), len(want))
	}
	got, err := decodeObservations(value)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d observations decoded, want %d", len(got), len(want))
	}
	for h, up := range want {
		if gotUp, ok := find(got, h); !ok || gotUp != up {
			t.Errorf("observation %x: %v, %v; want %v", h, gotUp, ok, up)
		}
	}
	if _, ok := find(got, 42); ok {
		t.Error("found an observation never encoded")
	}
	if got, err := decodeObservations(""); err != nil || len(got) != 0 {
		t.Errorf("empty annotation: %v, %v; want no observation", got, err)
	}
}

// One hash and state byte each, big-endian, sorted: the format other
// versions of the plugin read.
func TestObservationsFormat(t *testing.T) {
	value := encodeObservations([]observation{{0x0200000000000001, false}, {0x0100000000000002, true}})
	want := base64.StdEncoding.EncodeToString([]byte{1, 0, 0, 0, 0, 0, 0, 2, 1, 2, 0, 0, 0, 0, 0, 0, 1, 0})
	if value != want {
		t.Errorf("encoded %s, want %s", value, want)
	}
}

func TestObservationsRefused(t *testing.T) {
	enc := base64.StdEncoding.EncodeToString
	for what, value := range map[string]string{
		"not base64":    "!!",
		"short":         enc([]byte{1, 2, 3}),
		"unknown state": enc([]byte{0, 0, 0, 0, 0, 0, 0, 1, 7}),
		"unsorted":      enc([]byte{0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1}),
		"duplicate":     enc([]byte{0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0}),
	} {
		if _, err := decodeObservations(value); err == nil {
			t.Errorf("%s: decoded, want an error", what)
		}
	}
}
