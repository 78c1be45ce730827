package agent

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/fifthwheel/fifthwheel/codes"
)

// TestConnErrorsAreNeverConfused: every gateway refusal maps to exactly one
// kind, and errors.Is matches only that kind.
func TestConnErrorsAreNeverConfused(t *testing.T) {
	// An alert the authenticated gateway sent: read after the TLS
	// handshake completed (gatewayRequest), as a real gateway's refusal of
	// the truck's certificate arrives.
	remote := func(alert string) error {
		return markGatewayAlert(&net.OpError{Op: "remote error", Err: errors.New(alert)})
	}
	// The same alert received during the handshake, before the gateway
	// proved anything: what an on-path attacker can inject.
	unauthenticated := func(alert string) error {
		return &net.OpError{Op: "remote error", Err: errors.New(alert)}
	}
	revokedCRL := func(context.Context) (bool, error) { return true, nil }
	noCRL := func(context.Context) (bool, error) { return false, errors.New("unreachable") }
	resp := func(status int, body string) *http.Response {
		return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body))}
	}
	for _, tc := range []struct {
		name string
		err  *ConnError
		want ErrorKind
		code string
	}{
		{"live session closed on revocation", classifyClose(websocket.CloseError{Code: CloseRevoked, Reason: "session_closed_revoked"}), KindRevoked, "session_closed_revoked"},
		{"handshake refused, CRL lists the certificate", classifyDial(context.Background(), remote(alertBadCertificate), nil, revokedCRL), KindRevoked, "tls_cert_revoked"},
		{"handshake refused, no CRL proof", classifyDial(context.Background(), remote(alertBadCertificate), nil, noCRL), KindProtocol, "tls_bad_certificate"},
		{"certificate expired (alert)", classifyDial(context.Background(), remote(alertExpired), nil, nil), KindExpired, "tls_cert_expired"},
		{"certificate from another CA", classifyDial(context.Background(), remote(alertUnknownCA), nil, nil), KindNotEnrolled, "tls_unknown_authority"},
		{"forged revoked alert before the handshake", classifyDial(context.Background(), unauthenticated(alertRevoked), nil, revokedCRL), KindNetwork, ""},
		{"forged expired alert before the handshake", classifyDial(context.Background(), unauthenticated(alertExpired), nil, nil), KindNetwork, ""},
		{"forged bad_certificate alert before the handshake", classifyDial(context.Background(), unauthenticated(alertBadCertificate), nil, revokedCRL), KindNetwork, ""},
		{"vehicle unknown", classifyClose(websocket.CloseError{Code: CloseRefused, Reason: "vehicle_unknown"}), KindNotEnrolled, "vehicle_unknown"},
		{"frame key unknown", classifyClose(websocket.CloseError{Code: CloseRefused, Reason: "unknown_kid"}), KindNotEnrolled, "unknown_kid"},
		{"vehicle suspended", classifyClose(websocket.CloseError{Code: CloseRefused, Reason: "vehicle_suspended"}), KindSuspended, "vehicle_suspended"},
		{"comm lost", classifyClose(websocket.CloseError{Code: CloseCommLost, Reason: "comm_lost"}), KindNetwork, "comm_lost"},
		{"superseded", classifyClose(websocket.CloseError{Code: CloseSuperseded, Reason: "session_superseded"}), KindNetwork, "session_superseded"},
		{"store down", classifyClose(websocket.CloseError{Code: CloseTryAgainLater, Reason: "store_unavailable"}), KindNetwork, "store_unavailable"},
		{"bad signature", classifyClose(websocket.CloseError{Code: CloseProtocol, Reason: "bad_signature"}), KindProtocol, "bad_signature"},
		{"clock skew", classifyClose(websocket.CloseError{Code: CloseProtocol, Reason: "clock_skew"}), KindProtocol, "clock_skew"},
		{"connection refused", classifyDial(context.Background(), &net.OpError{Op: "dial", Err: errors.New("connection refused")}, nil, nil), KindNetwork, ""},
		{"HTTP 429", classifyDial(context.Background(), errors.New("x"), resp(429, `{"code":"rate_limited"}`), nil), KindNetwork, "rate_limited"},
		{"HTTP 403 not a vehicle", classifyDial(context.Background(), errors.New("x"), resp(403, `{"code":"unauthenticated"}`), nil), KindNotEnrolled, "unauthenticated"},
		{"HTTP 503 no body", classifyDial(context.Background(), errors.New("x"), resp(503, ``), nil), KindNetwork, ""},
		{"renewal of a revoked certificate", classifyProblem(403, []byte(`{"code":"renew_cert_revoked"}`), nil), KindRevoked, "renew_cert_revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err.Kind != tc.want || tc.err.Code != tc.code {
				t.Fatalf("%v: kind %s code %q, want %s %q", tc.err, tc.err.Kind, tc.err.Code, tc.want, tc.code)
			}
			for k, sentinel := range kindSentinel {
				if got := errors.Is(tc.err, sentinel); got != (k == tc.want) {
					t.Fatalf("errors.Is(%s) = %v", k, got)
				}
			}
			if KindOf(tc.err) != tc.want {
				t.Fatal("KindOf")
			}
		})
	}
}

// TestEveryCatalogueCodeHasItsKind: the agent classifies each reason code
// the gateway sends as package codes says, whatever the close or HTTP
// status it came with, so the agent and the gateway cannot drift apart on
// what a truck does about a refusal; a code the catalogue does not know
// goes by its status.
func TestEveryCatalogueCodeHasItsKind(t *testing.T) {
	n := 0
	for _, e := range codes.All() {
		want, ok := catalogueKinds[e.Kind]
		if !ok {
			if e.Kind != "" {
				t.Errorf("%s: catalogue kind %q has no agent kind", e.Code, e.Kind)
			}
			continue
		}
		n++
		if got := classifyClose(websocket.CloseError{Code: CloseProtocol, Reason: e.Code}); got.Kind != want || got.Code != e.Code {
			t.Errorf("close 4004 %s: kind %s code %q, want %s", e.Code, got.Kind, got.Code, want)
		}
		if got := classifyProblem(http.StatusBadRequest, []byte(`{"code":"`+e.Code+`"}`), nil); got.Kind != want || got.Code != e.Code {
			t.Errorf("HTTP 400 %s: kind %s code %q, want %s", e.Code, got.Kind, got.Code, want)
		}
		if retryable(e.Code) != (want == KindNetwork) {
			t.Errorf("%s: a nack with it is retried: %v", e.Code, retryable(e.Code))
		}
	}
	if n < 60 {
		t.Fatalf("only %d codes with a kind", n)
	}
	for k := range kindSentinel {
		found := false
		for _, ak := range catalogueKinds {
			found = found || ak == k
		}
		if !found {
			t.Errorf("agent kind %s is no catalogue kind's", k)
		}
	}
	// Unknown codes go by their status.
	if got := classifyClose(websocket.CloseError{Code: CloseProtocol, Reason: "a_newer_code"}); got.Kind != KindProtocol {
		t.Errorf("unknown code on 4004: %s", got.Kind)
	}
	if got := classifyProblem(http.StatusServiceUnavailable, []byte(`{"code":"a_newer_code"}`), nil); got.Kind != KindNetwork {
		t.Errorf("unknown code on 503: %s", got.Kind)
	}
}
