package healthcheck

import (
	"strings"
	"testing"
)

func TestParseCheck(t *testing.T) {
	good := []struct {
		in                 string
		scheme, host, path string
		port               uint16
	}{
		{"http://:8080/health", "http", "", "/health", 8080},
		{"http://", "http", "", "/", 80},
		{"http:///healthz", "http", "", "/healthz", 80},
		{"https://app.example.org/status?full=1", "https", "app.example.org", "/status?full=1", 443},
		{"https://app.example.org:8443", "https", "app.example.org", "/", 8443},
		{"http://[2001:db8::1]:81/x", "http", "2001:db8::1", "/x", 81},
		{"tcp://:5432", "tcp", "", "", 5432},
	}
	for _, tc := range good {
		c, err := ParseCheck(tc.in)
		if err != nil {
			t.Errorf("ParseCheck(%q): unexpected error %v", tc.in, err)
			continue
		}
		if c.Scheme != tc.scheme || c.Host != tc.host || c.Path != tc.path || c.Port != tc.port {
			t.Errorf("ParseCheck(%q) = %+v, want scheme %q host %q path %q port %d", tc.in, c, tc.scheme, tc.host, tc.path, tc.port)
		}
		if c.String() != tc.in {
			t.Errorf("String() = %q, want %q", c.String(), tc.in)
		}
	}

	bad := []badCheck{
		{"ftp://:21", `unsupported scheme "ftp"`},
		{"udp://:53", `unsupported scheme "udp"`},
		{"example.org/health", "want http://"},
		{"http:/health", "want http://"},
		{"tcp://app.example.org:80", "a tcp check takes only a port"},
		{"tcp://:80/path", "a tcp check takes only a port"},
		{"tcp://", "a tcp check needs a port"},
		{"http://:0/", `bad port "0"`},
		{"http://:70000/", `bad port "70000"`},
		{"http://user:secret@:80/", "user information is not supported"},
		{"http://:80/#frag", "a fragment is not supported"},
		{"http://[::1/", "check URL"},
	}
	expectParseErrors(t, bad)
}

// badCheck is a check URL ParseCheck must refuse, with what its error says.
type badCheck struct{ in, want string }

func expectParseErrors(t *testing.T, bad []badCheck) {
	t.Helper()
	for _, tc := range bad {
		_, err := ParseCheck(tc.in)
		if err == nil {
			t.Errorf("ParseCheck(%q): expected an error", tc.in)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseCheck(%q) error %q, want it to contain %q", tc.in, err, tc.want)
		}
	}
}
