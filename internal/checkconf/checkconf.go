// Package checkconf checks a Corefile the way CoreDNS with every plugin of
// our build (package plugin) reads it at startup, without starting it: no port
// is bound and no endpoint is probed.
//
// It runs what CoreDNS runs before its startup hooks: the Corefile is parsed
// (imports relative to the file's directory), every plugin's setup runs, and
// the servers are made (a zone defined twice on one listener is refused).
// Then failover's own startup check runs: a name a more specific server block
// takes. The startup hooks themselves do not run, since they listen and probe:
// a port already in use, an endpoint that does not answer, a file the plugins
// read only once started are not checked. Files the plugins read in setup (zone files,
// certificates) are looked for relative to the working directory, as CoreDNS
// does: check from the directory CoreDNS runs in.
package checkconf

import (
	"errors"
	"fmt"
	"strings"

	"github.com/coredns/caddy"
	"k8s.io/client-go/rest"

	"github.com/failover-dns/failover"
	_ "github.com/failover-dns/failover/plugin" // every plugin of our build, failover in the directive order
)

const serverType = "dns"

// Check checks corefile, read from the file at path, as CoreDNS would read it
// from path at startup. The error names path; also the line, where the plugin
// that refused corefile tells it.
func Check(path string, corefile []byte) error {
	if err := check(path, corefile); err != nil {
		if errors.Is(err, rest.ErrNotInCluster) {
			// Refused where it runs, not for what it says: a CI job is not a pod.
			err = fmt.Errorf("%w (kubernetes reads its in-cluster credentials in its setup: check in a pod of the cluster, or give the plugin an endpoint or a kubeconfig)", err)
		}
		if msg := err.Error(); !strings.Contains(msg, path) {
			return fmt.Errorf("%s: %w", path, err)
		}
		return err
	}
	return nil
}

func check(path string, corefile []byte) error {
	inst, c, err := newInstance()
	if err != nil {
		return err
	}
	input := caddy.CaddyfileInput{Filepath: path, Contents: corefile, ServerTypeName: serverType}
	// As caddy.Start does, up to the startup hooks: not justValidate, which
	// skips the parsing callbacks and never makes the servers.
	if err := caddy.ValidateAndExecuteDirectives(input, inst, false); err != nil {
		return err
	}
	// Makes the servers without listening: CoreDNS's checks across server blocks.
	if _, err := c.Context().MakeServers(); err != nil {
		return err
	}
	return failover.CheckStartup(c)
}
