// Package failover is a CoreDNS plugin that answers A and AAAA queries for the
// names it governs with the healthy addresses of the first pool that has any:
// the primary pool while it is healthy, then the secondary.
package failover

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"

	"github.com/failover-dns/failover/healthcheck"
)

const pluginName = "failover"

// Defaults of a failover block.
const (
	defaultInterval = 5 * time.Second
	defaultTimeout  = 2 * time.Second // and at most half the interval, when none is given
	defaultFall     = 3
	defaultRise     = 2
	defaultTTL      = 30
	maxTTL          = 1<<31 - 1 // RFC 2181, section 8
)

func init() { plugin.Register(pluginName, setup) }

func setup(c *caddy.Controller) error {
	f, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		f.Next = next
		return f
	})
	// Before this instance's startup hook: a name a more specific server
	// block takes refuses the configuration before anything starts.
	checkReach(c, f)
	// Probing starts here, never in setup: a reload that fails after setup
	// discards this instance without running its shutdown hooks.
	c.OnStartup(f.OnStartup)
	cfg := dnsserver.GetConfig(c)
	c.OnStartup(func() error { return f.findSigner(cfg) }) // once CoreDNS has built the chain
	c.OnShutdown(f.OnShutdown)
	// Run if a later reload fails: what no server uses must stop (see lifecycle.go).
	c.OnRestartFailed(f.restartFailed)
	return nil
}

// parse reads every failover block of one server block.
func parse(c *caddy.Controller) (*Failover, error) {
	zones := plugin.Zones(plugin.OriginsFromArgsOrServerBlock(nil, c.ServerBlockKeys))
	f := newFailover()
	f.server = strings.Join(c.ServerBlockKeys, " ")
	f.generation = generationOf(c)
	governedAt := map[string]int{} // name -> line of the block that governs it
	serial := uint32(time.Now().Unix())
	for c.Next() {
		b, err := parseBlock(c, f.engine)
		if err != nil {
			return nil, err
		}
		b.zones, b.serial = zones, serial
		for _, name := range b.names {
			if line, ok := governedAt[name]; ok {
				return nil, errAt(c, b.line, "name '%s' is already governed by the failover block at line %d", name, line)
			}
			governedAt[name] = b.line
			if len(zones) > 0 && zones.Matches(name) == "" {
				return nil, errAt(c, b.line, "name '%s' is outside the zones of this server block (%s): no query for it would reach failover%s", name, strings.Join(zones, " "), zoneHint(zones))
			}
		}
		f.shareOverrides(b)
		f.blocks = append(f.blocks, b)
	}
	if err := f.checkFleets(c); err != nil {
		return nil, err
	}
	f.prepare()
	return f, nil
}

// shareOverrides makes the blocks that name the same override file read it once.
func (f *Failover) shareOverrides(b *block) {
	if b.overrides == nil {
		return
	}
	for _, s := range f.overrides {
		if s.path == b.overrides.path {
			b.overrides = s
			break
		}
	}
	if len(b.overrides.blocks) == 0 {
		f.overrides = append(f.overrides, b.overrides)
	}
	b.overrides.blocks = append(b.overrides.blocks, b)
}

// blockParser holds what one failover block has said so far.
type blockParser struct {
	c         *caddy.Controller
	line      int                   // line of the `failover` keyword
	property  string                // the property being read
	seen      map[string]int        // property -> its line
	addresses map[netip.Addr]string // address, unmapped -> as first written
	checks    []*healthcheck.Check
	minimums  []minimum // min_healthy lines, settled once every pool is known
	weights   []weightLine
	services  []*serviceMember

	fleetProbers int  // of `probers`; 0 when not given
	fleetQuorum  *int // of `quorum`; nil when not given

	// TLS options, settled once the whole block is read.
	tls           *tls.Config
	tlsArgs       []string
	tlsServerName string
	tlsInsecure   bool
}

