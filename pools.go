package failover

import (
	"net/netip"
	"strconv"
	"strings"
)

// pool reads a pool line: `primary ADDRESS...`, `secondary ADDRESS...`, or
// `pool NAME ADDRESS...` for each further pool. Pools are tried in the order
// they are given, which must start with primary, then secondary.
func (p *blockParser) pool(b *block) error {
	name := p.property
	args := p.c.RemainingArgs()
	switch {
	case name == "primary" && len(b.pools) > 0:
		return p.c.Err("'primary' must be the first pool")
	case name == "secondary" && (len(b.pools) == 0 || b.pools[0].name != "primary"):
		return p.c.Err("'secondary' must come after 'primary'")
	case name == "secondary" && len(b.pools) > 1:
		return p.c.Err("'secondary' must come right after 'primary', before any 'pool'")
	case name == "pool" && len(b.pools) < 2:
		return p.c.Err("'pool' lines come after 'primary' and 'secondary'")
	case name == "pool":
		if len(args) == 0 {
			return p.c.Err("'pool' needs a NAME and at least one ADDRESS: pool NAME ADDRESS...")
		}
		name, args = args[0], args[1:]
		if _, err := netip.ParseAddr(strings.Split(name, "@")[0]); err == nil {
			return p.c.Errf("'pool' needs a NAME before its addresses, not the address '%s'", name)
		}
		for _, other := range b.pools {
			if other.name == name {
				return p.c.Errf("pool '%s' is defined twice", name)
			}
		}
	}
	if len(args) == 0 && p.property == "pool" {
		return p.c.Errf("pool '%s' needs at least one ADDRESS", name)
	}
	if len(args) == 0 {
		return p.c.Errf("'%s' needs at least one ADDRESS", name)
	}
	pl := pool{name: name}
	for _, arg := range args {
		if form, ok := serviceFormOf(arg); ok {
			s, err := p.serviceMember(form, arg)
			if err != nil {
				return err
			}
			pl.services = append(pl.services, s)
			continue
		}
		m, err := p.member(arg)
		if err != nil {
			return err
		}
		pl.members = append(pl.members, m)
	}
	b.pools = append(b.pools, pl)
	return nil
}

// member reads one address of a pool: ADDRESS, or ADDRESS@CHECK to answer
// ADDRESS while probing CHECK, an address with an optional port
// (192.0.2.10@10.0.0.10, 192.0.2.10@10.0.0.10:8080, 2001:db8::1@[2001:db8::2]:8080).
// An IPv4-mapped IPv6 address (::ffff:192.0.2.10) is its IPv4 address: answered
// as A, never as AAAA, which no IPv6 client could reach.
func (p *blockParser) member(arg string) (member, error) {
	served, checked, hasCheck := strings.Cut(arg, "@")
	addr, err := netip.ParseAddr(served)
	if err != nil || addr.Zone() != "" {
		return member{}, p.c.Errf("'%s' is not an IPv4 or IPv6 address", served)
	}
	addr = addr.Unmap()
	if why := unreachable(addr); why != "" {
		return member{}, p.c.Errf("address %s %s: no client could reach it", served, why)
	}
	if first, ok := p.addresses[addr]; ok {
		if addr.Is4() && first != served {
			return member{}, p.c.Errf("address %s is listed twice in this block, as %s and as %s: an IPv4-mapped address is its IPv4 address", addr, first, served)
		}
		return member{}, p.c.Errf("address %s is listed twice in this block", addr)
	}
	p.addresses[addr] = served
	m := newMember(addr)
	if !hasCheck {
		return m, nil
	}
	if ap, err := netip.ParseAddrPort(checked); err == nil && ap.Port() != 0 && ap.Addr().Zone() == "" {
		m.checkAddr, m.checkPort = ap.Addr().Unmap(), ap.Port()
	} else if a, err := netip.ParseAddr(checked); err == nil && a.Zone() == "" {
		m.checkAddr = a.Unmap()
	} else {
		return member{}, p.c.Errf("'%s': the address to check after '@' must be an IP address with an optional port (10.0.0.10, 10.0.0.10:8080, [2001:db8::2]:8080), not '%s'", arg, checked)
	}
	if why := unreachable(m.checkAddr); why != "" {
		return member{}, p.c.Errf("'%s': the address to check %s %s: no probe could reach it", arg, m.checkAddr, why)
	}
	return m, nil
}

// unreachable says why addr (unmapped) can be neither answered nor probed,
// or "" when it can. Loopback stays: tests and local services use it. IPv4
// link-local (169.254.0.0/16) stays: it works on the link without a zone.
func unreachable(addr netip.Addr) string {
	switch {
	case addr.IsUnspecified():
		return "is unspecified (it means any address to a listener)"
	case addr.Is4() && addr.As4()[0] == 0:
		return `is in 0.0.0.0/8, "this network", which is no destination (RFC 1122)`
	case addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "is the limited broadcast address"
	case addr.IsMulticast():
		return "is a multicast address"
	case addr.Is6() && addr.IsLinkLocalUnicast():
		return "is IPv6 link-local, which needs a zone (an interface) that neither a DNS answer nor this configuration carries"
	}
	return ""
}

// minimum is one `min_healthy POOL COUNT` line.
type minimum struct {
	line  int
	pool  string
	count int
}

// minHealthy reads `min_healthy POOL COUNT`.
func (p *blockParser) minHealthy() error {
	args := p.c.RemainingArgs()
	if len(args) != 2 {
		return p.c.Err("'min_healthy' takes a pool and a count: min_healthy POOL COUNT")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 1 {
		return p.c.Errf("'min_healthy' needs a count of at least 1, not '%s'", args[1])
	}
	for _, m := range p.minimums {
		if m.pool == args[0] {
			return p.c.Errf("'min_healthy' for pool '%s' is given twice (first at line %d)", m.pool, m.line)
		}
	}
	p.minimums = append(p.minimums, minimum{line: p.c.Line(), pool: args[0], count: n})
	return nil
}

// settleMinHealthy applies the min_healthy lines once every pool is known.
func (p *blockParser) settleMinHealthy(b *block) error {
	for _, m := range p.minimums {
		i := b.poolIndex(m.pool)
		if i < 0 {
			return errAt(p.c, m.line, "'min_healthy' names pool '%s', which this block does not have", m.pool)
		}
		// A pool of Services grows and shrinks with them: no bound is known.
		if size := len(b.pools[i].members); len(b.pools[i].services) == 0 && m.count > size {
			return errAt(p.c, m.line, "'min_healthy' %d for pool '%s', which has only %d addresses: it could never be up", m.count, m.pool, size)
		}
		b.pools[i].minHealthy = m.count
	}
	return nil
}

func (b *block) poolIndex(name string) int {
	for i, pl := range b.pools {
		if pl.name == name {
			return i
		}
	}
	return -1
}
