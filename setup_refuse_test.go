package failover

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"
)

// TestSetupRefusesUnreachableAddresses checks every class of address that no
// client could be answered with, nor a probe sent to, in both places.
func TestSetupRefusesUnreachableAddresses(t *testing.T) {
	block := func(primary string) string {
		return "failover a.example.org {\nprimary " + primary + "\ncheck tcp://:80\n}"
	}
	tests := []setupError{
		{"IPv4 unspecified", block("0.0.0.0"), "Testfile:2 - Error during parsing: address 0.0.0.0 is unspecified (it means any address to a listener): no client could reach it"},
		{"IPv6 unspecified", block("::"), "address :: is unspecified"},
		{"IPv4-mapped unspecified", block("::ffff:0.0.0.0"), "address ::ffff:0.0.0.0 is unspecified"},
		{"this network", block("0.1.2.3"), `address 0.1.2.3 is in 0.0.0.0/8, "this network"`},
		{"limited broadcast", block("255.255.255.255"), "Testfile:2 - Error during parsing: address 255.255.255.255 is the limited broadcast address"},
		{"IPv4 multicast", block("224.0.0.1"), "address 224.0.0.1 is a multicast address: no client could reach it"},
		{"IPv4 multicast, top of the range", block("239.255.255.250"), "address 239.255.255.250 is a multicast address"},
		{"IPv6 multicast", block("ff02::1"), "address ff02::1 is a multicast address"},
		{"IPv6 global multicast", block("ff0e::101"), "address ff0e::101 is a multicast address"},
		{"IPv4-mapped multicast", block("::ffff:224.0.0.251"), "address ::ffff:224.0.0.251 is a multicast address"},
		{"IPv6 link-local", block("fe80::1"), "address fe80::1 is IPv6 link-local, which needs a zone"},
		{"check unspecified", block("192.0.2.1@0.0.0.0"), "Testfile:2 - Error during parsing: '192.0.2.1@0.0.0.0': the address to check 0.0.0.0 is unspecified (it means any address to a listener): no probe could reach it"},
		{"check IPv6 unspecified with port", block("2001:db8::1@[::]:8080"), "the address to check :: is unspecified"},
		{"check multicast", block("192.0.2.1@224.0.0.1:80"), "the address to check 224.0.0.1 is a multicast address"},
		{"check broadcast", block("192.0.2.1@255.255.255.255"), "the address to check 255.255.255.255 is the limited broadcast address"},
		{"check link-local", block("2001:db8::1@fe80::2"), "the address to check fe80::2 is IPv6 link-local"},
		{"mapped beside its IPv4 form", block("192.0.2.1 ::ffff:192.0.2.1"),
			"Testfile:2 - Error during parsing: address 192.0.2.1 is listed twice in this block, as 192.0.2.1 and as ::ffff:192.0.2.1: an IPv4-mapped address is its IPv4 address"},
		{"IPv4 form after the mapped one", "failover a.example.org {\nprimary ::ffff:192.0.2.1\nsecondary 192.0.2.1\ncheck tcp://:80\n}",
			"Testfile:3 - Error during parsing: address 192.0.2.1 is listed twice in this block, as ::ffff:192.0.2.1 and as 192.0.2.1"},
		{"mapped twice, written two ways", block("::ffff:192.0.2.1 ::ffff:c000:201"), "as ::ffff:192.0.2.1 and as ::ffff:c000:201"},
		{"IPv6 twice, written two ways", block("2001:db8::1 2001:DB8:0::1"), "address 2001:db8::1 is listed twice in this block"},
	}
	expectSetupErrors(t, tests)
	_, err := parse(caddy.NewTestController("dns", block("2001:db8::1 2001:DB8:0::1")))
	if err == nil || strings.Contains(err.Error(), "IPv4-mapped") {
		t.Errorf("an IPv6 address written twice: %v, want no word about IPv4-mapped addresses", err)
	}
}

