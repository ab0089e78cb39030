package kube

import (
	"net/netip"
	"slices"
)

// State is what is known of one Service. A State is never changed once
// published: Subscription.State hands out the same value to every reader, so
// its slices are read-only.
type State struct {
	// Synced: the first list of the Service and of its EndpointSlices has
	// completed. CoreDNS is not ready before.
	Synced bool
	// Found: the Service exists. When it does not (or its namespace does
	// not), the pool is empty; this package warns once per Ref.
	Found bool
	// ClusterIPs are spec.clusterIPs without "None" (headless), both
	// families, in the Service's order (its primary family first).
	ClusterIPs []netip.Addr
	// Endpoints are the addresses of every EndpointSlice of the Service,
	// IPv4 and IPv6 slices, each address once, sorted.
	Endpoints []Endpoint
}

// Endpoint is one address of a Service's EndpointSlices.
type Endpoint struct {
	Addr netip.Addr
	// Serving: conditions.serving, or ready when serving is unset; never
	// when terminating is true. Unset ready counts as ready, the API's
	// meaning. An address listed more than once serves if any entry does.
	Serving bool
}

// ServingCount is the number of endpoints that serve.
func (st *State) ServingCount() int {
	n := 0
	for _, e := range st.Endpoints {
		if e.Serving {
			n++
		}
	}
	return n
}

// equal reports whether st and other say the same: a watch publishes a new
// State, and wakes its subscribers, only when it changed.
func (st *State) equal(other *State) bool {
	return st.Synced == other.Synced && st.Found == other.Found &&
		slices.Equal(st.ClusterIPs, other.ClusterIPs) && slices.Equal(st.Endpoints, other.Endpoints)
}
