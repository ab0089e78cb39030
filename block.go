package failover

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/coredns/coredns/plugin"

	"github.com/failover-dns/failover/fleet"
	"github.com/failover-dns/failover/healthcheck"
	"github.com/failover-dns/failover/kube"
)

// block is one `failover` block of a Corefile: the names it governs and how
// their addresses are chosen.
type block struct {
	line    int      // of the `failover` keyword, for messages
	names   []string // lower-case, fully qualified
	pools   []pool   // in order of preference: primary, secondary, then further pools
	ttl     uint32   // cap on the TTL of the address records answered
	allDown allDownPolicy

	weighted bool // it has weight lines (weights.go)
	answers  int  // answers N: at most N addresses a query; 0 for all
	order    orderMode

	shortTTL bool   // ttl SECONDS MIN: minTTL while a change may come (ttl.go)
	minTTL   uint32 // that MIN
	failback failbackPolicy
	probe    healthcheck.Settings

	insecureTLS bool                             // tls_insecure_skip_verify: warned about at startup
	overrides   *overrideSource                  // the override file it reads; nil for none
	status      string                           // the address of its status endpoint; "" for none
	alerts      []alertRule                      // its alert lines (alertrule.go)
	alertToken  *tokenFile                       // of alert_token_file; nil without
	alertStore  atomic.Pointer[alertStore]       // the alerts pushed to its status address, from OnStartup
	source      kube.Source                      // where its Services and its fleet's Leases are read (kubeconfig); in-cluster by default
	fleet       *fleetOptions                    // its fleet lines; nil without `fleet`
	membership  atomic.Pointer[fleet.Membership] // in its fleet, from OnStartup (fleetblock.go); read by the status page

	zones          plugin.Zones // of its server block: the owner of the SOA failover makes
	serial         uint32       // of that SOA: when the configuration was loaded, in Unix seconds
	referralWarned sync.Map     // names whose referral was warned about, once each
}

// pool is an ordered set of endpoints.
type pool struct {
	name       string           // "primary", "secondary", or the name of a further pool
	members    []member         // its addresses given in the Corefile
	services   []*serviceMember // its Kubernetes Services, whose addresses change (kubepools.go)
	minHealthy int              // healthy members below which the pool counts as down; 0 for 1
}

// member is one address of a pool and the endpoint that judges it.
type member struct {
	addr      netip.Addr
	ip        net.IP                // 4 bytes for IPv4, 16 for IPv6: ready for an A or AAAA record
	checkAddr netip.Addr            // where its probes go: addr, unless given after '@'
	checkPort uint16                // when not 0, the port its probes go to, whatever the check URLs say
	endpoint  *healthcheck.Endpoint // nil for a Service's member that is not probed

	// Of a member that a Kubernetes Service gives; zero for an address of the Corefile.
	source   *serviceMember
	serving  bool // Kubernetes says it serves (for service/: the Service has a serving endpoint)
	unprobed bool // its probes have no verdict yet: it waits for one
	weight   int  // what it adds to its pool's healthy count when healthy: see memberWeight

	share      int  // its `weight` line's count: its share of the answers (weights.go); 0 for none given
	unanswered bool // weight 0: probed, never answered
}

// has reports whether addr is a member of p, or may be one: a Service's
// addresses change.
func (p pool) has(addr netip.Addr) bool {
	if len(p.services) > 0 {
		return true
	}
	for _, m := range p.members {
		if m.addr == addr {
			return true
		}
	}
	return false
}

// governs reports whether name (lower case, fully qualified) is one of b's.
func (b *block) governs(name string) bool { return slices.Contains(b.names, name) }

func newMember(addr netip.Addr) member {
	return member{addr: addr, ip: net.IP(addr.AsSlice()), checkAddr: addr}
}

func (m member) is4() bool { return len(m.ip) == net.IPv4len }

// allDownPolicy decides the answer when no pool has a healthy address.
type allDownPolicy int

const (
	allDownPrimary  allDownPolicy = iota // the first pool's addresses, as if healthy (fail open)
	allDownAll                           // every pool's addresses
	allDownServfail                      // SERVFAIL
	allDownNodata                        // NOERROR, no address records
)

func (p allDownPolicy) String() string {
	for name, policy := range allDownPolicies {
		if policy == p {
			return name
		}
	}
	return "unknown"
}

var allDownPolicies = map[string]allDownPolicy{
	"primary":  allDownPrimary,
	"all":      allDownAll,
	"servfail": allDownServfail,
	"nodata":   allDownNodata,
}
