package kube

import (
	"fmt"
	"net/http"

	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	discoveryv1client "k8s.io/client-go/kubernetes/typed/discovery/v1"
	"k8s.io/client-go/rest"
)

// client is the connection to the API server of one Source, shared by every
// watch of its Services.
type client struct {
	source    Source
	refs      int // watches; guarded by the registry's lock
	http      *http.Client
	core      corev1client.CoreV1Interface
	discovery discoveryv1client.DiscoveryV1Interface
	health    *health
}

// newClient makes the client of s; it connects on its first call.
func newClient(s Source) (*client, error) {
	cfg, err := s.restConfig()
	if err != nil {
		return nil, err
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	core, err := corev1client.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	discovery, err := discoveryv1client.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	return &client{source: s, http: hc, core: core, discovery: discovery, health: newHealth(s)}, nil
}

// close lets go of the connections of a client no watch uses any more.
func (c *client) close() {
	c.http.CloseIdleConnections()
	c.health.close()
}
