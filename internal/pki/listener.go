package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// ListenerConfig binds certificate profiles to a listener.
type ListenerConfig struct {
	// Name is the listener's name in events: "vehicle", "tms", "operator".
	Name string
	// Allowed lists the principal kinds that may connect.
	Allowed []principal.Kind
}

// ListenerDeps are the live collaborators of a listener's TLS config.
type ListenerDeps struct {
	Trust       *Trust         // the client CA pool: trusted intermediates only
	Revocations *RevocationSet // consulted for the leaf and its intermediate
	Events      event.Emitter
	// GetCertificate returns the gateway's server certificate.
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// Now, when set, is the clock for verification (tests only).
	Now func() time.Time
}

// ServerTLSConfig returns the tls.Config for a listener that admits the
// principal kinds in cfg.Allowed:
//
//   - TLS 1.3 only; a client certificate is required and verified by
//     crypto/tls against Trust's pool of intermediates (clientAuth EKU).
//   - VerifyConnection then, on full and resumed handshakes alike: checks
//     that the chain's anchor is still trusted and the leaf still valid (a
//     resumed session may predate a retirement or outlive its leaf), maps
//     VerifiedChains[0][0] to a principal, refuses a kind not allowed here,
//     and refuses a revoked leaf or intermediate, failing closed when the
//     RevocationSet is stale. Each refusal emits one event (class
//     authentication, activity tls_handshake) and returns a *HandshakeError.
//   - In TLS 1.3 crypto/tls calls VerifyConnection before it checks the
//     client's CertificateVerify, i.e. before the peer has proven it holds
//     the key. So refusal events name the certificate's principal as the
//     Resource (claimed, unproven), never as the Actor, and acceptance is
//     not decided here: the server calls ReportHandshake once Handshake has
//     returned, which emits tls_accepted or the refusal crypto/tls made
//     itself (no certificate, unknown authority, expired, TLS ≤ 1.2, bad
//     CertificateVerify).
//   - Every refusal is therefore about a peer that has not proven who it
//     is: its event carries the peer's Source (event.SourceOf), so the
//     gateway's event.Aggregator records a flood of them per source and
//     window, and whatever it copies from the peer's input is bounded
//     (event.BoundString, event.BoundStrings).
//
// Each handshake gets a per-connection copy of the config (through
// GetConfigForClient) that carries the current trust pool, the peer's
// address for events and the connection's context. Session tickets stay
// enabled; their keys are the returned config's.
func ServerTLSConfig(cfg ListenerConfig, deps ListenerDeps) (*tls.Config, error) {
	if cfg.Name == "" || len(cfg.Allowed) == 0 {
		return nil, errors.New("pki: a listener needs a name and allowed principal kinds")
	}
	if deps.Trust == nil || deps.Revocations == nil || deps.Events == nil || deps.GetCertificate == nil {
		return nil, errors.New("pki: a listener needs Trust, Revocations, Events and GetCertificate")
	}
	allowed := map[principal.Kind]bool{}
	for _, k := range cfg.Allowed {
		if _, ok := profiles[k]; !ok || k == principal.Gateway {
			return nil, fmt.Errorf("pki: principal kind %q cannot connect as a TLS client", k)
		}
		allowed[k] = true
	}
	l := &listener{name: cfg.Name, allowed: allowed, trust: deps.Trust, rs: deps.Revocations,
		ev: emitter{deps.Events}, now: deps.Now}
	if l.now == nil {
		l.now = time.Now
	}
	base := &tls.Config{
		MinVersion:     tls.VersionTLS13,
		ClientAuth:     tls.RequireAndVerifyClientCert,
		ClientCAs:      deps.Trust.Pool(),
		GetCertificate: deps.GetCertificate,
		Time:           deps.Now,
	}
	outer := base.Clone()
	outer.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c := l.generation(base).Clone()
		var remote string
		if hello.Conn != nil {
			remote = hello.Conn.RemoteAddr().String()
		}
		ctx := hello.Context()
		c.VerifyConnection = func(cs tls.ConnectionState) error { return l.verify(ctx, remote, cs) }
		return c, nil
	}
	// Never used (GetConfigForClient always answers), but fail closed if it were.
	outer.VerifyConnection = func(cs tls.ConnectionState) error { return l.verify(context.Background(), "", cs) }
	return outer, nil
}