// TestSetupKeepsUsableAddresses checks the addresses next to the refused
// classes that do work: loopback, IPv4 link-local, the broadcast's neighbour,
// the last address below multicast.
func TestSetupKeepsUsableAddresses(t *testing.T) {
	f, err := parse(caddy.NewTestController("dns", `failover a.example.org {
		primary 127.0.0.1 ::1 169.254.169.254 255.255.255.254 223.255.255.255 1.0.0.0
		secondary 192.0.2.1@127.0.0.2:8080 2001:db8::1@[::1]:8080
		check tcp://:80
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.blocks[0].pools[0].members); n != 6 {
		t.Errorf("%d primary members, want 6", n)
	}
}

// TestSetupUnmapsIPv4MappedAddresses checks that ::ffff:a.b.c.d is answered as
// A, never as AAAA, and probed at its IPv4 address.
func TestSetupUnmapsIPv4MappedAddresses(t *testing.T) {
	f, err := parse(caddy.NewTestController("dns", `failover a.example.org {
		primary ::ffff:192.0.2.1 2001:db8::1@::ffff:10.0.0.1
		check tcp://:80
	}`))
	if err != nil {
		t.Fatal(err)
	}
	mapped, other := f.blocks[0].pools[0].members[0], f.blocks[0].pools[0].members[1]
	if mapped.addr != netip.MustParseAddr("192.0.2.1") || !mapped.is4() || mapped.checkAddr != mapped.addr {
		t.Errorf("::ffff:192.0.2.1 became %s (checked at %s, A: %v), want 192.0.2.1 answered as A", mapped.addr, mapped.checkAddr, mapped.is4())
	}
	if other.checkAddr != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("check address %s, want 10.0.0.1", other.checkAddr)
	}
	s := buildSnapshot(f.blocks, func(member) bool { return true })
	if c := s.lookup("a.example.org.", dns.TypeA); c == nil || len(c.ips) != 1 || c.ips[0].String() != "192.0.2.1" || len(c.ips[0]) != 4 {
		t.Errorf("A answer %+v, want 192.0.2.1", c)
	}
	if c := s.lookup("a.example.org.", dns.TypeAAAA); c == nil || len(c.ips) != 1 || c.ips[0].String() != "2001:db8::1" {
		t.Errorf("AAAA answer %+v, want only 2001:db8::1", c)
	}
}

// TestSetupNamesAsQueriesPresentThem checks that each name is kept in the form
// a query for it arrives in: A-labels for U-labels, escapes resolved.
func TestSetupNamesAsQueriesPresentThem(t *testing.T) {
	tests := []struct{ written, want string }{
		{"bücher.example.org", "xn--bcher-kva.example.org."},
		{"BÜCHER.Example.ORG.", "xn--bcher-kva.example.org."},           // the Lookup profile maps case
		{"ｂücher．example．org", "xn--bcher-kva.example.org."},            // and full-width letters and dots
		{"straße.example.org", "xn--strae-oqa.example.org."},            // non-transitional: ß stays ß
		{"xn--bcher-kva.example.org", "xn--bcher-kva.example.org."},     // an A-label as it is
		{"XN--BCHER-KVA.example.org", "xn--bcher-kva.example.org."},     // in lower case
		{"_sip.bücher.example.org", "_sip.xn--bcher-kva.example.org."},  // an ASCII label keeps its underscore
		{"\\097pp.example.org", "app.example.org."},                     // \DDD of a printable octet
		{"\\Ap\\p.example.org", "app.example.org."},                     // \X
		{"a\\.b.example.org", "a\\.b.example.org."},                     // an escaped dot stays in its label
		{"b\\195\\188cher.example.org", "b\\195\\188cher.example.org."}, // escaped octets stay octets
		{"a\\032b.example.org", "a\\ b.example.org."},                   // a space as miekg/dns prints it
		{strings.Repeat("a", 63) + ".example.org", strings.Repeat("a", 63) + ".example.org."},
	}
	for _, tc := range tests {
		got, err := queryName(tc.written)
		if err != nil || got != tc.want {
			t.Errorf("%q: %q, %v; want %q", tc.written, got, err, tc.want)
			continue
		}
		// A query for the name carries it in the same form.
		q := new(dns.Msg)
		q.SetQuestion(tc.want, dns.TypeA)
		wire, err := q.Pack()
		if err != nil {
			t.Fatal(err)
		}
		var r dns.Msg
		if err := r.Unpack(wire); err != nil || strings.ToLower(r.Question[0].Name) != got {
			t.Errorf("%q: a query presents %q, not %q", tc.written, r.Question[0].Name, got)
		}
	}
}

func TestSetupRefusesNamesNoQueryCanMatch(t *testing.T) {
	const ok = " {\nprimary 192.0.2.1\ncheck tcp://:80\n}"
	long := strings.Repeat("a", 64)
	label := strings.Repeat("a", 63)
	tests := []setupError{
		{"label over 63 octets", "failover " + long + ".example.org" + ok, "Testfile:1 - Error during parsing: '" + long + ".example.org': label '" + long + "' is 64 octets long, over the 63 a label may have"},
		{"escaped label over 63 octets", "failover " + strings.Repeat("\\097", 64) + ".example.org" + ok, "is 64 octets long, over the 63"},
		{"A-label over 63 octets", "failover " + strings.Repeat("ü", 60) + ".example.org" + ok, "' is 66 octets long, over the 63 a label may have"},
		{"name over 255 octets", "failover " + strings.Join([]string{label, label, label, label}, ".") + ".org" + ok, "is 261 octets long in wire format, over the 255 a domain name may have"},
		{"not UTF-8", "failover b\xfccher.example.org" + ok, "is not valid UTF-8: write a non-ASCII label as text (bücher.example.org) or as escaped octets"},
		{"disallowed code point", "failover a\ue000b.example.org" + ok, "label 'a\ue000b' is not a valid internationalized label: idna: disallowed rune U+E000"},
		{"leading combining mark", "failover \u0301ab.example.org" + ok, "is not a valid internationalized label"},
		{"leading hyphen in a U-label", "failover -bücher.example.org" + ok, "label '-bücher' is not a valid internationalized label"},
		{"empty label", "failover bücher..example.org" + ok, "is not a domain name"},
		{"U-label and A-label of one name", "failover bücher.example.org xn--bcher-kva.example.org" + ok, "name 'xn--bcher-kva.example.org.' is listed twice"},
		{"escaped and plain", "failover app.example.org \\097pp.example.org" + ok, "name 'app.example.org.' is listed twice"},
	}
	expectSetupErrors(t, tests)
}

// TestSetupHintsAtUTF8Zone checks the hint for a server block whose zone is in
// raw UTF-8: CoreDNS serves it as raw octets, so the failover name, now an
// A-label, falls outside it, and the way out is the zone's A-label.
func TestSetupHintsAtUTF8Zone(t *testing.T) {
	c := caddy.NewTestController("dns", "failover www.bücher.example {\nprimary 192.0.2.1\ncheck tcp://:80\n}")
	c.ServerBlockKeys = []string{"bücher.example:1053"}
	_, err := parse(c)
	if want := "name 'www.xn--bcher-kva.example.' is outside the zones of this server block (bücher.example.): no query for it would reach failover; CoreDNS takes the zone bücher.example. as raw octets, which no query carries: write it as xn--bcher-kva.example."; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want %q", err, want)
	}
	c = caddy.NewTestController("dns", "failover www.bücher.example {\nprimary 192.0.2.1\ncheck tcp://:80\n}")
	c.ServerBlockKeys = []string{"xn--bcher-kva.example:1053"}
	if _, err := parse(c); err != nil {
		t.Fatalf("U-label name in its A-label zone: %v", err)
	}
}

// TestOverrideTargetsTakeNamesAsSetupDoes checks that an override file names
// a pool of a U-label or escaped name as the Corefile does.
func TestOverrideTargetsTakeNamesAsSetupDoes(t *testing.T) {
	set := parseOverrides([]byte("Bücher.example.org/primary down\n\\097pp.example.org/secondary drain\n" + strings.Repeat("a", 64) + ".example.org/primary up\n"))
	if o := set.poolOverride("xn--bcher-kva.example.org.", "primary"); o == nil || o.line != 1 {
		t.Errorf("U-label target not found at its A-label: %v", set.describe())
	}
	if o := set.poolOverride("app.example.org.", "secondary"); o == nil || o.line != 2 {
		t.Errorf("escaped target not found unescaped: %v", set.describe())
	}
	if len(set.all) != 2 {
		t.Errorf("a target with a 64-octet label was taken: %v", set.describe())
	}
}

// TestSetupRefusesAlertLines checks the alert lines, and the token their
// webhook needs, as the block is read.
func TestSetupRefusesAlertLines(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	empty := filepath.Join(dir, "empty")
	large := filepath.Join(dir, "large")
	unreadable := filepath.Join(dir, "unreadable")
	for path, content := range map[string]string{token: "s3cret\n", empty: " \n", large: strings.Repeat("x", maxTokenFile+1), unreadable: "s3cret"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	block := func(lines string) string {
		return "failover app.example.org {\nprimary 192.0.2.1\nsecondary 192.0.2.2\ncheck tcp://:80\nstatus 127.0.0.1:8054\n" + lines + "}"
	}
	tests := []setupError{
		{"alert without status", "failover app.example.org {\nprimary 192.0.2.1\ncheck tcp://:80\nalert alertname=AppDown 192.0.2.1\nalert_token_file " + token + "\n}",
			"Testfile:4 - Error during parsing: 'alert' needs 'status ADDRESS' in the block: Alertmanager's webhook is served on the status listener"},
		{"alert without token", block("alert alertname=AppDown 192.0.2.1\n"),
			"Testfile:6 - Error during parsing: 'alert' needs 'alert_token_file FILE' in the block: an unauthenticated push could take any name's answers down"},
		{"token without alert", block("alert_token_file " + token + "\n"),
			"Testfile:6 - Error during parsing: 'alert_token_file' without an 'alert' line: no alert would apply"},
		{"token file missing", block("alert alertname=AppDown 192.0.2.1\nalert_token_file " + filepath.Join(dir, "none") + "\n"),
			"Testfile:7 - Error during parsing: 'alert_token_file' " + filepath.Join(dir, "none") + ": stat " + filepath.Join(dir, "none") + ": no such file or directory"},
		{"token file empty", block("alert alertname=AppDown 192.0.2.1\nalert_token_file " + empty + "\n"), "'alert_token_file' " + empty + ": the file holds no token"},
		{"token file large", block("alert alertname=AppDown 192.0.2.1\nalert_token_file " + large + "\n"), "'alert_token_file' " + large + ": larger than 4096 bytes"},
		{"token file a directory", block("alert alertname=AppDown 192.0.2.1\nalert_token_file " + dir + "\n"), "'alert_token_file' " + dir + ": read " + dir + ": is a directory"},
		{"token file twice", block("alert alertname=AppDown 192.0.2.1\nalert_token_file " + token + "\nalert_token_file " + token + "\n"), "'alert_token_file' is given twice"},
		{"no target", block("alert alertname=AppDown\n"), "Testfile:6 - Error during parsing: 'alert' takes LABEL=VALUE... TARGET"},
		{"target missing after matchers", block("alert alertname=AppDown severity=page\n"), "'alert' needs a TARGET after its matchers, an address or NAME/POOL, not 'severity=page'"},
		{"matcher without =", block("alert alertname 192.0.2.1\n"), "'alert' needs LABEL=VALUE matchers, such as alertname=AppDown, not 'alertname'"},
		{"matcher without value", block("alert alertname= 192.0.2.1\n"), "not 'alertname='"},
		{"matcher with a bad label", block("alert 1job=x 192.0.2.1\n"), "not '1job=x'"},
		{"matcher twice", block("alert job=a job=b 192.0.2.1\n"), "'alert' gives label 'job' twice"},
		{"address not in the block", block("alert alertname=AppDown 192.0.2.9\nalert_token_file " + token + "\n"),
			"Testfile:6 - Error during parsing: alert target 192.0.2.9 is not an address of this block's pools"},
		{"name not in the block", block("alert alertname=AppDown www.example.org/primary\nalert_token_file " + token + "\n"),
			"alert target 'www.example.org/primary' is not NAME/POOL of this block's names and pools"},
		{"pool not in the block", block("alert alertname=AppDown app.example.org/third\nalert_token_file " + token + "\n"),
			"alert target 'app.example.org/third' is not NAME/POOL of this block's names and pools"},
		{"target neither", block("alert alertname=AppDown primary\nalert_token_file " + token + "\n"),
			"alert target 'primary' is neither an IP address nor NAME/POOL"},
	}
	if os.Geteuid() != 0 { // root reads any file
		if err := os.Chmod(unreadable, 0); err != nil {
			t.Fatal(err)
		}
		tests = append(tests, setupError{"token file unreadable", block("alert alertname=AppDown 192.0.2.1\nalert_token_file " + unreadable + "\n"), "permission denied"})
	}
	expectSetupErrors(t, tests)

	ok := block("alert alertname=AppDown 192.0.2.1\nalert alertname=PrimaryDown \"summary=primary is down\" app.example.org/primary\nalert_token_file " + token + "\n")
	f, err := parse(caddy.NewTestController("dns", ok))
	if err != nil {
		t.Fatalf("%v:\n%s", err, ok)
	}
	b := f.blocks[0]
	if len(b.alerts) != 2 || b.alerts[1].matchers["summary"] != "primary is down" || b.alerts[1].pool != (poolTarget{"app.example.org.", "primary"}) ||
		b.alerts[0].addr != netip.MustParseAddr("192.0.2.1") || string(b.alertToken.current()) != "s3cret" {
		t.Errorf("alert lines read as %+v, token %q", b.alerts, b.alertToken.current())
	}
}
