package failover

import (
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
)

// A CoreDNS server hands a query to the server block with the most specific
// zone among those on the listener it arrived at. A name a failover block
// governs may thus be taken by a more specific server block of the same
// Corefile on the same transport, address and port: no query for it would
// reach failover, and the Corefile is refused, at start and on reload.
//
// The check runs as the first startup hook of failover in a configuration,
// after CoreDNS has made its servers: only then are the listen addresses
// (bind) and the views (view) of every server block known. It runs before any
// failover instance starts, so a refused configuration has started nothing.

// reachCheck is the check of one configuration: every failover instance in it.
type reachCheck struct {
	instances []reachInstance
}

// reachInstance is the failover instance of one server block.
type reachInstance struct {
	c *caddy.Controller // of its server block: GetConfig reaches the others through it
	f *Failover
}

type reachKey struct{}

// checkReach adds f, the instance of c's server block, to the check of c's
// configuration. The first call registers the check as a startup hook: before
// the hook of any instance, since each instance registers its own after.
func checkReach(c *caddy.Controller, f *Failover) {
	rc, _ := c.Get(reachKey{}).(*reachCheck)
	if rc == nil {
		rc = &reachCheck{}
		c.Set(reachKey{}, rc)
		c.OnStartup(rc.check)
	}
	rc.instances = append(rc.instances, reachInstance{c: c, f: f})
}

func (rc *reachCheck) check() error {
	sites, err := serverSites(rc.instances[0].c)
	if err != nil {
		log.Warningf("cannot see the other server blocks, so names a more specific server block takes are not refused: %v", err)
		return nil
	}
	for _, in := range rc.instances {
		for _, b := range in.f.blocks {
			for _, name := range b.names {
				if taker := takenBy(sites, in.c.ServerBlockIndex, name); taker != nil {
					return plugin.Error(pluginName, errAt(in.c, b.line,
						"name '%s' is taken, on every listener of this server block, by the %s: no query for it would reach this failover block",
						name, taker))
				}
			}
		}
	}
	return nil
}

// site is one key of a server block, as CoreDNS serves it.
type site struct {
	block, key int      // its place in the Corefile: server blocks and keys in order
	zone       string   // lower case, fully qualified
	transport  string   // dns, tls, grpc, https...
	port       string   // as written in the key, or the default of its transport
	listeners  []string // TRANSPORT://IP:PORT, as CoreDNS groups server blocks into servers
	filtered   bool     // by a view: only the queries that pass it
}

func (s *site) String() string {
	return fmt.Sprintf("%s://%s:%s", s.transport, s.zone, s.port)
}

// taker is a site that takes a name from a server block, and why.
type taker struct {
	*site
	sameZone bool // the same zone, without a view, declared before the block's view
}

func (t *taker) String() string {
	if t.sameZone {
		return fmt.Sprintf("server block %s, which has no view and comes first", t.site)
	}
	return fmt.Sprintf("more specific server block %s", t.site)
}

// before reports whether s is tried before o for a query in the same zone:
// CoreDNS tries them in the order of the Corefile.
func (s *site) before(o *site) bool {
	return s.block < o.block || s.block == o.block && s.key < o.key
}

// takenBy returns the site of another server block that takes every query for
// name on each listener where the server block ours would answer it, or nil
// when some query for name reaches ours.
func takenBy(sites []*site, ours int, name string) *taker {
	var first *taker
	for _, l := range listenersOf(sites, ours) {
		var best *site   // ours with the most specific zone here
		var other *taker // of another block, that takes name from best
		for _, s := range sites {
			if s.block == ours && slices.Contains(s.listeners, l) && dns.IsSubDomain(s.zone, name) &&
				(best == nil || dns.CountLabel(s.zone) > dns.CountLabel(best.zone)) {
				best = s
			}
		}
		if best == nil {
			continue // name is outside the zones ours has here
		}
		for _, s := range sites {
			if s.block == ours || s.filtered || !slices.Contains(s.listeners, l) || !dns.IsSubDomain(s.zone, name) {
				continue
			}
			if dns.CountLabel(s.zone) > dns.CountLabel(best.zone) {
				other = &taker{site: s}
				break
			}
			if s.zone == best.zone && s.before(best) {
				other = &taker{site: s, sameZone: true}
				break
			}
		}
		if other == nil {
			return nil // queries arriving here reach ours
		}
		if first == nil {
			first = other
		}
	}
	return first
}

// listenersOf returns the listeners of server block b.
func listenersOf(sites []*site, b int) []string {
	var ls []string
	for _, s := range sites {
		if s.block != b {
			continue
		}
		for _, l := range s.listeners {
			if !slices.Contains(ls, l) {
				ls = append(ls, l)
			}
		}
	}
	return ls
}

// serverSites returns every key of every server block of c's configuration,
// as CoreDNS has made them into servers.
func serverSites(c *caddy.Controller) ([]*site, error) {
	keys, err := configKeys(c)
	if err != nil {
		return nil, err
	}
	sites := make([]*site, 0, len(keys))
	for _, k := range keys {
		other := *c // the same configuration, another server block
		other.ServerBlockIndex, other.ServerBlockKeyIndex = k[0], k[1]
		cfg := dnsserver.GetConfig(&other)
		s := &site{block: k[0], key: k[1], zone: strings.ToLower(cfg.Zone), transport: cfg.Transport, port: cfg.Port, filtered: len(cfg.FilterFuncs) > 0}
		for _, h := range cfg.ListenHosts {
			// As dnsserver groups configs by listen address.
			addr, err := net.ResolveTCPAddr("tcp", net.JoinHostPort(h, cfg.Port))
			if err != nil {
				return nil, err
			}
			s.listeners = append(s.listeners, cfg.Transport+"://"+addr.String())
		}
		sites = append(sites, s)
	}
	return sites, nil
}

// configKeys returns the (server block, key) of every config in c's
// configuration. dnsserver.GetConfig finds the config of any server block and
// key, but makes a new, broken one for a pair that does not exist, and
// dnsserver exports no list of them: the pairs are read, and only read, from
// the keys ("BLOCK:KEY") of its context's map of configs. A CoreDNS that
// changes that map fails TestMoreSpecificServerBlockRefused.
func configKeys(c *caddy.Controller) ([][2]int, error) {
	v := reflect.ValueOf(c.Context())
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil, fmt.Errorf("the dns server context is a %s, not a struct", v.Kind())
	}
	m := v.FieldByName("keysToConfigs")
	if m.Kind() != reflect.Map || m.Type().Key().Kind() != reflect.String {
		return nil, fmt.Errorf("the dns server context has no map keysToConfigs")
	}
	keys := make([][2]int, 0, m.Len())
	for _, k := range m.MapKeys() {
		var key [2]int
		if _, err := fmt.Sscanf(k.String(), "%d:%d", &key[0], &key[1]); err != nil {
			return nil, fmt.Errorf("config key %q is not BLOCK:KEY", k.String())
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// CheckStartup runs, on the configuration c belongs to, the check failover
// runs when CoreDNS starts it, without starting anything: that no name is
// taken by a more specific server block. Call it after the configuration's
// servers are made (MakeServers), in place of its startup hooks, which would
// start probing: the checkconf command does.
func CheckStartup(c *caddy.Controller) error {
	rc, _ := c.Get(reachKey{}).(*reachCheck)
	if rc == nil {
		return nil // no failover in the configuration
	}
	return rc.check()
}
