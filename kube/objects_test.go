package kube

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func ptr(b bool) *bool { return &b }

func TestServing(t *testing.T) {
	for _, tc := range []struct {
		name                        string
		ready, serving, terminating *bool
		want                        bool
	}{
		{"all unset: ready, the API's meaning", nil, nil, nil, true},
		{"ready", ptr(true), nil, nil, true},
		{"not ready, serving unset", ptr(false), nil, nil, false},
		{"serving wins over ready", ptr(false), ptr(true), nil, true},
		{"not serving though ready", ptr(true), ptr(false), nil, false},
		{"terminating, still serving", ptr(false), ptr(true), ptr(true), false},
		{"terminating, ready", ptr(true), nil, ptr(true), false},
		{"terminating false", nil, ptr(true), ptr(false), true},
	} {
		c := discoveryv1.EndpointConditions{Ready: tc.ready, Serving: tc.serving, Terminating: tc.terminating}
		if got := serving(c); got != tc.want {
			t.Errorf("%s: serving = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestClusterIPs(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec corev1.ServiceSpec
		want []netip.Addr
	}{
		{"dual stack, in the spec's order", corev1.ServiceSpec{ClusterIP: "fd00::1", ClusterIPs: []string{"fd00::1", "10.0.0.1"}}, addrs("fd00::1", "10.0.0.1")},
		{"headless", corev1.ServiceSpec{ClusterIP: "None", ClusterIPs: []string{"None"}}, nil},
		{"clusterIP alone", corev1.ServiceSpec{ClusterIP: "10.0.0.2"}, addrs("10.0.0.2")},
		{"ExternalName", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.org"}, nil},
		{"garbage and duplicates dropped", corev1.ServiceSpec{ClusterIPs: []string{"10.0.0.3", "x", "::ffff:10.0.0.3"}}, addrs("10.0.0.3")},
	} {
		if got := clusterIPs(&tc.spec); !slices.Equal(got, tc.want) {
			t.Errorf("%s: clusterIPs = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSliceEndpoints(t *testing.T) {
	slice := &discoveryv1.EndpointSlice{
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.1.0.1"}},
			{Addresses: []string{"10.1.0.2", "10.1.0.99"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(false)}},
			{Addresses: []string{"fd00::1"}}, // not of the slice's family
			{Addresses: []string{"not-an-ip"}},
			{Addresses: nil},
		},
	}
	want := []Endpoint{{netip.MustParseAddr("10.1.0.1"), true}, {netip.MustParseAddr("10.1.0.2"), false}}
	if got := sliceEndpoints(slice); !slices.Equal(got, want) {
		t.Errorf("IPv4 slice: %v, want %v", got, want)
	}
	fqdn := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeFQDN,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"db.example.org"}}}}
	if got := sliceEndpoints(fqdn); got != nil {
		t.Errorf("FQDN slice: %v, want none", got)
	}
	v6 := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv6,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"fd00::2"}}, {Addresses: []string{"10.1.0.3"}}}}
	if got, want := sliceEndpoints(v6), []Endpoint{{netip.MustParseAddr("fd00::2"), true}}; !slices.Equal(got, want) {
		t.Errorf("IPv6 slice: %v, want %v", got, want)
	}
}

func TestMergeEndpoints(t *testing.T) {
	a, b, c, v6 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.10"), netip.MustParseAddr("fd00::1")
	got := mergeEndpoints(map[string][]Endpoint{
		"web-v6":  {{v6, true}},
		"web-abc": {{c, false}, {a, false}},
		"web-def": {{a, true}, {b, false}}, // a moves between slices: serving in one
	})
	want := []Endpoint{{a, true}, {b, false}, {c, false}, {v6, true}}
	if !slices.Equal(got, want) {
		t.Errorf("merged %v, want %v", got, want)
	}
	if got := mergeEndpoints(map[string][]Endpoint{"empty": nil}); got != nil {
		t.Errorf("no endpoints merged into %v", got)
	}
	st := State{Endpoints: want}
	if n := st.ServingCount(); n != 2 {
		t.Errorf("ServingCount = %d, want 2", n)
	}
}
