package healthcheck

import (
	"bufio"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/miekg/dns"
)

func TestReason(t *testing.T) {
	// What the HTTP client returns: the URL around what went wrong, and
	// sometimes its own words around that.
	fromClient := func(err error) error {
		return &url.Error{Op: "Get", URL: "http://192.0.2.1:80/", Err: fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w", err)}
	}
	parse := func(answer string) error {
		_, err := http.ReadResponse(bufio.NewReader(strings.NewReader(answer)), nil)
		if err == nil {
			t.Fatalf("%q parsed", answer)
		}
		return fromClient(err)
	}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}

	tests := []struct {
		err   error
		want  string
		class string
	}{
		{nil, "", ""},
		{statusError(503), "status 503", ClassStatus},
		{parse("SSH-2.0-OpenSSH_9.6\r\n"), "malformed HTTP response", ClassMalformed},
		{parse("HTTP/1.1 2x0 OK\r\n\r\n"), "malformed HTTP response", ClassMalformed},
		{parse("HTTP/1.1 200 OK\r\nno colon\r\n\r\n"), "malformed HTTP response", ClassMalformed},
		{parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), "malformed HTTP response", ClassMalformed},
		{fromClient(errors.New("net/http: server response headers exceeded 65536 bytes; aborted")), "response headers too large", ClassMalformed},
		// A reset mid-line: the client parsed the partial line; the prober adds the reset.
		{fmt.Errorf("%w: %w", parse("HTTP/1.1 200 OK\r\nContent-Le"), reset), "connection reset", ClassReset},
		{x509.CertificateInvalidError{Reason: x509.Expired, Detail: "current time is after"}, "tls: certificate has expired or is not yet valid", ClassTLS},
		{fromClient(errors.New("something new\nand a second line")), "something new", ClassOther},
		{fromClient(errors.New(strings.Repeat("long ", 100))), strings.Repeat("long ", 100)[:maxReason-3] + "...", ClassOther},
		{rcodeError(dns.RcodeServerFailure), "rcode SERVFAIL", ClassRcode},
		{fmt.Errorf("udp: %w", errWrongQuestion), "reply is not to the question asked", ClassDNS},
		{bodyError{"ok", 5120}, `body does not contain "ok" in its first 5120 bytes`, ClassBody},
		{redirectError("stopped after 10 redirects"), "stopped after 10 redirects", ClassRedirect},
		{&net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 80}, Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, "no route to 192.0.2.1:80", ClassUnreachable},
	}
	for _, tc := range tests {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
		if got := Class(tc.err); got != tc.class {
			t.Errorf("Class(%v) = %q, want %q", tc.err, got, tc.class)
		}
	}
}