func parseBlock(c *caddy.Controller, engine *healthcheck.Engine) (*block, error) {
	p := &blockParser{c: c, line: c.Line(), seen: map[string]int{}, addresses: map[netip.Addr]string{}}
	b := &block{
		line:    p.line,
		ttl:     defaultTTL,
		allDown: allDownPrimary,
		probe:   healthcheck.Settings{Interval: defaultInterval, Fall: defaultFall, Rise: defaultRise},
	}
	names, err := p.names()
	if err != nil {
		return nil, err
	}
	b.names = names
	for c.NextBlock() {
		property := c.Val()
		p.property = property
		if line, ok := p.seen[property]; ok && !repeatable[property] {
			return nil, c.Errf("'%s' is given twice in this block (first at line %d)", property, line)
		}
		p.seen[property] = c.Line()

		switch property {
		case "primary", "secondary", "pool":
			err = p.pool(b)
		case "min_healthy":
			err = p.minHealthy()
		case "check":
			err = p.checkURLs()
		case "interval":
			b.probe.Interval, err = p.duration()
		case "timeout":
			b.probe.Timeout, err = p.duration()
		case "fall":
			b.probe.Fall, err = p.count()
		case "rise":
			b.probe.Rise, err = p.count()
		case "ttl":
			err = p.ttl(b)
		case "failback":
			b.failback, err = p.failback()
		case "weight":
			err = p.weight()
		case "answers":
			b.answers, err = p.answersCount()
		case "order":
			b.order, err = p.orderOf()
		case "all_down":
			b.allDown, err = p.allDown()
		case "override":
			b.overrides, err = p.overrideFile()
		case "status":
			b.status, err = p.statusAddress()
		case "alert":
			err = p.alertLine(b)
		case "alert_token_file":
			b.alertToken, err = p.alertTokenFile()
		case "kubeconfig":
			b.source, err = p.kubeconfig()
		case "fleet":
			err = p.fleetGroup(b)
		case "probers":
			err = p.probers()
		case "quorum":
			err = p.quorum()
		default:
			var known bool
			known, err = p.probeOption(&b.probe)
			if !known {
				return nil, c.Errf("unknown property '%s'", property)
			}
		}
		if err != nil {
			return nil, err
		}
	}

	if _, ok := p.seen["primary"]; !ok {
		return nil, errAt(p.c, p.line, "failover block for %s has no 'primary' line", strings.Join(b.names, " "))
	}
	if len(p.checks) == 0 && len(p.addresses) > 0 {
		// Only a Service's members have a judge besides probes: Kubernetes.
		return nil, errAt(p.c, p.line, "failover block for %s has no 'check' line", strings.Join(b.names, " "))
	}
	b.probe.Checks = p.checks
	if err := p.timeout(&b.probe); err != nil {
		return nil, err
	}
	if err := p.settleProbeOptions(b); err != nil {
		return nil, err
	}
	if err := p.settleMinHealthy(b); err != nil {
		return nil, err
	}
	if err := p.settleWeights(b); err != nil {
		return nil, err
	}
	b.weighted = len(p.weights) > 0
	if err := p.settleOrder(b); err != nil {
		return nil, err
	}
	if err := p.settleServices(b); err != nil {
		return nil, err
	}
	if err := p.settleFleet(b); err != nil {
		return nil, err
	}
	if err := p.settleAlerts(b); err != nil {
		return nil, err
	}
	if line, ok := p.seen["failback"]; ok && b.failback.manual && b.overrides == nil {
		return nil, errAt(p.c, line, "failback manual needs 'override FILE' in the block: a line there releases each hold")
	}

	for _, pl := range b.pools {
		for i := range pl.members {
			m := &pl.members[i]
			s := b.probe
			s.Port = m.checkPort
			m.endpoint = engine.Endpoint(m.checkAddr, s)
		}
	}
	return b, nil
}

// repeatable are the properties that may be given more than once in a block.
var repeatable = map[string]bool{"pool": true, "min_healthy": true, "header": true, "header_file": true, "weight": true, "alert": true}

// names reads NAME... after the `failover` keyword.
func (p *blockParser) names() ([]string, error) {
	args := p.c.RemainingArgs()
	if len(args) == 0 {
		return nil, p.c.Err("failover needs at least one NAME: failover NAME... { ... }")
	}
	names := make([]string, 0, len(args))
	for _, arg := range args {
		name, err := queryName(arg)
		if err != nil {
			return nil, p.c.Err(err.Error())
		}
		for _, n := range names {
			if n == name {
				return nil, p.c.Errf("name '%s' is listed twice", name)
			}
		}
		names = append(names, name)
	}
	return names, nil
}

// checkURLs reads `check URL...`: every check must pass.
func (p *blockParser) checkURLs() error {
	args := p.c.RemainingArgs()
	if len(args) == 0 {
		return p.c.Err("'check' needs at least one URL")
	}
	for _, arg := range args {
		c, err := healthcheck.ParseCheck(arg)
		if err != nil {
			return p.c.Err(err.Error())
		}
		for _, prev := range p.checks {
			if prev.String() == c.String() {
				return p.c.Errf("check %s is listed twice", c)
			}
		}
		p.checks = append(p.checks, c)
	}
	return nil
}

func (p *blockParser) duration() (time.Duration, error) {
	arg, err := p.oneArg()
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(arg)
	if err != nil || d <= 0 {
		return 0, p.c.Errf("'%s' needs a positive duration such as 5s or 500ms, not '%s'", p.property, arg)
	}
	return d, nil
}

