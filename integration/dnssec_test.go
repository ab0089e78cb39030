package integration

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/failover-dns/failover/internal/testutil"
)

// signedZoneFile is example.org as file serves it to dnssec: app's own address
// (which failover replaces), a CNAME to it, and a CAA record for app, which
// the control of the aggressive NSEC case needs. v4 and down are in no record.
const signedZoneFile = `$ORIGIN example.org.
@    3600 IN SOA   ns.example.org. admin.example.org. 1 7200 3600 1209600 300
@    3600 IN NS    ns.example.org.
ns   3600 IN A     192.0.2.53
app  3600 IN A     203.0.113.9
app  3600 IN CAA   0 issue "ca.example.net"
www  3600 IN CNAME app.example.org.
`

// validator is a validating client of the signed zone: Unbound in front of
// CoreDNS, or delv asking CoreDNS itself.
type validator interface {
	name() string
	// secure asks for name and qtype and returns the records the answer
	// has, as text, if the validator calls it secure; else it fails the test.
	secure(t *testing.T, name string, qtype uint16) []dns.RR
}

// TestDNSSECThroughValidators serves a zone from file, signed on the fly by
// dnssec with a key made by the test, behind cache and failover, and checks
// with validating resolvers nobody here wrote (Unbound, with the zone's key
// as trust anchor; delv) that the answers failover makes are secure, before
// and after a failover: the addresses (A, AAAA, through a CNAME), the chain's
// NODATA of another type, and the NODATA failover makes (all_down nodata).
//
// Unbound runs with aggressive NSEC (RFC 8198): it denies from an NSEC it
// holds every type the NSEC's bitmap lacks, without asking. The NSEC of a
// NODATA for AAAA must not deny the A that failover answers: v4's AAAA is
// asked first, then its A, which must be answered. The control shows that
// Unbound does use the NSEC: the CAA that app has is denied after a NODATA
// for app's TXT, whose NSEC dnssec makes without CAA in its bitmap.
func TestDNSSECThroughValidators(t *testing.T) {
	backends := startBackends(t, "127.0.30.111", "127.0.30.112", "127.0.30.121", "127.0.30.122", "127.0.30.131")
	port := backends[0].port
	backends[4].close() // down's only endpoint: all_down nodata
	dir := t.TempDir()
	key, base := testutil.DNSSECKey(t, dir, "example.org.")
	zone := filepath.Join(dir, "db.example.org")
	writeFile(t, zone, signedZoneFile)
	// ttl 1: the resolver asks again soon after the failover.
	_, coreAddr := startCoreDNS(t, fmt.Sprintf(`example.org:0 {
	bind 127.0.30.101
	file %[2]s
	dnssec {
		key file %[3]s
	}
	cache 3600
	failover app.example.org {
		primary   127.0.30.111 2001:db8::111@127.0.30.111
		secondary 127.0.30.112 2001:db8::112@127.0.30.112
		check     http://:%[1]d/health
		interval  500ms
		timeout   250ms
		ttl       1
	}
	failover v4.example.org {
		primary   127.0.30.121
		secondary 127.0.30.122
		check     http://:%[1]d/health
		interval  500ms
		timeout   250ms
		ttl       1
	}
	failover down.example.org {
		primary   127.0.30.131
		check     http://:%[1]d/health
		all_down  nodata
		ttl       1
	}
}
`, port, zone, base))
	waitAnswer(t, coreAddr, "app.example.org.", "127.0.30.111", 5*time.Second)

	ds := key.ToDS(dns.SHA256)
	unbound := &unboundValidator{startUnboundWith(t, "127.0.30.102", fmt.Sprintf(`module-config: "validator iterator"
	trust-anchor: %q
	aggressive-nsec: yes
	val-log-level: 2`, strings.ReplaceAll(ds.String(), "\t", " ")), resolverZone{name: "example.org", server: coreAddr})}
	validators := []validator{unbound}
	if delv := newDelv(t, coreAddr, key); delv != nil {
		validators = append(validators, delv)
	}

	// The control, before anything else of app is asked: a TXT NODATA,
	// then the CAA, denied by Unbound from the TXT's NSEC.
	unbound.secure(t, "app.example.org.", dns.TypeTXT)
	if rrs := unbound.secure(t, "app.example.org.", dns.TypeCAA); len(rrs) != 0 {
		t.Errorf("control: Unbound asked CoreDNS for app's CAA after the TXT NODATA, got %v: "+
			"it does not deny from dnssec's NSEC, and the aggressive NSEC case below proves nothing", rrs)
	}

	for _, failedOver := range []bool{false, true} {
		app, app6, v4 := "127.0.30.111", "2001:db8::111", "127.0.30.121"
		if failedOver {
			backends[0].close()
			backends[2].close()
			app, app6, v4 = "127.0.30.112", "2001:db8::112", "127.0.30.122"
			waitAnswer(t, coreAddr, "app.example.org.", app, 5*time.Second)
			waitAnswer(t, coreAddr, "v4.example.org.", v4, 5*time.Second)
		}
		for _, v := range validators {
			t.Run(fmt.Sprintf("%s, failed over %t", v.name(), failedOver), func(t *testing.T) {
				// The aggressive NSEC case: AAAA first.
				if rrs := v.secure(t, "v4.example.org.", dns.TypeAAAA); len(rrs) != 0 {
					t.Errorf("v4 AAAA: want NODATA, got %v", rrs)
				}
				waitSecure(t, v, "v4.example.org.", dns.TypeA, v4)
				waitSecure(t, v, "app.example.org.", dns.TypeA, app)
				waitSecure(t, v, "app.example.org.", dns.TypeAAAA, app6)
				waitSecure(t, v, "www.example.org.", dns.TypeA, app)
				for _, q := range []struct {
					name  string
					qtype uint16
				}{{"app.example.org.", dns.TypeTXT}, {"v4.example.org.", dns.TypeMX}, {"down.example.org.", dns.TypeA}, {"down.example.org.", dns.TypeTXT}} {
					if rrs := v.secure(t, q.name, q.qtype); len(rrs) != 0 {
						t.Errorf("%s %s: want NODATA, got %v", q.name, dns.TypeToString[q.qtype], rrs)
					}
				}
			})
		}
	}
}

