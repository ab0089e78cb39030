package fleet

import "slices"

// Rendezvous (highest random weight) hashing assigns each endpoint to the
// live replicas ranked first by the score of ID + "\x00" + identity: every
// replica that sees the same live set ranks the same way without talking to
// the others, and a replica that comes or goes moves only the endpoints it
// ranks first for, about K/N of them.
//
// The score is FNV-1a-64 with the finalizer of MurmurHash3 over it. FNV-1a
// alone ranks badly: identities that differ in their last characters
// (replica-0, replica-1...) differ only in the low bits of the hash after the
// last multiplication, so the order of their scores follows the endpoint's
// prefix, not the identity; with five replicas one of them ranked first for
// half of the endpoints. The finalizer spreads every bit over all of them.

// score is the rank of identity for the endpoint id: higher first.
func score(id, identity string) uint64 { return scoreAfter(rankPrefix(id), identity) }

// rankPrefix is the hash of id and its separator, computed once per endpoint.
func rankPrefix(id string) uint64 { return fnv1a(fnv1a(fnvOffset64, id), "\x00") }

// scoreAfter is the score of identity for the endpoint of prefix.
func scoreAfter(prefix uint64, identity string) uint64 { return fmix64(fnv1a(prefix, identity)) }

// fmix64 is MurmurHash3's 64-bit finalizer: a bijection in which every input
// bit flips each output bit with a probability close to one half.
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// ranksBefore orders two identities for id: the higher score first, the
// smaller identity first when their scores are equal.
func ranksBefore(sa, sb uint64, a, b string) bool {
	if sa != sb {
		return sa > sb
	}
	return a < b
}

// inTop reports whether self is among the k of live (which holds self)
// ranked first for the endpoint whose rankPrefix is prefix. It allocates
// nothing: it runs for every endpoint at every change of the live set.
func inTop(prefix uint64, self string, live []string, k int) bool {
	mine := scoreAfter(prefix, self)
	before := 0
	for _, other := range live {
		if other == self {
			continue
		}
		if ranksBefore(scoreAfter(prefix, other), mine, other, self) {
			if before++; before >= k {
				return false
			}
		}
	}
	return true
}

// top returns the k of live ranked first for id, first first.
func top(id string, live []string, k int) []string {
	type ranked struct {
		identity string
		score    uint64
	}
	rs := make([]ranked, len(live))
	for i, identity := range live {
		rs[i] = ranked{identity, score(id, identity)}
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		switch {
		case ranksBefore(a.score, b.score, a.identity, b.identity):
			return -1
		case ranksBefore(b.score, a.score, b.identity, a.identity):
			return 1
		}
		return 0
	})
	out := make([]string, 0, min(k, len(rs)))
	for _, r := range rs[:min(k, len(rs))] {
		out = append(out, r.identity)
	}
	return out
}
