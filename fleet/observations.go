package fleet

import (
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
)

// An observation is one replica's local verdict of one endpoint, as its
// Lease carries it: the endpoint by the FNV-1a-64 hash of its ID, so that
// the annotation stays small (9 bytes an endpoint, 12 in base64: 10,000
// endpoints take 120,000 characters, under the 256 KiB that Kubernetes
// allows an object's annotations).
type observation struct {
	hash uint64
	up   bool
}

// The state byte of an observation.
const (
	stateDown byte = 0
	stateUp   byte = 1
)

const observationSize = 8 + 1

// FNV-1a, 64 bits, computed over strings without allocating.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func fnv1a(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

// idHash is the hash that names the endpoint id in observations.
func idHash(id string) uint64 { return fnv1a(fnvOffset64, id) }

// encodeObservations is the annotation that carries obs: base64 of each
// hash, big-endian, and its state byte, sorted by hash. obs is sorted in
// place; of two observations with the same hash, the first is kept.
func encodeObservations(obs []observation) string {
	slices.SortStableFunc(obs, func(a, b observation) int { return cmp.Compare(a.hash, b.hash) })
	buf := make([]byte, 0, len(obs)*observationSize)
	for i, o := range obs {
		if i > 0 && obs[i-1].hash == o.hash {
			continue
		}
		buf = binary.BigEndian.AppendUint64(buf, o.hash)
		state := stateDown
		if o.up {
			state = stateUp
		}
		buf = append(buf, state)
	}
	return base64.StdEncoding.EncodeToString(buf)
}

// decodeObservations reads an annotation that encodeObservations wrote. It
// refuses anything else whole: observations of a replica that cannot be read
// must not be half counted.
func decodeObservations(s string) ([]observation, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	if len(raw)%observationSize != 0 {
		return nil, fmt.Errorf("%d bytes, not a multiple of %d", len(raw), observationSize)
	}
	obs := make([]observation, 0, len(raw)/observationSize)
	for off := 0; off < len(raw); off += observationSize {
		o := observation{hash: binary.BigEndian.Uint64(raw[off:])}
		switch raw[off+8] {
		case stateUp:
			o.up = true
		case stateDown:
		default:
			return nil, fmt.Errorf("unknown state %d at byte %d", raw[off+8], off+8)
		}
		if n := len(obs); n > 0 && obs[n-1].hash >= o.hash {
			return nil, fmt.Errorf("not sorted at byte %d", off)
		}
		obs = append(obs, o)
	}
	return obs, nil
}

// find returns the observation of the endpoint whose ID hashes to h, in obs
// sorted by hash.
func find(obs []observation, h uint64) (up, ok bool) {
	i, ok := slices.BinarySearchFunc(obs, h, func(o observation, h uint64) int { return cmp.Compare(o.hash, h) })
	if !ok {
		return false, false
	}
	return obs[i].up, true
}
