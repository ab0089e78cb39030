// Package kube: a stand-in for the API of helper kube's package, removed on merge.
package kube

import (
	"errors"
	"net/netip"
	"time"
)

type Source struct{ Kubeconfig, Context string }

func (s Source) String() string {
	if s.Kubeconfig == "" {
		return "in-cluster"
	}
	return s.Kubeconfig
}
func (s Source) Check() error { return nil }

type Ref struct {
	Source          Source
	Namespace, Name string
}

type Subscription struct{ st State }

func Watch(ref Ref, onChange func()) (*Subscription, error) { return nil, errors.New("stub") }
func (s *Subscription) State() *State                       { return &s.st }
func (s *Subscription) Close()                              {}
func (s *Subscription) Source() SourceStatus                { return SourceStatus{} }

type State struct {
	Synced     bool
	Found      bool
	ClusterIPs []netip.Addr
	Endpoints  []Endpoint
}
type Endpoint struct {
	Addr    netip.Addr
	Serving bool
}

func (st *State) ServingCount() int {
	n := 0
	for _, e := range st.Endpoints {
		if e.Serving {
			n++
		}
	}
	return n
}

type SourceStatus struct {
	Up    bool
	Since time.Time
	Err   string
}
