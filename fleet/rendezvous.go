package fleet

import "slices"

// Rendezvous (highest random weight) hashing assigns each endpoint to the
// live replicas ranked first by FNV-1a-64(ID + "\x00" + identity): every
// replica that sees the same live set ranks the same way without talking to
// the others, and a replica that comes or goes moves only the endpoints it
// ranks first for, about 1/N of them.

// score is the rank of identity for the endpoint id: higher first.
func score(id, identity string) uint64 {
	return fnv1a(fnv1a(fnv1a(fnvOffset64, id), "\x00"), identity)
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
// ranked first for id. It allocates nothing: it runs for every endpoint at
// every change of the live set.
func inTop(id, self string, live []string, k int) bool {
	mine := score(id, self)
	before := 0
	for _, other := range live {
		if other == self {
			continue
		}
		if ranksBefore(score(id, other), mine, other, self) {
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
