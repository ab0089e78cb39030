package healthcheck

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Check is a parsed check URL: how to ask an endpoint whether it is healthy.
//
// The probe always connects to the endpoint's own address. Host, when set, only
// names the service on it: it is sent as the HTTP Host header and the TLS server
// name, the way `curl --resolve` does.
type Check struct {
	Scheme string // "http", "https" or "tcp"
	Host   string // optional, http(s) only
	Port   uint16
	Path   string // request path and query, http(s) only; "/" when the URL has none

	raw string
}

// ParseCheck parses a check URL: http://[HOST][:PORT][/PATH],
// https://[HOST][:PORT][/PATH] or tcp://:PORT.
func ParseCheck(raw string) (*Check, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("check URL %q: %w", raw, errors.Unwrap(err))
	}
	if !strings.HasPrefix(raw, u.Scheme+"://") {
		return nil, fmt.Errorf("check URL %q: want http://[HOST][:PORT][/PATH], https://[HOST][:PORT][/PATH] or tcp://:PORT", raw)
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
	default:
		return nil, fmt.Errorf("check URL %q: unsupported scheme %q (want http, https or tcp)", raw, u.Scheme)
	}

	c.Port = defaultPort
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("check URL %q: bad port %q", raw, p)
		}
		c.Port = uint16(n)
	}
	if c.Scheme != "tcp" {
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

// String returns the URL as the user wrote it.
func (c *Check) String() string { return c.raw }