func (p *blockParser) count() (int, error) {
	arg, err := p.oneArg()
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(arg)
	if err != nil || n < 1 {
		return 0, p.c.Errf("'%s' needs a count of at least 1, not '%s'", p.property, arg)
	}
	return n, nil
}

// ttl reads `ttl SECONDS [MIN]`.
func (p *blockParser) ttl(b *block) error {
	args := p.c.RemainingArgs()
	if len(args) != 1 && len(args) != 2 {
		return p.c.Err("'ttl' takes SECONDS, and optionally MIN: ttl 300 5")
	}
	ttls := make([]uint32, len(args))
	for i, arg := range args {
		n, err := strconv.ParseUint(arg, 10, 32)
		if err != nil || n > maxTTL {
			return p.c.Errf("'ttl' needs a number of seconds from 0 to %d, not '%s'", maxTTL, arg)
		}
		ttls[i] = uint32(n)
	}
	b.ttl = ttls[0]
	if len(ttls) == 2 {
		if ttls[1] > ttls[0] {
			return p.c.Errf("'ttl' MIN %d is longer than SECONDS %d: MIN is the TTL while a change may come", ttls[1], ttls[0])
		}
		b.shortTTL, b.minTTL = true, ttls[1]
	}
	return nil
}

// failback reads `failback immediate|DURATION|manual`.
func (p *blockParser) failback() (failbackPolicy, error) {
	arg, err := p.oneArg()
	if err != nil {
		return failbackPolicy{}, err
	}
	switch arg {
	case "immediate":
		return failbackPolicy{}, nil
	case "manual":
		return failbackPolicy{manual: true}, nil
	}
	d, err := time.ParseDuration(arg)
	if err != nil || d <= 0 {
		return failbackPolicy{}, p.c.Errf("'failback' must be immediate, manual or a positive duration such as 10m, not '%s'", arg)
	}
	return failbackPolicy{after: d}, nil
}

func (p *blockParser) allDown() (allDownPolicy, error) {
	arg, err := p.oneArg()
	if err != nil {
		return 0, err
	}
	policy, ok := allDownPolicies[arg]
	if !ok {
		return 0, p.c.Errf("'all_down' must be primary, all, servfail or nodata, not '%s'", arg)
	}
	return policy, nil
}

// overrideFile reads `override FILE`. A relative FILE is under the server's
// root, as for hosts and file. The file need not exist yet.
func (p *blockParser) overrideFile() (*overrideSource, error) {
	path, err := p.oneArg()
	if err != nil {
		return nil, err
	}
	if root := dnsserver.GetConfig(p.c).Root; !filepath.IsAbs(path) && root != "" {
		path = filepath.Join(root, path)
	}
	return &overrideSource{path: filepath.Clean(path)}, nil
}

// statusAddress reads `status ADDRESS`: HOST:PORT, where an empty HOST means
// the loopback address, so that only this machine sees the status unless the
// Corefile says otherwise.
func (p *blockParser) statusAddress() (string, error) {
	arg, err := p.oneArg()
	if err != nil {
		return "", err
	}
	host, port, err := net.SplitHostPort(arg)
	if n, convErr := strconv.Atoi(port); err != nil || convErr != nil || n < 1 || n > 65535 {
		return "", p.c.Errf("'status' needs HOST:PORT or :PORT, such as 127.0.0.1:8054 or :8054, not '%s'", arg)
	}
	switch host {
	case "", "localhost":
		host = "127.0.0.1"
	default:
		if addr, err := netip.ParseAddr(host); err != nil || addr.Zone() != "" {
			return "", p.c.Errf("'status' needs an IP address as HOST, not '%s'", host)
		}
	}
	return net.JoinHostPort(host, port), nil
}

// timeout settles the probe timeout once the interval is known.
func (p *blockParser) timeout(s *healthcheck.Settings) error {
	line, given := p.seen["timeout"]
	if !given {
		s.Timeout = min(defaultTimeout, s.Interval/2)
		return nil
	}
	if s.Timeout >= s.Interval {
		return errAt(p.c, line, "timeout %s must be shorter than interval %s", s.Timeout, s.Interval)
	}
	return nil
}

// oneArg returns the single argument of the current property.
func (p *blockParser) oneArg() (string, error) {
	args := p.c.RemainingArgs()
	if len(args) != 1 {
		return "", p.c.Errf("'%s' takes exactly one argument", p.property)
	}
	return args[0], nil
}

// errAt is Dispenser.Errf for a line other than the current token's.
func errAt(c *caddy.Controller, line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d - Error during parsing: %s", c.File(), line, fmt.Sprintf(format, args...))
}
