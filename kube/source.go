// Package kube reads Kubernetes Services for the failover plugin: the cluster
// IPs of a Service and the endpoints of its EndpointSlices, kept current by
// one watch per Service shared by every block and instance that names it.
package kube

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Source is where Services are read: a kubeconfig file and optional context,
// or, with Kubeconfig "", the in-cluster configuration.
type Source struct{ Kubeconfig, Context string }

// String names s for logs, metrics and the status page.
func (s Source) String() string {
	switch {
	case s.Kubeconfig == "":
		return "in-cluster"
	case s.Context == "":
		return s.Kubeconfig
	default:
		return s.Kubeconfig + " (context " + s.Context + ")"
	}
}

// Check reports, at setup, why s can never work, or nil. It reads the
// kubeconfig file but makes no connection: an API server that is down at
// setup is an outage to ride out, not a configuration error.
func (s Source) Check() error {
	if s.Kubeconfig == "" {
		return checkInCluster()
	}
	_, err := s.restConfig()
	return err
}

// RESTConfig is the client configuration of s, for other packages that talk
// to the same API server (package fleet writes Leases through it).
func (s Source) RESTConfig() (*rest.Config, error) { return s.restConfig() }

// The variables a kubelet sets in every container; rest.InClusterConfig needs
// both.
const (
	envServiceHost = "KUBERNETES_SERVICE_HOST"
	envServicePort = "KUBERNETES_SERVICE_PORT"
)

func checkInCluster() error {
	if os.Getenv(envServiceHost) == "" || os.Getenv(envServicePort) == "" {
		return fmt.Errorf("not running in a Kubernetes cluster (%s and %s are unset): "+
			"give a kubeconfig FILE to read Services from outside one", envServiceHost, envServicePort)
	}
	return nil
}

// restConfig is the client configuration of s. A kubeconfig is read as
// kubectl reads it: relative paths inside it are relative to the file. Unlike
// the deferred loading of the kubernetes plugin, an empty kubeconfig is an
// error here, not a silent fall back to in-cluster.
func (s Source) restConfig() (*rest.Config, error) {
	if s.Kubeconfig == "" {
		if err := checkInCluster(); err != nil {
			return nil, err
		}
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster configuration: %w", err)
		}
		return withClientDefaults(cfg), nil
	}
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: s.Kubeconfig}
	raw, err := rules.Load()
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("kubeconfig %s: no such file", s.Kubeconfig)
	}
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", s.Kubeconfig, err)
	}
	if clientcmdapi.IsConfigEmpty(raw) {
		return nil, fmt.Errorf("kubeconfig %s: not a kubeconfig: no cluster, user or context in it", s.Kubeconfig)
	}
	if s.Context != "" {
		if _, ok := raw.Contexts[s.Context]; !ok {
			return nil, fmt.Errorf("kubeconfig %s: no context %q", s.Kubeconfig, s.Context)
		}
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, s.Context, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", s.Kubeconfig, err)
	}
	return withClientDefaults(cfg), nil
}

// withClientDefaults asks for protobuf, as the kubernetes plugin does, and
// names us to the API server's audit log.
func withClientDefaults(cfg *rest.Config) *rest.Config {
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cfg.UserAgent = "coredns-failover"
	return cfg
}
