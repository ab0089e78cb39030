package kube

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// serviceStore takes what a reflector lists and watches of the Service (at
// most the one object its field selector lets through) and keeps, in the
// watch, only what State needs: whether it exists, its cluster IPs.
type serviceStore struct{ w *serviceWatch }

func (s serviceStore) Add(obj any) error    { return s.set(obj) }
func (s serviceStore) Update(obj any) error { return s.set(obj) }
func (s serviceStore) Resync() error        { return nil }

func (s serviceStore) set(obj any) error {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return fmt.Errorf("not a Service: %T", obj)
	}
	if svc.Name != s.w.ref.Name {
		return nil
	}
	s.w.change(func() { s.w.found, s.w.clusterIPs = true, clusterIPs(&svc.Spec) })
	return nil
}

func (s serviceStore) Delete(obj any) error {
	if svc, ok := obj.(*corev1.Service); ok && svc.Name != s.w.ref.Name {
		return nil
	}
	s.w.change(func() { s.w.found, s.w.clusterIPs = false, nil })
	return nil
}

// Replace is the result of a list: the first one, or a relist after the
// watch could not resume (an API server that was away). Objects missing from
// it were deleted meanwhile.
func (s serviceStore) Replace(objs []any, _ string) error {
	var svc *corev1.Service
	for _, obj := range objs {
		if o, ok := obj.(*corev1.Service); ok && o.Name == s.w.ref.Name {
			svc = o
		}
	}
	s.w.change(func() {
		s.w.found, s.w.clusterIPs, s.w.serviceSynced = svc != nil, nil, true
		if svc != nil {
			s.w.clusterIPs = clusterIPs(&svc.Spec)
		}
	})
	return nil
}

// sliceStore takes what a reflector lists and watches of the Service's
// EndpointSlices and keeps, in the watch, the endpoints of each by name.
type sliceStore struct{ w *serviceWatch }

func (s sliceStore) Add(obj any) error    { return s.set(obj) }
func (s sliceStore) Update(obj any) error { return s.set(obj) }
func (s sliceStore) Resync() error        { return nil }

func (s sliceStore) set(obj any) error {
	slice, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return fmt.Errorf("not an EndpointSlice: %T", obj)
	}
	eps := sliceEndpoints(slice)
	s.w.change(func() { s.w.slices[slice.Name] = eps })
	return nil
}

func (s sliceStore) Delete(obj any) error {
	slice, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return fmt.Errorf("not an EndpointSlice: %T", obj)
	}
	s.w.change(func() { delete(s.w.slices, slice.Name) })
	return nil
}

func (s sliceStore) Replace(objs []any, _ string) error {
	bySlice := make(map[string][]Endpoint, len(objs))
	for _, obj := range objs {
		if slice, ok := obj.(*discoveryv1.EndpointSlice); ok {
			bySlice[slice.Name] = sliceEndpoints(slice)
		}
	}
	s.w.change(func() { s.w.slices, s.w.slicesSynced = bySlice, true })
	return nil
}
