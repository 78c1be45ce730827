package authz

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
)

// The paths the handlers answer on (the wiring mounts them there; the
// metadata names them).
const (
	TokenPath    = "/oauth2/token"
	MetadataPath = "/.well-known/oauth-authorization-server"
	JWKSPath     = "/.well-known/jwks.json"
)

// PeerFunc returns the principal and the leaf certificate
// (VerifiedChains[0][0]) of the request's connection; ok is false without a
// verified client certificate.
type PeerFunc func(r *http.Request) (p principal.Principal, leaf *x509.Certificate, ok bool)

// TLSPeer is the PeerFunc of a TLS listener that verifies client
// certificates: pki's one mapping of VerifiedChains[0][0].
func TLSPeer(r *http.Request) (principal.Principal, *x509.Certificate, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return principal.Principal{}, nil, false
	}
	leaf := r.TLS.VerifiedChains[0][0]
	p, err := principalOf(leaf)
	if err != nil {
		return principal.Principal{}, nil, false
	}
	return p, leaf, true
}

// TokenEndpointDeps are the token endpoint's collaborators.
type TokenEndpointDeps struct {
	Issuer    *Issuer
	Directory Directory
	Peer      PeerFunc // nil: TLSPeer
	Events    event.Emitter
	Now       func() time.Time // nil: the Issuer's key set's clock
}

// TokenEndpoint is POST /oauth2/token: the client_credentials grant with
// tls_client_auth (RFC 6749 §4.4, RFC 8705 §2.1).
type TokenEndpoint struct {
	deps TokenEndpointDeps
}

// NewTokenEndpoint returns the token endpoint handler.
func NewTokenEndpoint(deps TokenEndpointDeps) (*TokenEndpoint, error) {
	if deps.Issuer == nil || deps.Directory == nil || deps.Events == nil {
		return nil, errors.New("authz: the token endpoint needs an Issuer, a Directory and Events")
	}
	if deps.Peer == nil {
		deps.Peer = TLSPeer
	}
	if deps.Now == nil {
		deps.Now = deps.Issuer.keys.deps.Now
	}
	return &TokenEndpoint{deps: deps}, nil
}

// tokenResponse is RFC 6749 §5.1.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// oauthError is RFC 6749 §5.2, with our stable code as an extension member.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Code        string `json:"code"`
}

// oauthErrors maps our codes to RFC 6749 §5.2 error values and statuses.
var oauthErrors = map[string]struct {
	value  string
	status int
}{
	codes.OAuthInvalidRequest:       {"invalid_request", http.StatusBadRequest},
	codes.OAuthUnsupportedGrantType: {"unsupported_grant_type", http.StatusBadRequest},
	codes.OAuthInvalidClient:        {"invalid_client", http.StatusUnauthorized},
	codes.OAuthInvalidScope:         {"invalid_scope", http.StatusBadRequest},
}

// secretParams are the client authentication parameters of other methods:
// this endpoint has no secrets, and a request that offers one is refused
// rather than silently ignored (the client is misconfigured, or probing).
var secretParams = []string{"client_secret", "client_assertion", "client_assertion_type", "password", "refresh_token", "code"}