type listener struct {
	name    string
	allowed map[principal.Kind]bool
	trust   *Trust
	rs      *RevocationSet
	ev      emitter
	now     func() time.Time

	mu     sync.Mutex
	gen    uint64
	genCfg *tls.Config
}

// generation returns base with the current trust pool, rebuilt only when
// the Trust changed.
func (l *listener) generation(base *tls.Config) *tls.Config {
	ts := l.trust.load()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.genCfg == nil || l.gen != ts.gen {
		c := base.Clone()
		c.ClientCAs = ts.pool
		l.genCfg, l.gen = c, ts.gen
	}
	return l.genCfg
}

// HandshakeError is a refused handshake: what VerifyConnection returns (its
// event already emitted) and what ReportHandshake returns for every refusal.
type HandshakeError struct {
	Code      string
	Listener  string
	Principal principal.Principal // the claimed principal; zero if refused before mapping
	Err       error               // the crypto/tls error, for refusals crypto/tls made
}

func (e *HandshakeError) Unwrap() error { return e.Err }

func (e *HandshakeError) Error() string {
	msg := "pki: handshake refused on " + e.Listener + ": " + e.Code
	if !e.Principal.IsZero() {
		msg += " (certificate for " + e.Principal.String() + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (l *listener) verify(ctx context.Context, remote string, cs tls.ConnectionState) error {
	attrs := map[string]any{"listener": l.name, "resumed": cs.DidResume}
	var source string
	if remote != "" {
		attrs["remote"] = remote
		source = event.SourceOf(remote)
	}
	var p principal.Principal // claimed: possession of its key is not proven yet
	refuse := func(code string, sev event.Severity) error {
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), EmitTimeout)
		defer cancel()
		_ = l.ev.emitFrom(ectx, source, event.ClassAuthentication, "tls_handshake", event.Reject, sev, code,
			principal.Principal{}, p.String(), attrs)
		return &HandshakeError{Code: code, Listener: l.name, Principal: p}
	}
	if len(cs.VerifiedChains) > 0 && len(cs.VerifiedChains[0]) > 0 {
		attrs["serial"] = serialOf(cs.VerifiedChains[0][0])
	}
	var r *chainRefusal
	if p, r = l.policy().check(cs.VerifiedChains, l.now()); r != nil {
		if r.revokedSerial != "" {
			attrs["revoked_serial"] = r.revokedSerial
		}
		return refuse(r.code, r.severity)
	}
	return nil
}

// policy is the listener's client-certificate policy.
func (l *listener) policy() chainPolicy {
	return chainPolicy{trust: l.trust, allowed: l.allowed, revocations: l.rs}
}

// chainPolicy is the one client-certificate policy: what a listener's
// VerifyConnection enforces after crypto/tls verified the chain against the
// trusted intermediates, and what VerifyCredential enforces for credentials
// presented outside a handshake.
type chainPolicy struct {
	trust       *Trust
	allowed     map[principal.Kind]bool
	revocations RevocationChecker
}

// chainRefusal is a refusal by chainPolicy.check: its reason code, the
// severity of its event, and the revoked serial when the code is
// codes.TLSCertRevoked.
type chainRefusal struct {
	code          string
	severity      event.Severity
	revokedSerial string
}

