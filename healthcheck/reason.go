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

// Reason says in a few words why a probe failed, for logs and the status
// endpoint: "connection refused", "status 503", "timeout". It is one line of at
// most maxReason bytes: errors can quote what the endpoint sent.
func Reason(err error) string {
	if err == nil {
		return "" // before explain, whose targets for errors.As are allocated on every call
	}
	_, text := explain(err)
	return short(text)
}

// Class sorts a probe failure into one of Classes, for metric labels: unlike
// Reason, it never carries an address, a port, a status code or text the
// endpoint sent, so a thousand distinct failures make a handful of series.
func Class(err error) string {
	if err == nil {
		return ""
	}
	class, _ := explain(err)
	return class
}

// Classes are every value Class returns for a failed probe.
var Classes = []string{
	ClassTimeout, ClassRefused, ClassReset, ClassClosed, ClassUnreachable, ClassMalformed,
	ClassTLS, ClassStatus, ClassBody, ClassRedirect, ClassRcode, ClassDNS, ClassGRPC, ClassOther,
}

// The classes of probe failures.
const (
	ClassTimeout     = "timeout"     // no answer within the timeout
	ClassRefused     = "refused"     // nothing listens on the port
	ClassReset       = "reset"       // the connection was reset
	ClassClosed      = "closed"      // the connection was closed before a whole answer
	ClassUnreachable = "unreachable" // no route to the host or network
	ClassMalformed   = "malformed"   // an answer that is not HTTP, or headers too large
	ClassTLS         = "tls"         // a handshake or certificate failure
	ClassStatus      = "status"      // an HTTP status that does not pass
	ClassBody        = "body"        // a body without the expected text
	ClassRedirect    = "redirect"    // a redirect that cannot be followed
	ClassRcode       = "rcode"       // a DNS reply with a failing rcode
	ClassDNS         = "dns"         // a DNS reply that does not answer the question
	ClassGRPC        = "grpc"        // a gRPC health answer other than SERVING, or a failed RPC
	ClassOther       = "other"
)

// explain returns the class and the text of a probe failure; "", "" for nil.
func explain(err error) (class, text string) {
	var (
		status   statusError
		body     bodyError
		rcode    rcodeError
		serving  servingError
		rpc      rpcError
		netErr   net.Error
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		recErr   tls.RecordHeaderError
		redirect redirectError
	)
	switch {
	case err == nil:
		return "", ""
	case errors.As(err, &status):
		return ClassStatus, status.Error()
	case errors.As(err, &body):
		return ClassBody, body.Error()
	case errors.As(err, &rcode):
		return ClassRcode, rcode.Error()
	case errors.As(err, &serving):
		return ClassGRPC, serving.Error()
	case errors.As(err, &rpc):
		return ClassGRPC, rpc.Error()
	case errors.Is(err, errTruncatedTCP), errors.Is(err, errNotResponse), errors.Is(err, errWrongQuestion):
		return ClassDNS, dnsText(err)
	case errors.As(err, &redirect):
		return ClassRedirect, redirect.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return ClassTimeout, "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassRefused, "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return ClassReset, "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return ClassUnreachable, "no route to " + unreachable(err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ClassClosed, "connection closed"
	case malformed(err):
		return ClassMalformed, "malformed HTTP response"
	case strings.Contains(err.Error(), "response headers exceeded"):
		return ClassMalformed, "response headers too large"
	case errors.As(err, &hostname):
		return ClassTLS, "tls: certificate is not valid for " + hostname.Host
	case errors.As(err, &unknown):
		return ClassTLS, "tls: certificate signed by unknown authority"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return ClassTLS, "tls: certificate has expired or is not yet valid"
	case errors.As(err, &invalid):
		return ClassTLS, "tls: invalid certificate: " + invalid.Error()
	case errors.As(err, &certErr):
		return ClassTLS, "tls: " + certErr.Err.Error()
	case errors.As(err, &recErr):
		return ClassTLS, "tls: endpoint does not speak TLS"
	case isTLSAlert(err):
		return ClassTLS, "tls: " + unwrapURL(err).Error()
	}
	return ClassOther, unwrapURL(err).Error()
}

// dnsText is the text of a DNS reply that does not answer the question.
func dnsText(err error) string {
	for _, known := range []error{errTruncatedTCP, errNotResponse, errWrongQuestion} {
		if errors.Is(err, known) {
			return known.Error()
		}
	}
	return err.Error()
}

// unreachable says which host or network an unreachable error names, if any.
func unreachable(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Addr != nil {
		return op.Addr.String()
	}
	return "host"
}

// isTLSAlert reports whether err is an alert the endpoint's TLS stack sent:
// "remote error: tls: handshake failure", which has no exported type.
func isTLSAlert(err error) bool {
	return strings.Contains(err.Error(), "remote error: tls:")
}

// unwrapURL strips what the HTTP client adds around an error: the URL is in
// the log line already, so the text says only what went wrong.
func unwrapURL(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	msg := strings.TrimPrefix(err.Error(), "net/http: HTTP/1.x transport connection broken: ")
	return errors.New(msg)
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