// waitSecure asks v until name's qtype is secure with the address want alone
// (a resolver may hold the earlier answer for its TTL, 1 s).
func waitSecure(t *testing.T, v validator, name string, qtype uint16, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var got []string
	for time.Now().Before(deadline) {
		got = got[:0]
		for _, rr := range v.secure(t, name, qtype) {
			switch rr := rr.(type) {
			case *dns.A:
				got = append(got, rr.A.String())
			case *dns.AAAA:
				got = append(got, rr.AAAA.String())
			}
		}
		if slices.Equal(got, []string{want}) || t.Failed() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("%s: %s %s: addresses %v, want %s", v.name(), name, dns.TypeToString[qtype], got, want)
}

// unboundValidator asks Unbound, which sets AD on the answers it validated.
type unboundValidator struct{ r *resolver }

func (u *unboundValidator) name() string { return "unbound" }

func (u *unboundValidator) secure(t *testing.T, name string, qtype uint16) []dns.RR {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(4096, true)
	c := &dns.Client{Timeout: 5 * time.Second}
	res, _, err := c.Exchange(m, u.r.addr)
	switch {
	case err != nil:
		t.Fatalf("unbound: %s %s: %v", name, dns.TypeToString[qtype], err)
	case res.Rcode != dns.RcodeSuccess || !res.AuthenticatedData:
		t.Fatalf("unbound: %s %s: want a secure NOERROR (AD), got\n%v\n%s", name, dns.TypeToString[qtype], res, u.r.logText())
	}
	var rrs []dns.RR
	for _, rr := range res.Answer {
		if rr.Header().Rrtype != dns.TypeRRSIG {
			rrs = append(rrs, rr)
		}
	}
	return rrs
}

// delv is BIND's validating lookup tool, asking CoreDNS directly with the
// zone's key as its trust anchor: it says "fully validated" of a secure
// answer, and of a secure denial.
type delv struct {
	bin, host, port, anchors string
}

// newDelv returns delv asking server, or nil (the test goes on with Unbound
// alone) when it is not installed (Debian: bind9-dnsutils).
func newDelv(t *testing.T, server string, key *dns.DNSKEY) *delv {
	t.Helper()
	bin, err := exec.LookPath("delv")
	if err != nil {
		t.Logf("delv is not installed (Debian package bind9-dnsutils; .ci/run installs it): Unbound alone validates")
		return nil
	}
	anchors := filepath.Join(t.TempDir(), "anchors.conf")
	writeFile(t, anchors, fmt.Sprintf("trust-anchors {\n\t%s static-key %d %d %d %q;\n};\n",
		key.Hdr.Name, key.Flags, key.Protocol, key.Algorithm, key.PublicKey))
	host, port, _ := strings.Cut(server, ":")
	return &delv{bin: bin, host: host, port: port, anchors: anchors}
}

func (d *delv) name() string { return "delv" }

// delvRecord is a record line of delv's output.
var delvRecord = regexp.MustCompile(`(?m)^[^;\s].*$`)

func (d *delv) secure(t *testing.T, name string, qtype uint16) []dns.RR {
	t.Helper()
	out, err := exec.Command(d.bin, "@"+d.host, "-p", d.port, "-a", d.anchors, "+root=example.org",
		name, dns.TypeToString[qtype]).CombinedOutput()
	// "; fully validated", or "; negative response, fully validated".
	if err != nil || !strings.Contains(string(out), "fully validated") {
		t.Fatalf("delv: %s %s: want fully validated, got (%v)\n%s", name, dns.TypeToString[qtype], err, out)
	}
	var rrs []dns.RR
	for _, line := range delvRecord.FindAllString(string(out), -1) {
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("delv: %s %s: %q: %v", name, dns.TypeToString[qtype], line, err)
		}
		if rr.Header().Rrtype != dns.TypeRRSIG {
			rrs = append(rrs, rr)
		}
	}
	return rrs
}