func (e *TokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, leaf, authenticated := e.deps.Peer(r)
	refuse := func(code, detail string) {
		e.refuse(w, r, p, authenticated, code, detail)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		problem.Write(w, r, problem.New(http.StatusMethodNotAllowed, codes.MethodNotAllowed, "use POST"))
		return
	}
	if !authenticated {
		refuse(codes.OAuthInvalidClient, "a client certificate is required (tls_client_auth)")
		return
	}
	if r.Header.Get("Authorization") != "" {
		refuse(codes.OAuthInvalidRequest, "client authentication is the TLS certificate only: no Authorization header")
		return
	}
	if r.URL.RawQuery != "" {
		refuse(codes.OAuthInvalidRequest, "parameters go in the body, not the URL")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		refuse(codes.OAuthInvalidRequest, "the body must be application/x-www-form-urlencoded")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxTokenRequestBytes))
	if err != nil {
		refuse(codes.OAuthInvalidRequest, "the body is over its size limit or unreadable")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		refuse(codes.OAuthInvalidRequest, "the body is not a form")
		return
	}
	for name, vals := range form {
		// RFC 6749 §3.2: parameters MUST NOT be included more than once.
		if len(vals) > 1 {
			refuse(codes.OAuthInvalidRequest, "a parameter is repeated")
			return
		}
		for _, s := range secretParams {
			if name == s {
				refuse(codes.OAuthInvalidRequest, "this endpoint takes no "+s+": the client is authenticated by its certificate")
				return
			}
		}
	}
	switch gt := form.Get("grant_type"); gt {
	case "":
		refuse(codes.OAuthInvalidRequest, "grant_type is missing")
		return
	case "client_credentials":
	default:
		refuse(codes.OAuthUnsupportedGrantType, "the only grant is client_credentials")
		return
	}
	if id := form.Get("client_id"); id != "" && id != p.ID {
		refuse(codes.OAuthInvalidClient, "client_id is not the certificate's principal")
		return
	}
	account, err := e.deps.Directory.Account(r.Context(), p)
	switch {
	case errors.Is(err, ErrUnknownPrincipal):
		refuse(codes.OAuthInvalidClient, "the certificate names no registered client or operator")
		return
	case err != nil:
		e.fail(w, r, p, problem.Wrap(err, http.StatusServiceUnavailable, codes.StoreUnavailable, "the registry cannot be read; retry"))
		return
	}
	if account.Principal != p {
		e.fail(w, r, p, problem.New(http.StatusInternalServerError, codes.Internal, ""))
		return
	}
	if !account.Active || (p.Kind != principal.Client && p.Kind != principal.Operator) {
		refuse(codes.OAuthInvalidClient, "the principal is not an active TMS client or operator")
		return
	}
	if len(account.Roles) == 0 {
		refuse(codes.OAuthInvalidScope, "the principal holds no role")
		return
	}
	scopes, ok := requestedScopes(form.Get("scope"), account.Roles)
	if !ok {
		refuse(codes.OAuthInvalidScope, "a scope is unknown or not granted by the principal's roles")
		return
	}
	raw, claims, err := e.deps.Issuer.Issue(account, leaf, scopes, e.deps.Now())
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) && oauthErrors[ae.Code].value != "" {
			refuse(ae.Code, ae.Detail)
			return
		}
		e.fail(w, r, p, problem.Wrap(err, http.StatusServiceUnavailable, codes.TokenKeyUnavailable, "no token can be issued now; retry"))
		return
	}
	// The event is durable before the token leaves (fail closed): it names
	// the jti, never the token.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), EmitTimeout)
	defer cancel()
	if err := e.deps.Events.Emit(ctx, event.Event{Class: event.ClassAuthentication, Activity: "access_token_issue",
		Severity: event.SeverityInfo, Verdict: event.Accept, Code: codes.AccessTokenIssued, Actor: p, Resource: p.String(),
		Attrs: map[string]any{"jti": claims.ID, "scopes": joinScopes(claims.Scopes),
			"exp": claims.Expiry.UTC().Format(time.RFC3339), "carrier": claims.Carrier}}); err != nil {
		problem.Write(w, r, problem.Wrap(err, http.StatusServiceUnavailable, codes.StoreUnavailable, "the event could not be recorded; retry"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store") // RFC 6749 §5.1
	h.Set("Pragma", "no-cache")
	_ = json.NewEncoder(w).Encode(tokenResponse{AccessToken: raw, TokenType: "Bearer",
		ExpiresIn: int64(claims.Expiry.Sub(claims.IssuedAt) / time.Second), Scope: joinScopes(claims.Scopes)})
}

// requestedScopes parses the scope parameter (RFC 6749 §3.3: scope-tokens
// separated by single spaces). None requested: every scope the roles grant.
func requestedScopes(param string, roles []Role) ([]Scope, bool) {
	if param == "" {
		var all []Scope
		for _, s := range Scopes {
			if Grants(roles, s) {
				all = append(all, s)
			}
		}
		return all, len(all) > 0
	}
	var out []Scope
	for s := range strings.SplitSeq(param, " ") {
		sc, ok := ParseScope(s)
		if !ok || !Grants(roles, sc) {
			return nil, false
		}
		out = append(out, sc)
	}
	return canonicalScopes(out), true
}

// refuse answers an RFC 6749 §5.2 error and records its event. A request
// without a verified certificate is an unauthenticated source, aggregated.
func (e *TokenEndpoint) refuse(w http.ResponseWriter, r *http.Request, p principal.Principal, authenticated bool, code, detail string) {
	ev := event.Event{Class: event.ClassAuthentication, Activity: "access_token_issue",
		Severity: codes.SeverityOf(code, event.SeverityLow), Verdict: event.Reject, Code: code,
		Attrs: map[string]any{"detail": detail}}
	if authenticated {
		ev.Actor, ev.Resource = p, p.String()
	} else {
		ev.Source = event.SourceOf(r.RemoteAddr)
	}
	e.emit(r, ev)
	m := oauthErrors[code]
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(m.status)
	_ = json.NewEncoder(w).Encode(oauthError{Error: m.value, Description: detail, Code: code})
}

// fail answers a server-side failure as problem+json and records it.
func (e *TokenEndpoint) fail(w http.ResponseWriter, r *http.Request, p principal.Principal, pe *problem.Error) {
	e.emit(r, event.Event{Class: event.ClassAuthentication, Activity: "access_token_issue",
		Severity: codes.SeverityOf(pe.Code, event.SeverityMedium), Verdict: event.Reject, Code: pe.Code,
		Actor: p, Resource: p.String(), Attrs: map[string]any{"detail": pe.Detail}})
	if pe.Status == http.StatusServiceUnavailable {
		pe.RetryAfter = 1
	}
	problem.Write(w, r, pe)
}

func (e *TokenEndpoint) emit(r *http.Request, ev event.Event) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), EmitTimeout)
	defer cancel()
	_ = e.deps.Events.Emit(ctx, ev) // the refusal stands whether or not it is recorded
}

