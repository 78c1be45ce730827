package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/fifthwheel/fifthwheel/codes"
)

// ErrorKind says what kind of connection failure an error is: what the AV
// stack, and the people who look after the truck, must do about it. Kinds
// are never guessed: a certificate refusal is reported as revoked only with
// the CA's signed CRL listing it, and otherwise as what can be proven.
type ErrorKind string

// The connection error kinds.
const (
	// KindRevoked: the truck's certificate is revoked (the gateway closed
	// the session for it, or the issuer's CRL lists it). An operator must
	// re-enroll the truck.
	KindRevoked ErrorKind = "revoked"
	// KindExpired: the truck's certificate is outside its validity period
	// (renewal came too late, or the clock is wrong). An operator must
	// re-enroll the truck, or fix its clock.
	KindExpired ErrorKind = "expired"
	// KindNotEnrolled: the gateway does not know this truck, its
	// certificate's issuer or its frame-signing key. An operator must
	// enroll it or register the key.
	KindNotEnrolled ErrorKind = "not_enrolled"
	// KindSuspended: the truck is enrolled but suspended or retired by an
	// operator.
	KindSuspended ErrorKind = "suspended"
	// KindNetwork: the gateway could not be reached or the link failed
	// (including the gateway declaring comm loss, shutting down, being
	// temporarily unable to check, or a newer session of this truck taking
	// over). Retried with backoff.
	KindNetwork ErrorKind = "network"
	// KindProtocol: one side broke the protocol: the gateway refused what
	// the truck sent (a bad signature, a wrong nonce, a clock outside the
	// skew), or the gateway's answers failed the truck's checks (its TLS
	// certificate or frame signatures). A software, configuration or
	// security problem; retried with backoff, and worth an alert.
	KindProtocol ErrorKind = "protocol"
)

// Sentinel errors for errors.Is: a *ConnError matches the one of its Kind.
var (
	ErrRevoked     = errors.New("agent: certificate revoked")
	ErrExpired     = errors.New("agent: certificate expired or not yet valid")
	ErrNotEnrolled = errors.New("agent: not enrolled")
	ErrSuspended   = errors.New("agent: vehicle suspended")
	ErrNetwork     = errors.New("agent: network")
	ErrProtocol    = errors.New("agent: protocol")
)

var kindSentinel = map[ErrorKind]error{
	KindRevoked: ErrRevoked, KindExpired: ErrExpired, KindNotEnrolled: ErrNotEnrolled,
	KindSuspended: ErrSuspended, KindNetwork: ErrNetwork, KindProtocol: ErrProtocol,
}

// ConnError is a typed connection failure. Match it with errors.Is against
// ErrRevoked, ErrExpired, ErrNotEnrolled, ErrSuspended, ErrNetwork and
// ErrProtocol, or with errors.As to read Kind and Code.
type ConnError struct {
	Kind ErrorKind
	// Code is the stable reason code the gateway or TLS gave, when there
	// is one: a code of package codes (docs/PROTOCOL.md), such as
	// codes.SessionClosedRevoked, codes.VehicleUnknown,
	// codes.TLSBadCertificate or codes.CommLost, or one of the agent's own
	// (CodeTLSAlert, CodeGatewayCertUntrusted, CodeBadPKIResponse,
	// CodeBadBatchResponse) for what it found wrong with the gateway's
	// answers.
	Code string
	// Err is the underlying cause, for logs.
	Err error
	// RetryAfter is the gateway's Retry-After on a 429 or 503 refusal
	// (rate limited, overloaded, shutting down): the agent waits at least
	// this long (at most maxRetryAfter) before it dials again.
	RetryAfter time.Duration
}

// The agent's own reason codes: what it found wrong with the gateway's
// answers. The gateway never sends them; its codes are package codes'.
const (
	// CodeTLSAlert: the authenticated gateway sent a TLS alert the agent
	// has no more specific code for.
	CodeTLSAlert = "tls_alert"
	// CodeGatewayCertUntrusted: the gateway's TLS certificate did not
	// verify against the pinned fleet CA or name.
	CodeGatewayCertUntrusted = "gateway_cert_untrusted"
	// CodeBadPKIResponse: an enrollment or renewal answer without a usable
	// certificate for this vehicle and key.
	CodeBadPKIResponse = "bad_pki_response"
	// CodeBadBatchResponse: a batch answer without one well-formed result
	// per frame.
	CodeBadBatchResponse = "bad_batch_response"
)

func (e *ConnError) Error() string {
	s := "agent: " + string(e.Kind)
	if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ConnError) Unwrap() error { return e.Err }

// Is matches the sentinel of e's Kind.
func (e *ConnError) Is(target error) bool { return kindSentinel[e.Kind] == target }

func connErr(kind ErrorKind, code string, err error) *ConnError {
	return &ConnError{Kind: kind, Code: code, Err: err}
}

// KindOf returns the kind of err if it is or wraps a *ConnError, and "".
func KindOf(err error) ErrorKind {
	var ce *ConnError
	if errors.As(err, &ce) {
		return ce.Kind
	}
	return ""
}

// catalogueKinds maps the catalogue's kinds (package codes) to error kinds.
var catalogueKinds = map[codes.Kind]ErrorKind{
	codes.KindTransient: KindNetwork, codes.KindProtocol: KindProtocol, codes.KindNotEnrolled: KindNotEnrolled,
	codes.KindSuspended: KindSuspended, codes.KindRevoked: KindRevoked, codes.KindExpired: KindExpired,
}

