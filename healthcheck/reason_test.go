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
		err  error
		want string
	}{
		{nil, ""},
		{statusError(503), "status 503"},
		{parse("SSH-2.0-OpenSSH_9.6\r\n"), "malformed HTTP response"},
		{parse("HTTP/1.1 2x0 OK\r\n\r\n"), "malformed HTTP response"},
		{parse("HTTP/1.1 200 OK\r\nno colon\r\n\r\n"), "malformed HTTP response"},
		{parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), "malformed HTTP response"},
		{fromClient(errors.New("net/http: server response headers exceeded 65536 bytes; aborted")), "response headers too large"},
		// A reset mid-line: the client parsed the partial line; the prober adds the reset.
		{fmt.Errorf("%w: %w", parse("HTTP/1.1 200 OK\r\nContent-Le"), reset), "connection reset"},
		{x509.CertificateInvalidError{Reason: x509.Expired, Detail: "current time is after"}, "tls: certificate has expired or is not yet valid"},
		{fromClient(errors.New("something new\nand a second line")), "something new"},
		{fromClient(errors.New(strings.Repeat("long ", 100))), strings.Repeat("long ", 100)[:maxReason-3] + "..."},
	}
	for _, tc := range tests {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
