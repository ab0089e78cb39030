package healthcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"strings"
	"syscall"
)

// Reason says in a few words why a probe failed, for logs: "connection refused",
// "status 503", "timeout". It is one line of at most maxReason bytes: errors
// can quote what the endpoint sent.
func Reason(err error) string { return short(reason(err)) }

func reason(err error) string {
	var (
		status   statusError
		netErr   net.Error
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		recErr   tls.RecordHeaderError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &status):
		return status.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case malformed(err):
		return "malformed HTTP response"
	case strings.Contains(err.Error(), "response headers exceeded"):
		return "response headers too large"
	case errors.As(err, &hostname):
		return "tls: certificate is not valid for " + hostname.Host
	case errors.As(err, &unknown):
		return "tls: certificate signed by unknown authority"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "tls: certificate has expired or is not yet valid"
	case errors.As(err, &invalid):
		return "tls: invalid certificate: " + invalid.Error()
	case errors.As(err, &certErr):
		return "tls: " + certErr.Err.Error()
	case errors.As(err, &recErr):
		return "tls: endpoint does not speak TLS"
	}
	// The URL is in the log line already; say only what went wrong.
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	return strings.TrimPrefix(err.Error(), "net/http: HTTP/1.x transport connection broken: ")
}

// malformed reports whether err is the HTTP client failing to parse the
// endpoint's answer. Most of these errors have no type; they quote the answer.
func malformed(err error) bool {
	var proto textproto.ProtocolError
	if errors.As(err, &proto) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "malformed HTTP") ||
		strings.Contains(msg, "Content-Length") ||
		strings.Contains(msg, "transfer encoding")
}

// short cuts a reason to its first line and to at most maxReason bytes.
func short(reason string) string {
	if i := strings.IndexAny(reason, "\r\n"); i >= 0 {
		reason = reason[:i]
	}
	if len(reason) > maxReason {
		reason = strings.ToValidUTF8(reason[:maxReason-3], "") + "..."
	}
	return reason
}

const maxReason = 200
