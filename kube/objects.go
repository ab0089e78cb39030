package kube

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// clusterIPs are the addresses of a Service's spec: clusterIPs, or the older
// clusterIP alone when a server left clusterIPs empty; without "None"
// (headless) and anything that is not an address.
func clusterIPs(spec *corev1.ServiceSpec) []netip.Addr {
	raw := spec.ClusterIPs
	if len(raw) == 0 && spec.ClusterIP != "" {
		raw = []string{spec.ClusterIP}
	}
	var ips []netip.Addr
	for _, s := range raw {
		ip, err := netip.ParseAddr(s)
		if err != nil || ip.Zone() != "" || slices.Contains(ips, ip.Unmap()) {
			continue // "None" among them
		}
		ips = append(ips, ip.Unmap())
	}
	return ips
}

// serving is the verdict of an endpoint's conditions: serving when set, or
// else ready, where unset means ready (the API's meaning of a nil ready);
// never while terminating. A terminating endpoint that still serves keeps its
// open connections, but new ones belong elsewhere: DNS answers start new ones.
func serving(c discoveryv1.EndpointConditions) bool {
	if c.Terminating != nil && *c.Terminating {
		return false
	}
	if c.Serving != nil {
		return *c.Serving
	}
	return c.Ready == nil || *c.Ready
}

// sliceEndpoints are the endpoints of one EndpointSlice. Only IPv4 and IPv6
// slices count (FQDN slices name no address), and of each endpoint only its
// first address: the API defines no meaning for the others, and kube-proxy
// ignores them too.
func sliceEndpoints(s *discoveryv1.EndpointSlice) []Endpoint {
	var want func(netip.Addr) bool
	switch s.AddressType {
	case discoveryv1.AddressTypeIPv4:
		want = netip.Addr.Is4
	case discoveryv1.AddressTypeIPv6:
		want = netip.Addr.Is6
	default:
		return nil
	}
	var eps []Endpoint
	for _, ep := range s.Endpoints {
		if len(ep.Addresses) == 0 {
			continue
		}
		addr, err := netip.ParseAddr(ep.Addresses[0])
		if err != nil || addr.Zone() != "" || !want(addr.Unmap()) {
			continue
		}
		eps = append(eps, Endpoint{Addr: addr.Unmap(), Serving: serving(ep.Conditions)})
	}
	return eps
}

// mergeEndpoints joins the endpoints of every slice of a Service: each
// address once, serving if any of its entries serves (an endpoint moving
// between slices shows in both for a moment), sorted by address.
func mergeEndpoints(bySlice map[string][]Endpoint) []Endpoint {
	serves := map[netip.Addr]bool{}
	for _, eps := range bySlice {
		for _, e := range eps {
			serves[e.Addr] = serves[e.Addr] || e.Serving
		}
	}
	if len(serves) == 0 {
		return nil
	}
	merged := make([]Endpoint, 0, len(serves))
	for addr, s := range serves {
		merged = append(merged, Endpoint{Addr: addr, Serving: s})
	}
	slices.SortFunc(merged, func(a, b Endpoint) int { return a.Addr.Compare(b.Addr) })
	return merged
}