// check judges verified chains (leaf first, as crypto/tls or
// x509.Certificate.Verify returns them) at now: the chain's anchor is a
// currently trusted intermediate (a resumed session may predate a
// retirement), the leaf is within its validity (it may outlive a session),
// VerifiedChains[0][0] maps to a principal of its profile, of a kind
// allowed here, and neither the leaf nor its intermediate is revoked
// (failing closed when the revocation data is stale). It returns the
// claimed principal once mapped, also with a refusal.
func (pol chainPolicy) check(verifiedChains [][]*x509.Certificate, now time.Time) (principal.Principal, *chainRefusal) {
	refuse := func(code string, sev event.Severity) *chainRefusal { return &chainRefusal{code: code, severity: sev} }
	if len(verifiedChains) == 0 || len(verifiedChains[0]) == 0 {
		return principal.Principal{}, refuse(codes.TLSNoVerifiedChain, event.SeverityMedium)
	}
	chain := verifiedChains[0]
	leaf := chain[0]
	if !pol.trust.Trusts(chain[len(chain)-1]) {
		return principal.Principal{}, refuse(codes.CertIssuerNotTrusted, event.SeverityMedium)
	}
	if now.After(leaf.NotAfter) {
		return principal.Principal{}, refuse(codes.TLSCertExpired, event.SeverityLow)
	} else if now.Before(leaf.NotBefore) {
		return principal.Principal{}, refuse(codes.TLSCertNotYetValid, event.SeverityLow)
	}
	p, err := PrincipalFromChains(verifiedChains)
	if err != nil {
		return principal.Principal{}, refuse(CodeOf(err), event.SeverityHigh) // a CA-signed certificate that does not fit its profile
	}
	if !pol.allowed[p.Kind] {
		return p, refuse(codes.TLSKindNotAllowed, event.SeverityMedium)
	}
	for _, c := range chain {
		revoked, err := pol.revocations.IsRevoked(serialOf(c))
		if err != nil {
			return p, refuse(codes.RevocationStale, event.SeverityHigh)
		}
		if revoked {
			r := refuse(codes.TLSCertRevoked, event.SeverityHigh)
			r.revokedSerial = serialOf(c)
			return p, r
		}
	}
	return p, nil
}

// ClassifyHandshakeError returns the reason code for an error returned by a
// server-side tls.Conn.Handshake: the code of a *HandshakeError, or one of
// the crypto/tls refusal codes. now decides between expired and not yet
// valid.
func ClassifyHandshakeError(err error, now time.Time) string {
	if he, ok := errors.AsType[*HandshakeError](err); ok {
		return he.Code
	}
	if cve, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		var leaf *x509.Certificate
		if len(cve.UnverifiedCertificates) > 0 {
			leaf = cve.UnverifiedCertificates[0]
		}
		return chainErrorCode(cve.Err, leaf, now)
	}
	// crypto/tls returns these as plain errors; their texts have been
	// stable for years and TestHandshakeMatrix pins each against the real
	// crypto/tls.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "client didn't provide a certificate"):
		return codes.TLSNoClientCert
	case strings.Contains(msg, "unsupported versions"), strings.Contains(msg, "protocol version"):
		return codes.TLSProtocolVersion
	case strings.Contains(msg, "invalid signature by the client certificate"):
		return codes.TLSBadSignature
	}
	return codes.TLSHandshakeFailed
}

// chainErrorCode returns the reason code of a chain verification error
// (x509.Certificate.Verify against the trusted intermediates, as crypto/tls
// runs it for a client certificate). leaf, when known, and now decide
// between expired and not yet valid.
func chainErrorCode(err error, leaf *x509.Certificate, now time.Time) string {
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return codes.TLSUnknownAuthority
	}
	if cie, ok := errors.AsType[x509.CertificateInvalidError](err); ok && cie.Reason == x509.Expired {
		if leaf != nil && now.Before(leaf.NotBefore) {
			return codes.TLSCertNotYetValid
		}
		return codes.TLSCertExpired
	}
	return codes.TLSBadCertificate
}

