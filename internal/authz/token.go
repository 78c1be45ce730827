package authz

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/go-json-experiment/json"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// TokenType is the JWT typ of an access token (RFC 9068 §2.1).
const TokenType = "at+jwt"

// TokenConfig names the gateway as an authorization server.
type TokenConfig struct {
	// Issuer is the iss of every token and the issuer of the metadata
	// (RFC 8414 §2): an https URL without query or fragment, e.g.
	// https://gateway.example:8443.
	Issuer string
	// Audience is the aud of every token: the TMS API. Defaults to Issuer.
	Audience string
}

func (c *TokenConfig) fill() error {
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil ||
		strings.HasSuffix(c.Issuer, "/") {
		return fmt.Errorf("authz: issuer %q: want an https URL without query, fragment or trailing slash", c.Issuer)
	}
	if c.Audience == "" {
		c.Audience = c.Issuer
	}
	return nil
}

// wireClaims is the JWT payload. Its members are the token format; see the
// package doc's Compatibility section before changing one.
type wireClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  string   `json:"aud"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	Expiry    int64    `json:"exp"`
	ID        string   `json:"jti"`
	ClientID  string   `json:"client_id"` // RFC 9068 §2.2
	Scope     string   `json:"scope"`
	Roles     []string `json:"roles"`
	Carrier   string   `json:"carrier,omitempty"`
	Cnf       *wireCnf `json:"cnf,omitempty"`
}

// wireCnf is the RFC 8705 §3.1 confirmation member.
type wireCnf struct {
	X5tS256 string `json:"x5t#S256"`
}

// CertThumbprint is the RFC 8705 x5t#S256 of cert: the unpadded base64url
// SHA-256 of its DER.
func CertThumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// principalOf maps a verified leaf to its principal with the listeners'
// one mapping (package pki).
func principalOf(leaf *x509.Certificate) (principal.Principal, error) {
	return pki.PrincipalFromChains([][]*x509.Certificate{{leaf}})
}

// Lifetime is the lifetime of a token carrying scopes.
func Lifetime(scopes []Scope) time.Duration {
	if slices.ContainsFunc(scopes, Scope.Control) {
		return ControlTokenLifetime
	}
	return ReadTokenLifetime
}

// Issuer signs access tokens with the active key of a KeySet.
type Issuer struct {
	keys *KeySet
	cfg  TokenConfig
}

// NewIssuer validates cfg and returns an Issuer.
func NewIssuer(keys *KeySet, cfg TokenConfig) (*Issuer, error) {
	if keys == nil {
		return nil, errors.New("authz: NewIssuer needs a KeySet")
	}
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	return &Issuer{keys: keys, cfg: cfg}, nil
}

// Issue signs a token for account, bound to leaf (the verified certificate
// the account authenticated with, VerifiedChains[0][0]), carrying scopes.
// It refuses (an *Error) an inactive account, a leaf that names another
// principal, and scopes the account's roles do not grant; without a usable
// key it fails with token_key_unavailable. It returns the compact token and
// its claims (for the event: never log the token).
func (i *Issuer) Issue(account Account, leaf *x509.Certificate, scopes []Scope, now time.Time) (string, Claims, error) {
	p := account.Principal
	if leaf == nil {
		return "", Claims{}, &Error{Code: codes.OAuthInvalidClient, Detail: "no client certificate"}
	}
	if lp, err := principalOf(leaf); err != nil || lp != p {
		return "", Claims{}, &Error{Code: codes.OAuthInvalidClient, Detail: "the certificate does not name the account"}
	}
	if p.Kind != principal.Client && p.Kind != principal.Operator {
		return "", Claims{}, &Error{Code: codes.OAuthInvalidClient, Detail: "only TMS clients and operators obtain access tokens"}
	}
	if !account.Active {
		return "", Claims{}, &Error{Code: codes.OAuthInvalidClient, Detail: "the principal is not active"}
	}
	if len(scopes) == 0 {
		return "", Claims{}, &Error{Code: codes.OAuthInvalidScope, Detail: "no scope"}
	}
	for _, s := range scopes {
		if !Grants(account.Roles, s) {
			return "", Claims{}, &Error{Code: codes.OAuthInvalidScope, Detail: "scope " + string(s) + " is not granted by the principal's roles"}
		}
	}
	sk, err := i.keys.signer(now)
	if err != nil {
		return "", Claims{}, err
	}
	scopes = canonicalScopes(scopes)
	var jti [16]byte
	_, _ = rand.Read(jti[:]) // crypto/rand.Read never fails (Go 1.24+)
	now = now.Truncate(time.Second)
	c := Claims{
		Issuer: i.cfg.Issuer, Subject: p.String(), Audience: i.cfg.Audience,
		IssuedAt: now, NotBefore: now, Expiry: now.Add(Lifetime(scopes)),
		ID: base64.RawURLEncoding.EncodeToString(jti[:]), Scopes: scopes,
		Roles: slices.Clone(account.Roles), Carrier: account.Carrier, Thumbprint: CertThumbprint(leaf),
	}
	w := wireClaims{
		Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience,
		IssuedAt: c.IssuedAt.Unix(), NotBefore: c.NotBefore.Unix(), Expiry: c.Expiry.Unix(),
		ID: c.ID, ClientID: p.ID, Scope: joinScopes(scopes), Roles: make([]string, len(c.Roles)),
		Carrier: c.Carrier, Cnf: &wireCnf{X5tS256: c.Thumbprint},
	}
	for k, r := range c.Roles {
		w.Roles[k] = string(r)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: sk.alg, Key: jose.JSONWebKey{Key: sk.priv, KeyID: sk.kid}},
		(&jose.SignerOptions{}).WithType(TokenType))
	if err != nil {
		return "", Claims{}, &Error{Code: codes.TokenKeyUnavailable, Detail: "the token key cannot sign: " + err.Error()}
	}
	raw, err := jwt.Signed(signer).Claims(w).Serialize()
	if err != nil {
		return "", Claims{}, &Error{Code: codes.TokenKeyUnavailable, Detail: "signing failed: " + err.Error()}
	}
	return raw, c, nil
}

// canonicalScopes returns scopes without duplicates in documentation order.
func canonicalScopes(scopes []Scope) []Scope {
	out := make([]Scope, 0, len(scopes))
	for _, s := range Scopes {
		if slices.Contains(scopes, s) {
			out = append(out, s)
		}
	}
	return out
}

func joinScopes(scopes []Scope) string {
	var b strings.Builder
	for k, s := range scopes {
		if k > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(s))
	}
	return b.String()
}

// Verifier checks access tokens against the published keys of a KeySet and
// the certificate of the connection they arrive on.
type Verifier struct {
	keys  *KeySet
	cfg   TokenConfig
	cache tokenCache
}

// NewVerifier validates cfg and returns a Verifier.
func NewVerifier(keys *KeySet, cfg TokenConfig) (*Verifier, error) {
	if keys == nil {
		return nil, errors.New("authz: NewVerifier needs a KeySet")
	}
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	return &Verifier{keys: keys, cfg: cfg, cache: newTokenCache()}, nil
}

// tokenHeader is the protected header, decoded strictly (duplicate names
// refused) before go-jose sees the token, so a refused alg gets its own code.
type tokenHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

var tooLargeDetail = "token over " + strconv.Itoa(MaxTokenBytes) + " bytes"

func refuse(code, detail string) (Claims, error) {
	return Claims{}, &Error{Code: code, Detail: detail}
}

// Verify checks raw, a compact access token, presented on a connection
// whose verified client certificate is leaf (VerifiedChains[0][0]), at the
// key set's current time. It returns the token's claims, or an *Error with
// an access_token_* code (token_key_unavailable when no key can be used).
func (v *Verifier) Verify(ctx context.Context, raw string, leaf *x509.Certificate) (Claims, error) {
	now := v.keys.deps.Now()
	// RFC 8705 §3: a bound token is only ever good on a connection
	// authenticated with its certificate; refuse before spending anything.
	if leaf == nil {
		return refuse(codes.AccessTokenBindingMismatch, "no client certificate on this connection")
	}
	// Bounds before parsing: one pass, no allocation.
	if raw == "" {
		return refuse(codes.AccessTokenMissing, "empty token")
	}
	if len(raw) > MaxTokenBytes {
		return refuse(codes.AccessTokenTooLarge, tooLargeDetail)
	}
	if strings.Count(raw, ".") != 2 {
		return refuse(codes.AccessTokenMalformed, "not three dot-separated parts")
	}
	// A token that verified before (the same bytes) skips the header,
	// the signature and the claims: they cannot have changed. What can
	// change is checked again: the key's publication, the times and the
	// binding to this connection's certificate.
	key := sha256.Sum256([]byte(raw))
	if ent, ok := v.cache.get(key); ok {
		if _, err := v.keys.verificationKey(ctx, ent.kid, now); err != nil {
			return Claims{}, err
		}
		if err := checkTimes(ent.c.IssuedAt, ent.c.NotBefore, ent.c.Expiry, now); err != nil {
			return Claims{}, err
		}
		// Same thumbprint, same DER, same principal: the sub check made
		// when the entry was stored holds.
		if subtle.ConstantTimeCompare([]byte(ent.c.Thumbprint), []byte(CertThumbprint(leaf))) != 1 {
			return refuse(codes.AccessTokenBindingMismatch, "cnf.x5t#S256 is not this connection's certificate")
		}
		return ent.c.clone(), nil
	}
	h := raw[:strings.IndexByte(raw, '.')]
	if len(h) == 0 || len(h) > MaxTokenHeaderBytes {
		return refuse(codes.AccessTokenMalformed, "header missing or over its size limit")
	}
	hb, err := base64.RawURLEncoding.Strict().DecodeString(h)
	if err != nil {
		return refuse(codes.AccessTokenMalformed, "header is not unpadded base64url")
	}
	var hdr tokenHeader
	// Strict: duplicate names (a parser differential on alg) and members
	// the gateway never sets (crit, jwk, jku, x5c, x5u, ...: an embedded
	// key must never choose the verification key) are refused.
	if err := json.Unmarshal(hb, &hdr, json.RejectUnknownMembers(true)); err != nil {
		// Name a refused alg precisely even in a header refused anyway.
		var loose tokenHeader
		if json.Unmarshal(hb, &loose) == nil && !slices.Contains(pinnedAlgs, jose.SignatureAlgorithm(loose.Alg)) {
			return refuse(codes.AccessTokenAlgNotAllowed, fmt.Sprintf("alg %.16q is not EdDSA or ES256", loose.Alg))
		}
		return refuse(codes.AccessTokenMalformed, "header is not a JSON object of alg, kid and typ")
	}
	alg := jose.SignatureAlgorithm(hdr.Alg)
	if !slices.Contains(pinnedAlgs, alg) {
		return refuse(codes.AccessTokenAlgNotAllowed, fmt.Sprintf("alg %.16q is not EdDSA or ES256", hdr.Alg))
	}
	if hdr.Typ != TokenType {
		return refuse(codes.AccessTokenMalformed, "typ is not at+jwt")
	}
	if hdr.Kid == "" {
		return refuse(codes.AccessTokenUnknownKID, "no kid")
	}
	pk, err := v.keys.verificationKey(ctx, hdr.Kid, now)
	if err != nil {
		return Claims{}, err
	}
	if pk.alg != alg {
		return refuse(codes.AccessTokenAlgNotAllowed, "alg differs from the alg of the key kid names")
	}
	tok, err := jwt.ParseSigned(raw, pinnedAlgs)
	if err != nil {
		return refuse(codes.AccessTokenMalformed, "not a compact JWS")
	}
	var w wireClaims
	if err := tok.Claims(pk.pub, &w); err != nil {
		if errors.Is(err, jose.ErrCryptoFailure) {
			return refuse(codes.AccessTokenBadSignature, "signature does not verify")
		}
		return refuse(codes.AccessTokenClaimsInvalid, "payload is not the claims object")
	}
	c, err := v.check(&w, leaf, now)
	if err != nil {
		return Claims{}, err
	}
	v.cache.put(key, cachedToken{kid: hdr.Kid, c: c})
	return c.clone(), nil
}

// checkTimes applies exp, nbf and iat with Leeway.
func checkTimes(iat, nbf, exp, now time.Time) error {
	if !now.Before(exp.Add(Leeway)) {
		return &Error{Code: codes.AccessTokenExpired, Detail: "exp is past"}
	}
	if nbf.After(now.Add(Leeway)) || iat.After(now.Add(Leeway)) {
		return &Error{Code: codes.AccessTokenNotYetValid, Detail: "nbf or iat is in the future"}
	}
	return nil
}

// check validates signed claims and the binding.
func (v *Verifier) check(w *wireClaims, leaf *x509.Certificate, now time.Time) (Claims, error) {
	if w.Issuer != v.cfg.Issuer {
		return refuse(codes.AccessTokenWrongIssuer, "iss is not this gateway")
	}
	if w.Audience != v.cfg.Audience {
		return refuse(codes.AccessTokenWrongAudience, "aud is not this gateway's TMS API")
	}
	if w.Subject == "" || w.ID == "" || w.ClientID == "" || w.Scope == "" || w.IssuedAt <= 0 || w.NotBefore <= 0 || w.Expiry <= 0 {
		return refuse(codes.AccessTokenClaimsInvalid, "a required claim is missing")
	}
	iat, nbf, exp := time.Unix(w.IssuedAt, 0), time.Unix(w.NotBefore, 0), time.Unix(w.Expiry, 0)
	if err := checkTimes(iat, nbf, exp, now); err != nil {
		return Claims{}, err
	}
	if !exp.After(iat) || exp.Sub(iat) > MaxTokenLifetime || nbf.Before(iat) || !nbf.Before(exp) {
		return refuse(codes.AccessTokenClaimsInvalid, "times are not those of a token the gateway issues")
	}
	c := Claims{Issuer: w.Issuer, Subject: w.Subject, Audience: w.Audience, IssuedAt: iat, NotBefore: nbf,
		Expiry: exp, ID: w.ID, Carrier: w.Carrier}
	for s := range strings.SplitSeq(w.Scope, " ") {
		sc, ok := ParseScope(s)
		if !ok || slices.Contains(c.Scopes, sc) {
			return refuse(codes.AccessTokenClaimsInvalid, "scope is not a list of known scopes")
		}
		c.Scopes = append(c.Scopes, sc)
	}
	if len(w.Roles) > len(Roles) {
		return refuse(codes.AccessTokenClaimsInvalid, "roles is not a list of known roles")
	}
	for _, s := range w.Roles {
		r, ok := ParseRole(s)
		if !ok {
			return refuse(codes.AccessTokenClaimsInvalid, "roles is not a list of known roles")
		}
		c.Roles = append(c.Roles, r)
	}
	// RFC 8705 §3.1: the token is bound to the certificate whose
	// thumbprint it confirms; compare with this connection's.
	if w.Cnf == nil || w.Cnf.X5tS256 == "" {
		return refuse(codes.AccessTokenUnbound, "no cnf.x5t#S256")
	}
	if subtle.ConstantTimeCompare([]byte(w.Cnf.X5tS256), []byte(CertThumbprint(leaf))) != 1 {
		return refuse(codes.AccessTokenBindingMismatch, "cnf.x5t#S256 is not this connection's certificate")
	}
	p, err := principalOf(leaf)
	if err != nil || w.Subject != p.String() {
		return refuse(codes.AccessTokenBindingMismatch, "sub is not the principal of this connection's certificate")
	}
	if w.ClientID != p.ID {
		return refuse(codes.AccessTokenClaimsInvalid, "client_id is not the subject's id")
	}
	c.Thumbprint = w.Cnf.X5tS256
	return c, nil
}

// clone returns c with its own slices, so a caller cannot alter a cached
// entry.
func (c Claims) clone() Claims {
	c.Scopes, c.Roles = slices.Clone(c.Scopes), slices.Clone(c.Roles)
	return c
}

// tokenCache remembers tokens that verified, keyed by the SHA-256 of their
// bytes, in two generations of at most MaxVerifiedTokens each: when the
// current one fills, it becomes the previous one and the oldest is
// dropped. Only tokens that verified enter it, and each entry is small,
// so it is bounded in entries and bytes whatever callers send.
type tokenCache struct {
	mu        sync.Mutex
	cur, prev map[[sha256.Size]byte]cachedToken
}

type cachedToken struct {
	kid string
	c   Claims
}

func newTokenCache() tokenCache {
	return tokenCache{cur: map[[sha256.Size]byte]cachedToken{}, prev: map[[sha256.Size]byte]cachedToken{}}
}

func (tc *tokenCache) get(k [sha256.Size]byte) (cachedToken, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if e, ok := tc.cur[k]; ok {
		return e, true
	}
	e, ok := tc.prev[k]
	if ok {
		tc.putLocked(k, e)
	}
	return e, ok
}

func (tc *tokenCache) put(k [sha256.Size]byte, e cachedToken) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.putLocked(k, e)
}

func (tc *tokenCache) putLocked(k [sha256.Size]byte, e cachedToken) {
	if len(tc.cur) >= MaxVerifiedTokens {
		tc.prev, tc.cur = tc.cur, make(map[[sha256.Size]byte]cachedToken, MaxVerifiedTokens)
	}
	tc.cur[k] = e
}
