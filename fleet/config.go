package fleet

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/failover-dns/failover/kube"
)

// Defaults of the Corefile's probers and quorum.
const (
	DefaultProbers = 3  // each endpoint is probed by 3 live replicas
	DefaultQuorum  = 50 // down when more than half of the fresh observations say down
)

// What marks a Lease as a replica's of a group, and carries its observations.
const (
	LabelGroup             = "failover.coredns.io/fleet"
	AnnotationObservations = "failover.coredns.io/observations"
)

// EnvPodName names the replica, as the downward API sets it; the hostname
// otherwise.
const EnvPodName = "POD_NAME"

// Config is one block's fleet: the group it joins, where its Leases live, and
// how the group probes and decides. Blocks naming the same group share one
// publication; the configuration of the newest block in the process decides
// probers and quorum.
type Config struct {
	Namespace, Group string
	Source           kube.Source // where the Leases are read and written
	Probers          int         // live replicas probing each endpoint
	Quorum           int         // percent of the fresh observations that must say down, exceeded, for down
}

// String names the group as logs, metrics and the status page do:
// NAMESPACE/GROUP.
func (c Config) String() string { return c.Namespace + "/" + c.Group }

// Check reports, at setup, why c can never work, or nil. It makes no
// connection, and does not check the Source: setup checks it as it checks
// every kubeconfig.
func (c Config) Check() error {
	if errs := validation.IsDNS1123Label(c.Namespace); len(errs) > 0 {
		return fmt.Errorf("fleet namespace %q: %s", c.Namespace, strings.Join(errs, "; "))
	}
	// A label value, and the start of a Lease name: a DNS-1123 label is both.
	if errs := validation.IsDNS1123Label(c.Group); len(errs) > 0 {
		return fmt.Errorf("fleet group %q: %s", c.Group, strings.Join(errs, "; "))
	}
	if c.Probers < 1 {
		return fmt.Errorf("probers %d: at least one replica must probe each endpoint", c.Probers)
	}
	if c.Quorum < 0 || c.Quorum >= 100 {
		return fmt.Errorf("quorum %d%%: must be at least 0%% and less than 100%%", c.Quorum)
	}
	id, err := Identity()
	if err != nil {
		return err
	}
	return checkLeaseName(c.Group, id)
}

// Identity names this replica in its group: $POD_NAME, else the hostname,
// lower-cased.
func Identity() (string, error) {
	name := os.Getenv(EnvPodName)
	if name == "" {
		host, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("replica identity: %s is unset and the hostname unknown: %w", EnvPodName, err)
		}
		name = host
	}
	if name == "" {
		return "", errors.New("replica identity: " + EnvPodName + " and the hostname are empty")
	}
	return strings.ToLower(name), nil
}

// leaseName is the name of the Lease of identity in group.
func leaseName(group, identity string) string { return group + "-" + identity }

// checkLeaseName says why the Lease of identity in group cannot be named, or
// nil: Lease names are DNS-1123 subdomains of at most 253 characters.
func checkLeaseName(group, identity string) error {
	name := leaseName(group, identity)
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("Lease name %q (GROUP-IDENTITY, the identity from %s or the hostname) is not a DNS-1123 subdomain: %s",
			name, EnvPodName, strings.Join(errs, "; "))
	}
	return nil
}