// ReportHandshake records the outcome of a finished server-side handshake
// and returns the authenticated principal, or a *HandshakeError to close the
// connection on. Call it once per connection, right after
// tls.Conn.HandshakeContext returns, with that call's error:
//
//   - err is a *HandshakeError from VerifyConnection: its event was emitted;
//     it is returned as is.
//   - err is another error: crypto/tls refused (see ClassifyHandshakeError);
//     one refusal event is emitted, with the peer's Source so that the
//     gateway's event.Aggregator counts a flood per source and window. The
//     presented, unverified leaf's serial and URIs go in attributes prefixed
//     "unverified_": they help detection but prove nothing and never become
//     the actor. They and the error text are bounded (event.BoundString,
//     event.BoundStrings: at most 4 URIs, with their count and hash).
//   - err is nil: the peer proved possession of a certificate that passed
//     VerifyConnection; tls_accepted is emitted with the principal as actor.
//     If that event cannot be recorded the handshake is refused
//     (codes.EventSinkFailed): no accepted session goes unrecorded.
//
// http.Server only logs handshake errors as text to its ErrorLog, and
// reports nothing for successes. So the server completes the handshake
// itself (accept; in the connection's goroutine HandshakeContext with a
// deadline; ReportHandshake) before handing the connection to http.Server,
// whose own Handshake call is then a no-op.
func ReportHandshake(ctx context.Context, em event.Emitter, listener string, conn *tls.Conn, err error) (principal.Principal, error) {
	var remote string
	if a := conn.RemoteAddr(); a != nil {
		remote = a.String()
	}
	if err != nil {
		if he, ok := errors.AsType[*HandshakeError](err); ok {
			return principal.Principal{}, he
		}
		code := ClassifyHandshakeError(err, time.Now())
		attrs := map[string]any{"listener": listener, "remote": remote, "error": event.BoundString(err.Error())}
		if cve, ok := errors.AsType[*tls.CertificateVerificationError](err); ok && len(cve.UnverifiedCertificates) > 0 {
			leaf := cve.UnverifiedCertificates[0]
			attrs["unverified_serial"] = event.BoundString(serialOf(leaf))
			if uris, err := uriSANs(leaf.Extensions); err == nil {
				event.BoundStrings(attrs, "unverified_uri", uris)
			}
		}
		sev := event.SeverityLow
		switch code {
		case codes.TLSUnknownAuthority, codes.TLSBadCertificate, codes.TLSBadSignature:
			sev = event.SeverityMedium
		}
		_ = emitter{em}.emitFrom(ctx, event.SourceOf(remote), event.ClassAuthentication, "tls_handshake", event.Reject, sev, code,
			principal.Principal{}, "", attrs)
		return principal.Principal{}, &HandshakeError{Code: code, Listener: listener, Err: err}
	}
	cs := conn.ConnectionState()
	p, err := PrincipalFromChains(cs.VerifiedChains)
	if err != nil { // only if conn's config is not a ServerTLSConfig one: fail closed
		_ = emitter{em}.emit(ctx, event.ClassAuthentication, "tls_handshake", event.Reject, event.SeverityHigh, CodeOf(err),
			principal.Principal{}, "", map[string]any{"listener": listener, "remote": remote})
		return principal.Principal{}, &HandshakeError{Code: CodeOf(err), Listener: listener, Err: err}
	}
	attrs := map[string]any{"listener": listener, "remote": remote, "resumed": cs.DidResume,
		"serial": serialOf(cs.VerifiedChains[0][0])}
	if err := (emitter{em}).emit(ctx, event.ClassAuthentication, "tls_handshake", event.Accept, event.SeverityInfo,
		codes.TLSAccepted, p, p.String(), attrs); err != nil {
		return principal.Principal{}, &HandshakeError{Code: codes.EventSinkFailed, Listener: listener, Principal: p, Err: err}
	}
	return p, nil
}
