package fleet

import (
	"errors"

	"github.com/failover-dns/failover/healthcheck"
	"github.com/failover-dns/failover/kube"
)

type Config struct {
	Namespace, Group string
	Source           kube.Source
	Probers, Quorum  int
}

func (c Config) Check() error {
	if c.Probers < 1 {
		return errors.New("probers")
	}
	for _, r := range c.Namespace + c.Group {
		if !(r >= 'a' && r <= 'z' || r == '-' || r >= '0' && r <= '9') {
			return errors.New("bad name")
		}
	}
	return nil
}

type Membership struct{}
type GroupStatus struct{}
type EndpointStatus struct{}

func Join(c Config, eps []*healthcheck.Endpoint) *Membership          { return &Membership{} }
func (m *Membership) Leave()                                          {}
func (m *Membership) Status() GroupStatus                             { return GroupStatus{} }
func (m *Membership) Endpoint(e *healthcheck.Endpoint) EndpointStatus { return EndpointStatus{} }
