package k8stest

import (
	"context"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// requestTimeout bounds one request of the object helpers.
const requestTimeout = 30 * time.Second

var getOptions = metav1.GetOptions{}

// ServicePort is the port of the Services and EndpointSlices the helpers
// make, named "http".
const ServicePort = 80

// Namespace creates the namespace name, unless it exists.
func (c *Cluster) Namespace(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// Service creates a ClusterIP Service namespace/name without a selector
// (its EndpointSlices are the test's to make), port 80 named "http". With
// no clusterIPs, the API server allocates one IPv4 address from
// ServiceCIDRv4; with two (IPv4 and IPv6), the Service is dual-stack.
func (c *Cluster) Service(t testing.TB, namespace, name string, clusterIPs ...string) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP,
			Ports: []corev1.ServicePort{{
				Name: "http", Protocol: corev1.ProtocolTCP,
				Port: ServicePort, TargetPort: intstr.FromInt32(ServicePort),
			}},
		},
	}
	if len(clusterIPs) > 0 {
		svc.Spec.ClusterIP = clusterIPs[0]
		svc.Spec.ClusterIPs = clusterIPs
	}
	if len(clusterIPs) > 1 {
		policy := corev1.IPFamilyPolicyRequireDualStack
		svc.Spec.IPFamilyPolicy = &policy
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if _, err := c.Client.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Service %s/%s: %v", namespace, name, err)
	}
}

// Endpoint is one endpoint of an EndpointSlice. A nil condition is unset,
// which EndpointSlice consumers read differently from false (ready unset
// means ready; serving unset means as ready). The API server refuses
// loopback and link-local addresses: an endpoint a test listens on takes an
// address of PodNetwork, in a test that runs through RunInPodNetwork.
type Endpoint struct {
	Addr                        string
	Ready, Serving, Terminating *bool
}

// Bool returns a pointer to b, for Endpoint's conditions.
func Bool(b bool) *bool { return &b }

// EndpointSlice creates the EndpointSlice namespace/slice of Service
// service (label kubernetes.io/service-name), or replaces its endpoints when
// it exists. Its address type is that of the first endpoint (IPv4 when
// there is none); its port is 80, named "http", as the Service's.
func (c *Cluster) EndpointSlice(t testing.TB, namespace, service, slice string, eps ...Endpoint) {
	t.Helper()
	want := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      slice,
			Namespace: namespace,
			Labels: map[string]string{
				discoveryv1.LabelServiceName: service,
				// As the EndpointSlice controller marks the slices it owns;
				// here, whoever applies them (a test).
				discoveryv1.LabelManagedBy: "k8stest",
			},
		},
		AddressType: addressType(t, eps),
		Ports: []discoveryv1.EndpointPort{{
			Name: ptr("http"), Protocol: ptr(corev1.ProtocolTCP), Port: ptr(int32(ServicePort)),
		}},
	}
	for _, ep := range eps {
		want.Endpoints = append(want.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{ep.Addr},
			Conditions: discoveryv1.EndpointConditions{
				Ready: ep.Ready, Serving: ep.Serving, Terminating: ep.Terminating,
			},
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	slices := c.Client.DiscoveryV1().EndpointSlices(namespace)
	have, err := slices.Get(ctx, slice, getOptions)
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, want, metav1.CreateOptions{})
	case err != nil:
	case have.AddressType != want.AddressType:
		// The address type of a slice is immutable: a new one replaces it,
		// as the controller would do.
		if err = slices.Delete(ctx, slice, metav1.DeleteOptions{}); err == nil {
			_, err = slices.Create(ctx, want, metav1.CreateOptions{})
		}
	default:
		want.ResourceVersion = have.ResourceVersion
		_, err = slices.Update(ctx, want, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatalf("writing EndpointSlice %s/%s: %v", namespace, slice, err)
	}
}

// DeleteEndpointSlice deletes the EndpointSlice namespace/slice.
func (c *Cluster) DeleteEndpointSlice(t testing.TB, namespace, slice string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if err := c.Client.DiscoveryV1().EndpointSlices(namespace).Delete(ctx, slice, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting EndpointSlice %s/%s: %v", namespace, slice, err)
	}
}

// addressType is the address type of a slice of eps: that of the first.
func addressType(t testing.TB, eps []Endpoint) discoveryv1.AddressType {
	t.Helper()
	if len(eps) == 0 {
		return discoveryv1.AddressTypeIPv4
	}
	addr, err := netip.ParseAddr(eps[0].Addr)
	if err != nil {
		t.Fatalf("endpoint address %q: %v", eps[0].Addr, err)
	}
	if addr.Unmap().Is4() {
		return discoveryv1.AddressTypeIPv4
	}
	return discoveryv1.AddressTypeIPv6
}

func ptr[T any](v T) *T { return &v }
