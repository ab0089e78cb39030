package failover

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/miekg/dns"
	"golang.org/x/net/idna"
)

// Limits of RFC 1035, section 2.3.4.
const (
	maxLabelOctets = 63
	maxNameOctets  = 255
)

// queryName returns the name a query for arg presents, the way the snapshot
// is keyed: fully qualified, in lower case, escaped as miekg/dns prints a name
// it unpacks (so `\097pp` is `app`, and `a\.b` stays one label), each label
// written in raw UTF-8 converted to its A-label, as a client converts what its
// user typed. A name no query can present is refused with the reason.
func queryName(arg string) (string, error) {
	if arg == "" || strings.Contains(arg, "*") {
		return "", fmt.Errorf("'%s' is not a domain name (an exact name is expected, without wildcards)", arg)
	}
	name := arg
	if hasNonASCII(arg) {
		var err error
		if name, err = toALabels(arg); err != nil {
			return "", err
		}
	}
	name = dns.Fqdn(name)
	if err := checkLengths(arg, name); err != nil {
		return "", err
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return "", fmt.Errorf("'%s' is not a domain name (an exact name is expected, without wildcards)", arg)
	}
	// Through the wire format and back: escapes come out as a query shows them.
	wire := make([]byte, maxNameOctets)
	n, err := dns.PackDomainName(name, wire, 0, nil, false)
	if err != nil {
		return "", fmt.Errorf("'%s' is not a domain name: %v", arg, err)
	}
	presented, _, err := dns.UnpackDomainName(wire[:n], 0)
	if err != nil {
		return "", fmt.Errorf("'%s' is not a domain name: %v", arg, err)
	}
	return strings.ToLower(presented), nil
}

// toALabels converts each label of name that holds raw UTF-8 to its A-label.
// The Lookup profile, not Registration: it maps what a user may type
// (BÜCHER, full-width letters and dots) the way browsers and resolvers do
// (UTS #46, non-transitional, as libidn2 in BIND's dig), so the A-label is the
// one their queries carry; Registration refuses such input outright. ASCII
// labels are left alone: the Lookup profile's STD3 rules would refuse an
// underscore, which DNS allows.
func toALabels(name string) (string, error) {
	// Caddy's lexer reads the Corefile as UTF-8, and turns a byte that is not into U+FFFD.
	if !utf8.ValidString(name) || strings.ContainsRune(name, utf8.RuneError) {
		return "", fmt.Errorf("'%s' is not valid UTF-8: write a non-ASCII label as text (bücher.example.org) or as escaped octets (b\\195\\188cher.example.org)", name)
	}
	labels := dns.SplitDomainName(name)
	for i, label := range labels {
		if !hasNonASCII(label) {
			continue
		}
		a, err := idna.Lookup.ToASCII(label)
		if err != nil {
			return "", fmt.Errorf("'%s': label '%s' is not a valid internationalized label: %v", name, label, err)
		}
		labels[i] = a
	}
	return strings.Join(labels, "."), nil
}

// checkLengths refuses a label over 63 octets or a name over 255 in wire format.
func checkLengths(arg, name string) error {
	total := 1 // the root label
	for _, label := range dns.SplitDomainName(name) {
		n := labelOctets(label)
		if n > maxLabelOctets {
			return fmt.Errorf("'%s': label '%s' is %d octets long, over the %d a label may have", arg, label, n, maxLabelOctets)
		}
		total += 1 + n
	}
	if total > maxNameOctets {
		return fmt.Errorf("'%s' is %d octets long in wire format, over the %d a domain name may have", arg, total, maxNameOctets)
	}
	return nil
}

// labelOctets counts the octets of a label in presentation format, where \DDD
// and \X are one octet each.
func labelOctets(label string) int {
	n := 0
	for i := 0; i < len(label); i++ {
		if label[i] == '\\' {
			i++ // the escaped character
			if i+2 < len(label) && isDigit(label[i]) && isDigit(label[i+1]) && isDigit(label[i+2]) {
				i += 2
			}
		}
		n++
	}
	return n
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func hasNonASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// zoneHint tells how to write a server block's zone in raw UTF-8, which
// CoreDNS serves as written, where no query can match it; "" for none.
func zoneHint(zones []string) string {
	for _, z := range zones {
		if !hasNonASCII(z) {
			continue
		}
		if a, err := queryName(z); err == nil {
			return fmt.Sprintf("; CoreDNS takes the zone %s as raw octets, which no query carries: write it as %s", z, a)
		}
	}
	return ""
}
