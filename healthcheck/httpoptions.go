package healthcheck

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// HTTPOptions are how http and https checks ask and what they accept. The
// zero value is a GET that passes on 200-399 and reads no body.
type HTTPOptions struct {
	Method          string        // GET or HEAD; "" for GET
	Status          []StatusRange // the statuses that pass; nil for 200-399
	BodyContains    string        // when set, the body must contain it ...
	BodyLimit       int           // ... within its first BodyLimit bytes; 0 for DefaultBodyLimit
	Header          http.Header   // added to every request; Host here names the service
	FollowRedirects bool          // follow redirects, on the endpoint itself
	KeepAlive       bool          // reuse connections between probes
	headerOrder     []string      // canonical header names, sorted: for String
}

// DefaultBodyLimit is how much of a body is searched for BodyContains: 5120
// bytes, as Route 53 does.
const DefaultBodyLimit = 5120

// maxRedirects bounds FollowRedirects, as net/http's client does.
const maxRedirects = 10

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ From, To int }

// ParseStatus parses one status argument: a code (204), a range (200-299) or a
// class (2xx).
func ParseStatus(arg string) (StatusRange, error) {
	bad := fmt.Errorf("'%s' is not a status code (200), range (200-299) or class (2xx)", arg)
	code := func(s string) (int, bool) {
		n, err := strconv.Atoi(s)
		return n, err == nil && n >= 100 && n <= 599 && len(s) == 3
	}
	if len(arg) == 3 && strings.HasSuffix(strings.ToLower(arg), "xx") {
		class, err := strconv.Atoi(arg[:1])
		if err != nil || class < 1 || class > 5 {
			return StatusRange{}, bad
		}
		return StatusRange{class * 100, class*100 + 99}, nil
	}
	from, to, isRange := strings.Cut(arg, "-")
	a, ok := code(from)
	if !ok {
		return StatusRange{}, bad
	}
	if !isRange {
		return StatusRange{a, a}, nil
	}
	b, ok := code(to)
	if !ok || b < a {
		return StatusRange{}, bad
	}
	return StatusRange{a, b}, nil
}

// passes reports whether status is one the options accept.
func (o *HTTPOptions) passes(status int) bool {
	if len(o.Status) == 0 {
		return status >= 200 && status <= 399
	}
	for _, r := range o.Status {
		if status >= r.From && status <= r.To {
			return true
		}
	}
	return false
}

func (o *HTTPOptions) method() string {
	if o.Method == "" {
		return http.MethodGet
	}
	return o.Method
}

func (o *HTTPOptions) bodyLimit() int {
	if o.BodyLimit == 0 {
		return DefaultBodyLimit
	}
	return o.BodyLimit
}

// AddHeader adds a request header, in the order String reports them.
func (o *HTTPOptions) AddHeader(name, value string) {
	if o.Header == nil {
		o.Header = http.Header{}
	}
	o.Header.Add(name, value)
	name = http.CanonicalHeaderKey(name)
	if !slices.Contains(o.headerOrder, name) {
		o.headerOrder = append(o.headerOrder, name)
		slices.Sort(o.headerOrder)
	}
}

// identity describes the options canonically, so that endpoints probed with
// the same options share their probes. Never logged: header values may be secrets.
func (o HTTPOptions) identity() string {
	var b strings.Builder
	fmt.Fprintf(&b, "method=%s status=%v body=%q/%d redirects=%t keepalive=%t headers=",
		o.method(), o.Status, o.BodyContains, o.bodyLimit(), o.FollowRedirects, o.KeepAlive)
	for _, name := range o.headerOrder {
		fmt.Fprintf(&b, "%s:%q;", name, o.Header[name])
	}
	return b.String()
}
