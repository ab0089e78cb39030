package fleet

import (
	"fmt"
	"hash/fnv"
	"slices"
	"testing"
)

func TestScoreIsFNV1a64Mixed(t *testing.T) {
	h := fnv.New64a()
	h.Write([]byte("127.0.31.1:80 (http://:80/)\x00replica-0"))
	if got := score("127.0.31.1:80 (http://:80/)", "replica-0"); got != fmix64(h.Sum64()) {
		t.Errorf("score %x, want fmix64(%x)", got, h.Sum64())
	}
}

// inTop agrees with top, and the assignment spreads: with 5 replicas and 3
// probers each replica probes about 3/5 of the endpoints, and removing a
// replica moves only the endpoints it probed. (Identities that differ only
// in their last character, as a StatefulSet's, ranked badly with FNV-1a alone:
// see score.)
func TestRendezvous(t *testing.T) {
	live := []string{"replica-0", "replica-1", "replica-2", "replica-3", "replica-4"}
	const endpoints, k = 5000, 3
	probes, firsts := map[string]int{}, map[string]int{}
	for i := range endpoints {
		id := fmt.Sprintf("10.1.%d.%d:80 (http://:80/)", i/256, i%256)
		first := top(id, live, k)
		if len(first) != k {
			t.Fatalf("top %d of %d: %v", k, len(live), first)
		}
		for _, r := range live {
			if got, want := inTop(rankPrefix(id), r, live, k), slices.Contains(first, r); got != want {
				t.Fatalf("%s, %s: inTop %v, top %v", id, r, got, first)
			}
		}
		for _, r := range first {
			probes[r]++
		}
		firsts[first[0]]++
		without := slices.DeleteFunc(slices.Clone(live), func(r string) bool { return r == "replica-2" })
		after := top(id, without, k)
		kept := 0
		for _, r := range first {
			if slices.Contains(after, r) {
				kept++
			}
		}
		if want := k - boolToInt(slices.Contains(first, "replica-2")); kept != want {
			t.Fatalf("%s: probers %v became %v without replica-2", id, first, after)
		}
	}
	for _, r := range live {
		share := float64(probes[r]) / endpoints
		if share < 0.55 || share > 0.65 {
			t.Errorf("%s probes %.2f of the endpoints, want about 3/5", r, share)
		}
		if share := float64(firsts[r]) / endpoints; share < 0.17 || share > 0.23 {
			t.Errorf("%s ranks first for %.2f of the endpoints, want about 1/5", r, share)
		}
	}
	if got := top("x", []string{"only"}, 3); !slices.Equal(got, []string{"only"}) {
		t.Errorf("top 3 of one replica: %v", got)
	}
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestQuorum(t *testing.T) {
	for _, c := range []struct {
		up, down, quorum int
		healthy          bool
	}{
		{2, 1, 50, true}, {1, 2, 50, false}, {1, 1, 50, true}, {0, 1, 50, false}, {1, 0, 50, true},
		{3, 1, 0, false}, {1, 3, 75, true}, {1, 4, 75, false}, {2, 3, 60, true},
	} {
		tl := tally{c.up, c.down}
		if got := tl.healthy(c.quorum); got != c.healthy {
			t.Errorf("%d up, %d down, quorum %d%%: healthy %v, want %v (%s)", c.up, c.down, c.quorum, got, c.healthy, tl.why(got))
		}
	}
	if why := (tally{1, 2}).why(false); why != "2 of 3 replicas see it down" {
		t.Errorf("why: %q", why)
	}
}
