package healthcheck

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Check is a parsed check URL: how to ask an endpoint whether it is healthy.
//
// The probe always connects to the endpoint's own address. Host, when set, only
// names the service on it, the way `curl --resolve` does: for http(s) it is
// sent as the Host header and the TLS server name, for grpc(s) as the
// :authority and the TLS server name.
type Check struct {
	Scheme string // "http", "https", "tcp", "dns", "grpc" or "grpcs"
	Host   string // optional, http(s) and grpc(s) only
	Port   uint16
	Path   string // request path and query, http(s) only; "/" when the URL has none

	Name     string // dns only: the name queried, fully qualified
	Qtype    uint16 // dns only: the type queried; A unless the URL says type=
	AnyRcode bool   // dns only: rcode=any, any reply passes, not only NOERROR
	Service  string // grpc(s) only: the service asked about; "" is the server as a whole

	raw string
}

// ParseCheck parses a check URL:
//
//	http://[HOST][:PORT][/PATH]
//	https://[HOST][:PORT][/PATH]
//	tcp://:PORT
//	dns://[HOST][:PORT]/NAME[?type=TYPE][&rcode=any]
//	grpc://[HOST]:PORT[/SERVICE]
//	grpcs://[HOST]:PORT[/SERVICE]
//
// As in every form, HOST never changes where the probe goes: a dns query goes
// to the endpoint's address. A dns check accepts a HOST for the uniform form
// and has no use for it.
func ParseCheck(raw string) (*Check, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("check URL %q: %w", raw, errors.Unwrap(err))
	}
	if !strings.HasPrefix(raw, u.Scheme+"://") {
		return nil, fmt.Errorf("check URL %q: want http://[HOST][:PORT][/PATH], https://[HOST][:PORT][/PATH], tcp://:PORT, dns://[HOST][:PORT]/NAME or grpc[s]://[HOST]:PORT[/SERVICE]", raw)
	}
	c := &Check{Scheme: u.Scheme, Host: u.Hostname(), raw: raw}
	if u.User != nil {
		return nil, fmt.Errorf("check URL %q: user information is not supported", raw)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("check URL %q: a fragment is not supported", raw)
	}

	var defaultPort uint16
	switch u.Scheme {
	case "http":
		defaultPort = 80
	case "https":
		defaultPort = 443
	case "tcp":
		if c.Host != "" || u.Path != "" || u.RawQuery != "" {
			return nil, fmt.Errorf("check URL %q: a tcp check takes only a port: tcp://:PORT", raw)
		}
		if u.Port() == "" {
			return nil, fmt.Errorf("check URL %q: a tcp check needs a port: tcp://:PORT", raw)
		}
	case "dns":
		defaultPort = 53
		if err := c.parseDNS(u); err != nil {
			return nil, fmt.Errorf("check URL %q: %w", raw, err)
		}
	case "grpc", "grpcs":
		if u.Port() == "" {
			return nil, fmt.Errorf("check URL %q: a %s check needs a port: %s://[HOST]:PORT[/SERVICE]", raw, u.Scheme, u.Scheme)
		}
		if u.RawQuery != "" {
			return nil, fmt.Errorf("check URL %q: a %s check takes no query: %s://[HOST]:PORT[/SERVICE]", raw, u.Scheme, u.Scheme)
		}
		c.Service = strings.TrimPrefix(u.Path, "/")
	default:
		return nil, fmt.Errorf("check URL %q: unsupported scheme %q (want http, https, tcp, dns, grpc or grpcs)", raw, u.Scheme)
	}

	c.Port = defaultPort
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("check URL %q: bad port %q", raw, p)
		}
		c.Port = uint16(n)
	}
	if c.Scheme == "http" || c.Scheme == "https" {
		c.Path = u.EscapedPath()
		if c.Path == "" {
			c.Path = "/"
		}
		if u.RawQuery != "" {
			c.Path += "?" + u.RawQuery
		}
	}
	return c, nil
}

// parseDNS sets the name, type and rcode rule of a dns check from u.
func (c *Check) parseDNS(u *url.URL) error {
	const form = "dns://[HOST][:PORT]/NAME[?type=TYPE][&rcode=any]"
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return fmt.Errorf("a dns check needs a name: %s", form)
	}
	if _, ok := dns.IsDomainName(name); !ok || strings.Contains(name, "/") {
		return fmt.Errorf("bad name %q", name)
	}
	c.Name, c.Qtype = dns.Fqdn(name), dns.TypeA

	options, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fmt.Errorf("bad query %q: %w", u.RawQuery, err)
	}
	for _, option := range slices.Sorted(maps.Keys(options)) { // the same error every time
		values := options[option]
		if len(values) > 1 {
			return fmt.Errorf("option %q given %d times", option, len(values))
		}
		v := values[0]
		switch option {
		case "type":
			t, ok := dns.StringToType[strings.ToUpper(v)]
			if !ok || t == dns.TypeNone {
				return fmt.Errorf("unknown type %q", v)
			}
			switch t {
			case dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeAXFR, dns.TypeIXFR:
				return fmt.Errorf("type %s cannot be probed: it is not a question with one answer", dns.TypeToString[t])
			}
			c.Qtype = t
		case "rcode":
			if !strings.EqualFold(v, "any") {
				return fmt.Errorf("bad rcode %q: want rcode=any, or no rcode for NOERROR only", v)
			}
			c.AnyRcode = true
		default:
			return fmt.Errorf("unknown option %q: want type or rcode", option)
		}
	}
	return nil
}

// String returns the URL as the user wrote it.
func (c *Check) String() string { return c.raw }