// Metadata is the RFC 8414 authorization server metadata document.
type Metadata struct {
	Issuer                                string   `json:"issuer"`
	TokenEndpoint                         string   `json:"token_endpoint"`
	JWKSURI                               string   `json:"jwks_uri"`
	ScopesSupported                       []string `json:"scopes_supported"`
	ResponseTypesSupported                []string `json:"response_types_supported"`
	GrantTypesSupported                   []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported     []string `json:"token_endpoint_auth_methods_supported"`
	TLSClientCertificateBoundAccessTokens bool     `json:"tls_client_certificate_bound_access_tokens"`
	AccessTokenSigningAlgValuesSupported  []string `json:"access_token_signing_alg_values_supported,omitempty"`
}

// NewMetadataHandler returns GET /.well-known/oauth-authorization-server.
// It needs no client certificate.
func NewMetadataHandler(cfg TokenConfig) (http.Handler, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	md := Metadata{
		Issuer: cfg.Issuer, TokenEndpoint: cfg.Issuer + TokenPath, JWKSURI: cfg.Issuer + JWKSPath,
		// No authorization endpoint: the only grant is client_credentials.
		ResponseTypesSupported:                []string{},
		GrantTypesSupported:                   []string{"client_credentials"},
		TokenEndpointAuthMethodsSupported:     []string{"tls_client_auth"},
		TLSClientCertificateBoundAccessTokens: true,
		AccessTokenSigningAlgValuesSupported:  []string{AlgEdDSA, AlgES256},
	}
	for _, s := range Scopes {
		md.ScopesSupported = append(md.ScopesSupported, string(s))
	}
	body, err := json.Marshal(md)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !getOrHead(w, r) {
			return
		}
		writeJSON(w, body, "public, max-age=3600")
	}), nil
}

// NewJWKSHandler returns GET /.well-known/jwks.json: the published keys.
// It needs no client certificate. Verifiers fetch it again on an unknown
// kid, so a short max-age is enough.
func NewJWKSHandler(keys *KeySet) (http.Handler, error) {
	if keys == nil {
		return nil, errors.New("authz: NewJWKSHandler needs a KeySet")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !getOrHead(w, r) {
			return
		}
		set, err := keys.JWKS()
		if err != nil {
			problem.Write(w, r, &problem.Error{Status: http.StatusServiceUnavailable, Code: codes.TokenKeyUnavailable,
				Detail: "no token key is published now; retry", Cause: err, RetryAfter: 1})
			return
		}
		body, err := json.Marshal(set)
		if err != nil {
			problem.Write(w, r, err)
			return
		}
		writeJSON(w, body, "public, max-age="+strconv.Itoa(int(DefaultKeyRefreshInterval/time.Second)))
	}), nil
}

func getOrHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	problem.Write(w, r, problem.New(http.StatusMethodNotAllowed, codes.MethodNotAllowed, "use GET"))
	return false
}

func writeJSON(w http.ResponseWriter, body []byte, cacheControl string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", cacheControl)
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(body)
}
