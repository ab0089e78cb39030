package failover

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	pkgtls "github.com/coredns/coredns/plugin/pkg/tls"

	"github.com/failover-dns/failover/healthcheck"
)

// maxBodyLimit bounds body_limit: the probe reads at most this much of a body.
const maxBodyLimit = 1 << 20

// probeOption reads a property about how endpoints are probed (HTTP and TLS
// options) into s, and reports whether property is one.
func (p *blockParser) probeOption(s *healthcheck.Settings) (known bool, err error) {
	o := &s.HTTP
	switch p.property {
	case "expect_status":
		args := p.c.RemainingArgs()
		if len(args) == 0 {
			return true, p.c.Err("'expect_status' needs at least one status, range or class: expect_status 200 204 300-399 2xx")
		}
		for _, arg := range args {
			r, err := healthcheck.ParseStatus(arg)
			if err != nil {
				return true, p.c.Err(err.Error())
			}
			o.Status = append(o.Status, r)
		}
	case "expect_body":
		o.BodyContains, err = p.oneArg()
		if err == nil && o.BodyContains == "" {
			err = p.c.Err("'expect_body' needs a non-empty text")
		}
	case "body_limit":
		var arg string
		if arg, err = p.oneArg(); err == nil {
			n, convErr := strconv.Atoi(arg)
			if convErr != nil || n < 1 || n > maxBodyLimit {
				return true, p.c.Errf("'body_limit' needs a number of bytes from 1 to %d, not '%s'", maxBodyLimit, arg)
			}
			o.BodyLimit = n
		}
	case "method":
		var arg string
		if arg, err = p.oneArg(); err == nil {
			o.Method = strings.ToUpper(arg)
			if o.Method != http.MethodGet && o.Method != http.MethodHead {
				return true, p.c.Errf("'method' must be GET or HEAD, not '%s'", arg)
			}
		}
	case "header":
		args := p.c.RemainingArgs()
		if len(args) != 2 {
			return true, p.c.Err("'header' takes a name and a value: header NAME VALUE (quote a value with spaces)")
		}
		err = p.header(o, args[0], args[1])
	case "header_file":
		args := p.c.RemainingArgs()
		if len(args) != 2 {
			return true, p.c.Err("'header_file' takes a name and a file: header_file NAME FILE")
		}
		value, readErr := readSecret(args[1])
		if readErr != nil {
			return true, p.c.Errf("'header_file' %s: %v", args[0], readErr)
		}
		err = p.header(o, args[0], value)
	case "follow_redirects":
		o.FollowRedirects, err = true, p.noArgs()
	case "keepalive":
		o.KeepAlive, err = true, p.noArgs()
	case "tls":
		args := p.c.RemainingArgs()
		if len(args) > 3 {
			return true, p.c.Err("'tls' takes at most three arguments: tls [CERT KEY] [CA]")
		}
		cfg, tlsErr := pkgtls.NewTLSConfigFromArgs(args...)
		if tlsErr != nil {
			return true, p.c.Errf("'tls': %v", tlsErr)
		}
		p.tls, p.tlsArgs = cfg, args
	case "tls_servername":
		p.tlsServerName, err = p.oneArg()
	case "tls_insecure_skip_verify":
		p.tlsInsecure, err = true, p.noArgs()
	default:
		return false, nil
	}
	return true, err
}

// header adds one request header; Host names the service for every check.
func (p *blockParser) header(o *healthcheck.HTTPOptions, name, value string) error {
	if !validHeaderName(name) {
		return p.c.Errf("'%s' is not a valid header name", name)
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return p.c.Errf("the value of header %s must be one line", name)
	}
	o.AddHeader(name, value)
	return nil
}

// validHeaderName reports whether name is an HTTP token (RFC 9110, section 5.1).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// readSecret reads a header value from a file, as Kubernetes mounts secrets:
// the whole file, without its final line break.
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	value := strings.TrimRight(string(b), "\r\n")
	if value == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return value, nil
}

// settleProbeOptions checks the probe options against each other and the
// checks, once the whole block is read, and builds its TLS configuration.
func (p *blockParser) settleProbeOptions(b *block) error {
	s := &b.probe
	if s.HTTP.Method == http.MethodHead && s.HTTP.BodyContains != "" {
		return errAt(p.c, p.seen["expect_body"], "'expect_body' needs a body, and 'method HEAD' gets none")
	}
	if _, ok := p.seen["body_limit"]; ok && s.HTTP.BodyContains == "" {
		return errAt(p.c, p.seen["body_limit"], "'body_limit' bounds the search of 'expect_body', which this block does not have")
	}
	httpOptions := []string{"expect_status", "expect_body", "body_limit", "method", "header", "header_file", "follow_redirects", "keepalive"}
	tlsOptions := []string{"tls", "tls_servername", "tls_insecure_skip_verify"}
	if err := p.needScheme(httpOptions, "http", "https"); err != nil {
		return err
	}
	if err := p.needScheme(tlsOptions, "https", "grpcs"); err != nil {
		return err
	}

	_, given := p.seen["tls"]
	if !given && p.tlsServerName == "" && !p.tlsInsecure {
		return nil // system roots, the check's host as the server name
	}
	cfg := p.tls
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.ServerName = p.tlsServerName
	cfg.InsecureSkipVerify = p.tlsInsecure
	s.TLS = cfg
	s.TLSIdentity = fmt.Sprintf("tls=%q servername=%q insecure=%t", p.tlsArgs, p.tlsServerName, p.tlsInsecure)
	b.insecureTLS = p.tlsInsecure
	return nil
}

// needScheme fails when one of properties is given but no check of the block
// uses any of schemes: the option would be ignored.
func (p *blockParser) needScheme(properties []string, schemes ...string) error {
	for _, c := range p.checks {
		for _, scheme := range schemes {
			if c.Scheme == scheme {
				return nil
			}
		}
	}
	for _, property := range properties {
		if line, ok := p.seen[property]; ok {
			return errAt(p.c, line, "'%s' applies to %s checks, and this block has none", property, strings.Join(schemes, " and "))
		}
	}
	return nil
}

// noArgs fails when the current property has arguments.
func (p *blockParser) noArgs() error {
	if args := p.c.RemainingArgs(); len(args) > 0 {
		return p.c.Errf("'%s' takes no arguments", p.property)
	}
	return nil
}
