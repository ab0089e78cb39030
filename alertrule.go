package failover

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coredns/coredns/core/dnsserver"
)

// alertRule is one `alert LABEL=VALUE... TARGET` line of a block: a firing
// alert that has every one of its labels, with those values, counts TARGET
// down (alertstore.go).
type alertRule struct {
	matchers map[string]string // label -> value
	target   string            // as written
	addr     netip.Addr        // of an address target
	pool     poolTarget        // of a NAME/POOL target
	line     int
}

// matches reports whether labels have every label of r, with its value.
func (r *alertRule) matches(labels map[string]string) bool {
	for k, v := range r.matchers {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// alertLine reads `alert LABEL=VALUE... TARGET`. The target is checked once
// the whole block is read (settleAlerts): its pools may come after.
func (p *blockParser) alertLine(b *block) error {
	args := p.c.RemainingArgs()
	if len(args) < 2 {
		return p.c.Err("'alert' takes LABEL=VALUE... TARGET: alert alertname=AppDown 192.0.2.10")
	}
	r := alertRule{matchers: map[string]string{}, target: args[len(args)-1], line: p.c.Line()}
	for _, arg := range args[:len(args)-1] {
		label, value, ok := strings.Cut(arg, "=")
		if !ok || !isLabelName(label) || value == "" {
			return p.c.Errf("'alert' needs LABEL=VALUE matchers, such as alertname=AppDown, not '%s'", arg)
		}
		if _, dup := r.matchers[label]; dup {
			return p.c.Errf("'alert' gives label '%s' twice", label)
		}
		r.matchers[label] = value
	}
	if strings.Contains(r.target, "=") {
		return p.c.Errf("'alert' needs a TARGET after its matchers, an address or NAME/POOL, not '%s'", r.target)
	}
	b.alerts = append(b.alerts, r)
	return nil
}

// isLabelName reports whether s is a Prometheus label name.
func isLabelName(s string) bool {
	for i, c := range s {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}

// alertTokenFile reads `alert_token_file FILE`, and the token in it now: a
// configuration whose webhook no one could use is refused.
func (p *blockParser) alertTokenFile() (*tokenFile, error) {
	path, err := p.oneArg()
	if err != nil {
		return nil, err
	}
	if root := dnsserver.GetConfig(p.c).Root; !filepath.IsAbs(path) && root != "" {
		path = filepath.Join(root, path)
	}
	t := &tokenFile{path: filepath.Clean(path)}
	if err := t.load(); err != nil {
		return nil, p.c.Errf("'alert_token_file' %s: %s", t.path, err)
	}
	return t, nil
}

// settleAlerts checks the alert lines once the whole block is read: their
// targets must be the block's, and the webhook they feed needs the status
// listener and a token.
func (p *blockParser) settleAlerts(b *block) error {
	tokenLine, hasToken := p.seen["alert_token_file"]
	if len(b.alerts) == 0 {
		if hasToken {
			return errAt(p.c, tokenLine, "'alert_token_file' without an 'alert' line: no alert would apply")
		}
		return nil
	}
	first := b.alerts[0].line
	switch {
	case b.status == "":
		return errAt(p.c, first, "'alert' needs 'status ADDRESS' in the block: Alertmanager's webhook is served on the status listener")
	case !hasToken:
		return errAt(p.c, first, "'alert' needs 'alert_token_file FILE' in the block: an unauthenticated push could take any name's answers down")
	}
	for i := range b.alerts {
		r := &b.alerts[i]
		t, isPool, problem := parsePoolTarget(r.target)
		switch {
		case problem != "":
			return errAt(p.c, r.line, "alert target %s", problem)
		case isPool:
			if !b.governs(t.name) || !b.hasPool(t.pool) {
				return errAt(p.c, r.line, "alert target '%s' is not NAME/POOL of this block's names and pools", r.target)
			}
			r.pool = t
			continue
		}
		addr, err := netip.ParseAddr(r.target)
		if err != nil || addr.Zone() != "" {
			return errAt(p.c, r.line, "alert target '%s' is neither an IP address nor NAME/POOL", r.target)
		}
		r.addr = addr.Unmap()
		if !b.hasAddr(r.addr) {
			return errAt(p.c, r.line, "alert target %s is not an address of this block's pools", r.addr)
		}
	}
	return nil
}

func (b *block) hasPool(name string) bool {
	for _, p := range b.pools {
		if p.name == name {
			return true
		}
	}
	return false
}

func (b *block) hasAddr(addr netip.Addr) bool {
	for _, p := range b.pools {
		if p.has(addr) {
			return true
		}
	}
	return false
}

// tokenFile is the bearer token Alertmanager must send, read from a file.
// It is read again when the file's size or modification time changes, so
// that the token can be rotated without a reload (a Kubernetes Secret volume
// swaps a symlink: Stat follows it).
type tokenFile struct {
	path string

	mu      sync.Mutex
	token   []byte // nil while the file holds no token
	size    int64
	modTime time.Time
	problem string // why the file holds no token, logged once
}

// maxTokenFile bounds a token file: a token is tens of bytes; a larger file
// is the wrong file.
const maxTokenFile = 4 << 10

// load reads the token. A file that is missing, unreadable, empty (once
// trimmed of white space) or larger than maxTokenFile is an error.
func (t *tokenFile) load() error {
	fi, err := os.Stat(t.path)
	if err != nil {
		return err
	}
	content, err := readBounded(t.path, maxTokenFile)
	if err != nil {
		return err
	}
	token := bytes.TrimSpace(content)
	if len(token) == 0 {
		return errEmptyToken
	}
	t.token, t.size, t.modTime = token, fi.Size(), fi.ModTime()
	return nil
}

// current returns the token, read again if the file changed; nil while the
// file is missing, unreadable or empty. Then no notification is taken (the
// alerts in force stay; Alertmanager retries): emptying the file revokes the
// token, and a token half written is never taken.
func (t *tokenFile) current() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	fi, err := os.Stat(t.path)
	if err == nil && t.token != nil && fi.Size() == t.size && fi.ModTime().Equal(t.modTime) {
		return t.token
	}
	if err == nil {
		err = t.load()
	}
	if err != nil {
		t.token = nil
		if msg := err.Error(); msg != t.problem { // logged once, not at each request
			t.problem = msg
			log.Errorf("alert_token_file %s: %s; Alertmanager's notifications are refused until it holds a token", t.path, msg)
		}
		return nil
	}
	if t.problem != "" {
		t.problem = ""
		log.Infof("alert_token_file %s holds a token again", t.path)
	}
	return t.token
}

type tokenError string

func (e tokenError) Error() string { return string(e) }

const errEmptyToken = tokenError("the file holds no token")