// codeKind returns the kind of a reason code the gateway sent (a close
// reason or a problem+json code), as the catalogue says. ok is false for a
// code the catalogue does not know (a newer gateway's): the caller then
// goes by the close or HTTP status.
func codeKind(code string) (k ErrorKind, ok bool) {
	e, _ := codes.Lookup(code)
	k, ok = catalogueKinds[e.Kind]
	return k, ok
}

// classifyClose maps a WebSocket close from the gateway to a *ConnError.
func classifyClose(ce websocket.CloseError) *ConnError {
	code := ce.Reason
	if k, ok := codeKind(code); ok {
		return connErr(k, code, ce)
	}
	switch ce.Code {
	case CloseRevoked:
		return connErr(KindRevoked, nonEmpty(code, codes.SessionClosedRevoked), ce)
	case CloseProtocol, CloseRefused:
		return connErr(KindProtocol, code, ce)
	}
	return connErr(KindNetwork, code, ce)
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// classifyProblem maps an HTTP refusal (problem+json, RFC 9457) to a
// *ConnError. body is at most the first KiB of the response.
func classifyProblem(status int, body []byte, cause error) *ConnError {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &p)
	if k, ok := codeKind(p.Code); ok {
		return connErr(k, p.Code, cause)
	}
	switch {
	case status == http.StatusTooManyRequests || status >= 500:
		return connErr(KindNetwork, p.Code, cause)
	case status == http.StatusUnauthorized:
		return connErr(KindNotEnrolled, p.Code, cause)
	}
	return connErr(KindProtocol, p.Code, cause)
}

// TLS alert descriptions as crypto/tls reports a received alert (the
// error's text; the alert type is not exported).
const (
	alertBadCertificate = "tls: bad certificate"
	alertExpired        = "tls: expired certificate"
	alertRevoked        = "tls: revoked certificate"
	alertUnknownCA      = "tls: unknown certificate authority"
	alertCertRequired   = "tls: certificate required"
	alertProtocol       = "tls: protocol version not supported"
)

// remoteAlert returns the description of a TLS alert the authenticated
// gateway sent (a gatewayAlert: received after the TLS handshake
// completed, see gatewayRequest), or "". An alert received during the handshake, before the
// gateway proved its certificate, returns "": anyone on the path can send
// one, so it proves nothing and is classified as a network error.
func remoteAlert(err error) string {
	var ga *gatewayAlert
	if errors.As(err, &ga) {
		return ga.alert.Err.Error()
	}
	return ""
}

// classifyDial maps an error from dialing (TCP, TLS, HTTP upgrade) to a
// *ConnError. A TLS alert counts only from the authenticated gateway
// (remoteAlert); any other is a network error, retried with the normal
// backoff. revoked, when not nil, is asked whether the certificate is
// revoked, for a bad_certificate alert that could mean revocation or
// another refusal.
// retryAfter is the Retry-After of a 429 or 503 answer, in whole seconds
// (at most maxRetryAfter); 0 when there is none.
func retryAfter(resp *http.Response) time.Duration {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && secs > 0 {
		return min(time.Duration(secs)*time.Second, maxRetryAfter)
	}
	return 0
}

func classifyDial(ctx context.Context, err error, resp *http.Response, revoked func(context.Context) (bool, error)) *ConnError {
	if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		var body []byte
		if resp.Body != nil {
			body, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		}
		ce := classifyProblem(resp.StatusCode, body, err)
		ce.RetryAfter = retryAfter(resp)
		return ce
	}
	switch a := remoteAlert(err); {
	case a == alertExpired:
		return connErr(KindExpired, codes.TLSCertExpired, err)
	case a == alertRevoked:
		return connErr(KindRevoked, codes.TLSCertRevoked, err)
	case a == alertUnknownCA:
		return connErr(KindNotEnrolled, codes.TLSUnknownAuthority, err)
	case a == alertCertRequired:
		return connErr(KindNotEnrolled, codes.TLSNoClientCert, err)
	case a == alertProtocol:
		return connErr(KindProtocol, codes.TLSProtocolVersion, err)
	case a == alertBadCertificate:
		// The gateway refuses a revoked certificate, one of a kind not
		// allowed there, and any certificate while its revocation data is
		// stale with the same alert. Only the CA's signed CRL can say
		// which; without that proof the refusal is not called revocation.
		if revoked != nil {
			if r, cerr := revoked(ctx); cerr == nil && r {
				return connErr(KindRevoked, codes.TLSCertRevoked, err)
			}
		}
		return connErr(KindProtocol, codes.TLSBadCertificate, err)
	case a != "":
		return connErr(KindProtocol, CodeTLSAlert, err)
	}
	// Our own checks of the gateway's certificate.
	var uae x509.UnknownAuthorityError
	var cie x509.CertificateInvalidError
	var he x509.HostnameError
	var tve *tls.CertificateVerificationError
	if errors.As(err, &uae) || errors.As(err, &cie) || errors.As(err, &he) || errors.As(err, &tve) {
		return connErr(KindProtocol, CodeGatewayCertUntrusted, err)
	}
	if strings.Contains(err.Error(), "WebSocket protocol violation") || strings.Contains(err.Error(), "subprotocol") {
		return connErr(KindProtocol, codes.BadUpgrade, err)
	}
	return connErr(KindNetwork, "", err)
}
