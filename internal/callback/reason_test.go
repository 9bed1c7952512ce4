package callback

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReason: every way a delivery fails maps to a category that names no
// address, port or path.
func TestReason(t *testing.T) {
	t.Parallel()
	dial := func(err error) error {
		return fmt.Errorf("POST the callback: %w", &net.OpError{Op: "dial", Net: "tcp",
			Addr: net.TCPAddrFromAddrPort(netip.MustParseAddrPort("203.0.113.9:8443")), Err: err})
	}
	tests := []struct {
		name   string
		status int
		err    error
		want   string
	}{
		{"refused", 0, dial(os.NewSyscallError("connect", syscall.ECONNREFUSED)), ReasonConnectRefused},
		{"dial timeout", 0, dial(os.ErrDeadlineExceeded), ReasonTimeout},
		{"context deadline", 0, fmt.Errorf("POST the callback: %w", context.DeadlineExceeded), ReasonTimeout},
		{"blocked at dial", 0, dial(fmt.Errorf("%w: 10.0.0.7", ErrPrivateTarget)), ReasonBlockedAddress},
		{"blocked at check", 0, fmt.Errorf("callback_url: %w: 10.0.0.7", ErrPrivateTarget), ReasonBlockedAddress},
		{"dns", 0, dial(&net.DNSError{Err: "no such host", Name: "h.example", IsNotFound: true}), ReasonDNS},
		{"tls record", 0, fmt.Errorf("POST the callback: %w", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), ReasonTLS},
		{"tls verify", 0, fmt.Errorf("POST the callback: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), ReasonTLS},
		{"tls hostname", 0, fmt.Errorf("POST the callback: %w", x509.HostnameError{Host: "h.example", Certificate: &x509.Certificate{}}), ReasonTLS},
		{"reset", 0, fmt.Errorf("POST the callback: %w", os.NewSyscallError("read", syscall.ECONNRESET)), ReasonConnectionLost},
		{"eof", 0, fmt.Errorf("POST the callback: %w", io.EOF), ReasonConnectionLost},
		{"5xx", 503, errors.New("the receiver answered HTTP 503"), ReasonHTTP5xx},
		{"4xx", 404, errors.New("the receiver answered HTTP 404"), ReasonHTTP4xx},
		{"redirect", 302, errors.New("the receiver answered HTTP 302"), ReasonHTTP3xx},
		{"no secret", 0, fmt.Errorf("this worker cannot sign: %w", ErrNoSecret), ReasonNoSecret},
		{"bad url", 0, errors.New("callback_url: must be https:// (or http://), got \"ftp://\""), ReasonOther},
		{"delivered", 204, nil, ""},
	}
	for _, tt := range tests {
		if got := Reason(tt.status, tt.err); got != tt.want {
			t.Errorf("%s: Reason(%d, %v) = %q, want %q", tt.name, tt.status, tt.err, got, tt.want)
		}
	}
}

// TestReasonOfRealFailures: what Send returns for a refused connection and a
// receiver that does not answer in time maps to its category.
func TestReasonOfRealFailures(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/secret-token"
	_ = ln.Close()
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
	defer slow.Close()
	defer close(block)
	s, err := New(Config{Secret: "k3y", AllowPrivate: true, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for url, want := range map[string]string{refused: ReasonConnectRefused, slow.URL + "/hook": ReasonTimeout} {
		code, err := s.Send(context.Background(), url, "", Event{ID: "x"})
		if got := Reason(code, err); got != want || strings.Contains(got, "127.0.0.1") {
			t.Errorf("%s: Reason(%d, %v) = %q, want %q", url, code, err, got, want)
		}
	}
}
