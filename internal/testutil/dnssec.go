package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"
)

// DNSSECKey makes an ECDSA P-256 signing key for zone and writes it to dir
// as dnssec-keygen does, where CoreDNS's dnssec plugin reads it
// (Kexample.org.+013+TAG.key and .private). It returns the public key and the
// files' path without the extension, what `key file` takes.
func DNSSECKey(t testing.TB, dir, zone string) (*dns.DNSKEY, string) {
	t.Helper()
	key := &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: dns.Fqdn(zone), Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags:     dns.ZONE | dns.SEP, // 257: with one key, dnssec signs everything with it
		Protocol:  3,
		Algorithm: dns.ECDSAP256SHA256,
	}
	private, err := key.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, fmt.Sprintf("K%s+%03d+%05d", key.Hdr.Name, key.Algorithm, key.KeyTag()))
	if err := os.WriteFile(base+".key", []byte(key.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".private", []byte(key.PrivateKeyString(private)), 0o600); err != nil {
		t.Fatal(err)
	}
	return key, base
}
