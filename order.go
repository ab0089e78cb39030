package failover

import (
	"math"
	"net"
	"time"

	"github.com/failover-dns/failover/healthcheck"
)

// `order config|random|latency` says in which order a query gets the healthy
// addresses of the pool its name answers from:
//   - config (the default): as the pool lists them, heaviest first when
//     `weight` lines are given;
//   - random: a new order for each query, drawn at random in proportion to
//     the weights (a plain shuffle without weights), as `loadbalance` does;
//   - latency: lowest moving average of the probes' round-trip times first
//     (healthcheck.RTTWindow passed probes), addresses without a sample last.
//     Under `answers N`, the N fastest are answered. Weights above 1 are
//     refused under latency: they could not change which address comes first.
//
// The order is settled per query, not per rebuild: a moved average reorders
// the next answer without a new decision, so reordering neither shortens the
// TTL (ttl SECONDS MIN counts changes of the addresses, not of their order)
// nor counts as a failover.
type orderMode uint8

const (
	orderConfig orderMode = iota
	orderRandom
	orderLatency
)

var orderModes = map[string]orderMode{"config": orderConfig, "random": orderRandom, "latency": orderLatency}

func (o orderMode) String() string {
	for name, mode := range orderModes {
		if mode == o {
			return name
		}
	}
	return "unknown"
}

// orderOf reads `order config|random|latency`.
func (p *blockParser) orderOf() (orderMode, error) {
	arg, err := p.oneArg()
	if err != nil {
		return 0, err
	}
	mode, ok := orderModes[arg]
	if !ok {
		return 0, p.c.Errf("'order' takes config, random or latency, not '%s'", arg)
	}
	return mode, nil
}

// settleOrder refuses what cannot apply under the block's order.
func (p *blockParser) settleOrder(b *block) error {
	if b.order != orderLatency {
		return nil
	}
	for _, w := range p.weights {
		if w.count > 1 {
			return errAt(p.c, w.line, "'weight %s %d' cannot apply under 'order latency' (line %d): answers are ordered by the probes' round-trip times; only weight 0 (never answered) and 1 are allowed",
				w.as, w.count, p.seen["order"])
		}
	}
	return nil
}

// arrange readies c for the per-query order of its block: the weights of its
// addresses for a draw, or their endpoints for the latency order.
func (b *block) arrange(c *choice, members []member) {
	c.order = b.order
	if b.weighted || b.answers > 0 || b.order == orderRandom {
		b.weigh(c, members)
	}
	if b.order != orderLatency || len(c.ips) < 2 {
		return
	}
	c.endpoints = make([]*healthcheck.Endpoint, len(c.ips))
	for i, ip := range c.ips {
		for _, m := range members {
			if m.ip.Equal(ip) {
				c.endpoints[i] = m.endpoint // nil for a Service's member not probed: no sample
				break
			}
		}
	}
}

// drawn returns the addresses to answer for one query, in their order: into
// buf when they fit and must be chosen or ordered for this query, else c's
// own addresses, which must not be changed.
func (c *choice) drawn(buf []net.IP) []net.IP {
	switch {
	case len(c.ips) < 2:
		return c.ips
	case c.order == orderLatency && len(c.endpoints) > 0:
		ips := c.fastest(buf)
		if c.answers > 0 && len(ips) > c.answers {
			ips = ips[:c.answers]
		}
		return ips
	case c.order == orderRandom, c.answers > 0 && len(c.ips) > c.answers:
		return c.draw(buf)
	}
	return c.ips
}

// fastest returns all of c's addresses, lowest average round trip first, in
// the pool's order among equals and at the end for those without a sample.
// An insertion sort: pools are small, and it needs no allocation.
func (c *choice) fastest(buf []net.IP) []net.IP {
	n := len(c.ips)
	var keysBuf [8]time.Duration
	keys := keysBuf[:0]
	if n > len(keysBuf) {
		keys = make([]time.Duration, 0, n)
	}
	out := buf[:0]
	if n > cap(buf) {
		out = make([]net.IP, 0, n)
	}
	for i, ip := range c.ips {
		key := time.Duration(math.MaxInt64) // no sample: last
		if e := c.endpoints[i]; e != nil {
			if avg, samples := e.RTT(); samples > 0 {
				key = avg
			}
		}
		j := len(keys)
		for j > 0 && keys[j-1] > key {
			j--
		}
		keys = append(keys, 0)
		out = append(out, nil)
		copy(keys[j+1:], keys[j:])
		copy(out[j+1:], out[j:])
		keys[j], out[j] = key, ip
	}
	return out
}
