package failover

import (
	"cmp"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
)

// Within the pool a name answers from, `weight ADDRESS COUNT` lines order the
// healthy addresses (heaviest first), and `answers N` answers at most N of
// them, drawn for each query at random in proportion to their weights, as
// `loadbalance weighted` does and Route 53's multivalue answers (up to 8)
// do. Weight 0 keeps an address out of every answer while it is still
// probed: a drain that needs no override file.

// maxWeight bounds a weight, as loadbalance weighted does.
const maxWeight = 100

// weightLine is one `weight ADDRESS COUNT` line, settled once every pool is known.
type weightLine struct {
	line  int
	addr  netip.Addr
	as    string // as written
	count int
}

// weight reads `weight ADDRESS COUNT`.
func (p *blockParser) weight() error {
	args := p.c.RemainingArgs()
	if len(args) != 2 {
		return p.c.Err("'weight' takes an address and a count: weight ADDRESS COUNT")
	}
	addr, err := netip.ParseAddr(args[0])
	if err != nil || addr.Zone() != "" {
		return p.c.Errf("'weight' needs an address of the block's pools, not '%s'", args[0])
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 0 || n > maxWeight {
		return p.c.Errf("'weight' needs a count from 0 to %d, not '%s'", maxWeight, args[1])
	}
	addr = addr.Unmap()
	for _, w := range p.weights {
		if w.addr == addr {
			return p.c.Errf("'weight' for %s is given twice (first at line %d)", args[0], w.line)
		}
	}
	p.weights = append(p.weights, weightLine{line: p.c.Line(), addr: addr, as: args[0], count: n})
	return nil
}

// answersCount reads `answers N`.
func (p *blockParser) answersCount() (int, error) {
	arg, err := p.oneArg()
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(arg)
	if err != nil || n < 1 {
		return 0, p.c.Errf("'answers' needs a count of at least 1, not '%s'", arg)
	}
	return n, nil
}

// settleWeights gives each member its weight line's count.
func (p *blockParser) settleWeights(b *block) error {
	for _, w := range p.weights {
		found := false
		for i := range b.pools {
			for j := range b.pools[i].members {
				if m := &b.pools[i].members[j]; m.addr == w.addr {
					m.share, m.unanswered, found = w.count, w.count == 0, true
				}
			}
		}
		if !found {
			return errAt(p.c, w.line, "'weight' names %s, which is no address of this block's pools", w.as)
		}
	}
	return nil
}

// shareOf is m's weight: its weight line's count, 1 without one.
func (m member) shareOf() int {
	if m.share == 0 {
		return 1
	}
	return m.share
}

// weigh orders the addresses c answers heaviest first (in the order of the
// pool among equals) and, under `answers`, keeps their weights for the draw.
func (b *block) weigh(c *choice, members []member) {
	if len(c.ips) < 2 {
		return
	}
	shares := make([]int, len(c.ips))
	for i, ip := range c.ips {
		for _, m := range members {
			if m.ip.Equal(ip) {
				shares[i] = m.shareOf()
				break
			}
		}
	}
	order := make([]int, len(c.ips))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int { return cmp.Compare(shares[y], shares[x]) })
	ips := make([]net.IP, len(order))
	c.shares = make([]int, len(order))
	for i, k := range order {
		ips[i], c.shares[i] = c.ips[k], shares[k]
	}
	c.ips = ips
	if b.answers == 0 && b.order != orderRandom {
		c.shares = nil // every address is answered in this order: nothing to draw
	}
	c.answers = b.answers
}

// draw returns addresses of c drawn at random in proportion to their weights,
// without repetition, into buf when they fit: N of them under `answers N`,
// else all, in the order drawn.
func (c *choice) draw(buf []net.IP) []net.IP {
	n := len(c.ips)
	if c.answers > 0 {
		n = min(n, c.answers)
	}
	var takenBuf [16]bool
	taken := takenBuf[:]
	if len(c.ips) > len(takenBuf) {
		taken = make([]bool, len(c.ips))
	}
	total := 0
	for _, s := range c.shares {
		total += s
	}
	out := buf[:0]
	if n > cap(buf) {
		out = make([]net.IP, 0, n)
	}
	for len(out) < n && total > 0 {
		r := rand.IntN(total)
		for i, s := range c.shares {
			if taken[i] {
				continue
			}
			if r < s {
				taken[i] = true
				total -= s
				out = append(out, c.ips[i])
				break
			}
			r -= s
		}
	}
	return out
}
