package callback

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"syscall"
)

// Why a delivery failed, as a batch's status shows it (callback.last_error):
// coarse on purpose, since every token that may read the batch sees it. The
// error itself (addresses, ports) goes to the worker's log only.
const (
	ReasonConnectRefused = "connect_refused" // nothing accepted the connection
	ReasonTimeout        = "timeout"         // no connection or no answer in time
	ReasonTLS            = "tls"             // the TLS handshake or the certificate failed
	ReasonDNS            = "dns"             // the host name did not resolve
	ReasonBlockedAddress = "blocked_address" // the host is or resolved to a non-public address
	ReasonConnectionLost = "connection_lost" // the connection was reset or closed before an answer
	ReasonHTTP3xx        = "http_status_3xx" // a redirect, not followed; last_http_status has the code
	ReasonHTTP4xx        = "http_status_4xx" // last_http_status has the code
	ReasonHTTP5xx        = "http_status_5xx" // last_http_status has the code
	ReasonNoSecret       = "no_secret"       // the worker has no secret to sign with
	ReasonOther          = "error"           // anything else
)

// Reason is the category of a delivery's result: what Send returned (status and
// err), or what a caller met before sending. "" when delivered.
func Reason(status int, err error) string {
	if err == nil {
		return ""
	}
	switch {
	case status >= 500:
		return ReasonHTTP5xx
	case status >= 400:
		return ReasonHTTP4xx
	case status >= 300:
		return ReasonHTTP3xx
	}
	return networkReason(err)
}

func networkReason(err error) string {
	var (
		dns     *net.DNSError
		record  tls.RecordHeaderError
		verify  *tls.CertificateVerificationError
		alert   tls.AlertError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		ne      net.Error
	)
	switch {
	case errors.Is(err, ErrPrivateTarget):
		return ReasonBlockedAddress
	case errors.Is(err, ErrNoSecret):
		return ReasonNoSecret
	case errors.As(err, &dns):
		return ReasonDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonConnectRefused
	case errors.As(err, &record), errors.As(err, &verify), errors.As(err, &alert),
		errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid):
		return ReasonTLS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ReasonTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ReasonConnectionLost
	}
	return ReasonOther
}
