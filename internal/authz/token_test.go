package authz

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/fifthwheel/fifthwheel/codes"
)

var ctx = context.Background()

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// goodClaims returns the wire claims Issue would write for acct and leaf
// at now, as a map the tests can bend.
func goodClaims(acct Account, leaf *x509.Certificate, now time.Time) map[string]any {
	return map[string]any{
		"iss": testIssuer, "sub": acct.Principal.String(), "aud": testAudience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ReadTokenLifetime).Unix(),
		"jti": "j1", "client_id": acct.Principal.ID, "scope": "fleet:read", "roles": []string{"planner"},
		"carrier": "C1", "cnf": map[string]any{"x5t#S256": CertThumbprint(leaf)},
	}
}

// signWith signs claims with the env's active key through go-jose, with
// extra header members.
func (e *env) signWith(t *testing.T, claims any, extra map[jose.HeaderKey]any) string {
	t.Helper()
	sk, err := e.keys.signer(e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	opts := (&jose.SignerOptions{}).WithType(TokenType)
	for k, v := range extra {
		opts = opts.WithHeader(k, v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: sk.alg, Key: jose.JSONWebKey{Key: sk.priv, KeyID: sk.kid}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// rawEd25519 builds a compact token from an exact header and payload,
// signed with the env's (EdDSA) active key.
func (e *env) rawEd25519(t *testing.T, header string, claims any) string {
	t.Helper()
	sk, err := e.keys.signer(e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := json.Marshal(claims)
	in := b64([]byte(header)) + "." + b64(pb)
	return in + "." + b64(ed25519.Sign(sk.priv.(ed25519.PrivateKey), []byte(in)))
}

func activeKID(t *testing.T, e *env) string {
	t.Helper()
	sk, err := e.keys.signer(e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return sk.kid
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	for _, alg := range []string{AlgEdDSA, AlgES256} {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, alg)
			acct, leaf, _ := e.account(t, "acme", Dispatcher)
			for _, tc := range []struct {
				scopes []Scope
				life   time.Duration
			}{
				{[]Scope{TelemetryRead, FleetRead, FleetRead}, ReadTokenLifetime},
				{[]Scope{FleetRead, DispatchWrite}, ControlTokenLifetime},
			} {
				raw, issued, err := e.issuer.Issue(acct, leaf, tc.scopes, e.clock.Now())
				if err != nil {
					t.Fatal(err)
				}
				c, err := e.verifier.Verify(ctx, raw, leaf)
				if err != nil {
					t.Fatal(err)
				}
				if c.Subject != "urn:fifthwheel:client:acme" || c.Issuer != testIssuer || c.Audience != testAudience ||
					c.Carrier != "C1" || c.Thumbprint != CertThumbprint(leaf) || c.ID != issued.ID || len(c.ID) != 22 ||
					!slices.Equal(c.Roles, []Role{Dispatcher}) || c.Expiry.Sub(c.IssuedAt) != tc.life {
					t.Fatalf("claims = %+v", c)
				}
				if want := canonicalScopes(tc.scopes); !slices.Equal(c.Scopes, want) {
					t.Fatalf("scopes = %v, want %v", c.Scopes, want)
				}
				hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
				var h map[string]any
				_ = json.Unmarshal(hdr, &h)
				if h["alg"] != alg || h["typ"] != "at+jwt" || h["kid"] != activeKID(t, e) || len(h) != 3 {
					t.Fatalf("header = %v", h)
				}
			}
		})
	}
}

func TestIssueRefusals(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	acct, leaf, _ := e.account(t, "acme", Planner)
	_, other, _ := e.account(t, "other", Planner)
	suspended := acct
	suspended.Active = false
	for name, tc := range map[string]struct {
		acct   Account
		leaf   *x509.Certificate
		scopes []Scope
		code   string
	}{
		"no certificate":            {acct, nil, []Scope{FleetRead}, codes.OAuthInvalidClient},
		"another's certificate":     {acct, other, []Scope{FleetRead}, codes.OAuthInvalidClient},
		"suspended":                 {suspended, leaf, []Scope{FleetRead}, codes.OAuthInvalidClient},
		"no scope":                  {acct, leaf, nil, codes.OAuthInvalidScope},
		"scope the roles not grant": {acct, leaf, []Scope{CommandsApprove}, codes.OAuthInvalidScope},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := e.issuer.Issue(tc.acct, tc.leaf, tc.scopes, e.clock.Now())
			wantCode(t, err, tc.code)
		})
	}
}

func TestAttackTokenWithoutCertificate(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	acct, leaf, _ := e.account(t, "acme", Planner)
	raw := e.issue(t, acct, leaf, 0, FleetRead)
	_, err := e.verifier.Verify(ctx, raw, nil)
	wantCode(t, err, codes.AccessTokenBindingMismatch)
}

func TestAttackTokenWithAnotherClientsCertificate(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	a, leafA, _ := e.account(t, "client-a", Planner)
	_, leafB, _ := e.account(t, "client-b", Planner)
	raw := e.issue(t, a, leafA, 0, FleetRead)
	_, err := e.verifier.Verify(ctx, raw, leafB)
	wantCode(t, err, codes.AccessTokenBindingMismatch)
	// A second certificate of A itself (a renewal) is another key: the
	// token stays bound to the one it was issued to.
	leafA2, _ := e.ca.issue(t, a.Principal)
	_, err = e.verifier.Verify(ctx, raw, leafA2)
	wantCode(t, err, codes.AccessTokenBindingMismatch)
	// Also once A has used it (the verified-token cache holds it).
	if _, err := e.verifier.Verify(ctx, raw, leafA); err != nil {
		t.Fatal(err)
	}
	_, err = e.verifier.Verify(ctx, raw, leafB)
	wantCode(t, err, codes.AccessTokenBindingMismatch)
	_, err = e.verifier.Verify(ctx, raw, nil)
	wantCode(t, err, codes.AccessTokenBindingMismatch)
	_, err = e.verifier.Verify(ctx, raw, leafA2)
	wantCode(t, err, codes.AccessTokenBindingMismatch)
}

func TestAttackTokenWithMatchingThumbprintButAnotherSubject(t *testing.T) {
	// Defence in depth: even a validly signed token whose cnf names this
	// certificate must name its principal as sub.
	e := newEnv(t, AlgEdDSA)
	acct, leaf, _ := e.account(t, "acme", Planner)
	cl := goodClaims(acct, leaf, e.clock.Now())
	cl["sub"] = "urn:fifthwheel:client:other"
	_, err := e.verifier.Verify(ctx, e.signWith(t, cl, nil), leaf)
	wantCode(t, err, codes.AccessTokenBindingMismatch)
}

func TestAttackAlgNone(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	acct, leaf, _ := e.account(t, "acme", Planner)
	pb, _ := json.Marshal(goodClaims(acct, leaf, e.clock.Now()))
	for _, alg := range []string{"none", "None", "NONE", ""} {
		// With the gateway's kid, another kid, or none: the alg is refused
		// before any key is looked up.
		for _, kid := range []string{`,"kid":"` + activeKID(t, e) + `"`, `,"kid":"other"`, ``} {
			hdr := `{"alg":"` + alg + `"` + kid + `,"typ":"at+jwt"}`
			raw := b64([]byte(hdr)) + "." + b64(pb) + "."
			_, err := e.verifier.Verify(ctx, raw, leaf)
			wantCode(t, err, codes.AccessTokenAlgNotAllowed)
		}
	}
}

func TestAttackHS256SignedWithThePublicKey(t *testing.T) {
	// The classic confusion: an HMAC keyed with the published public key,
	// in every encoding a verifier might take as "the key".
	e := newEnv(t, AlgEdDSA)
	acct, leaf, _ := e.account(t, "acme", Planner)
	set, err := e.keys.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	jwkJSON, _ := json.Marshal(set.Keys[0])
	pkix, _ := x509.MarshalPKIXPublicKey(set.Keys[0].Key)
	pb, _ := json.Marshal(goodClaims(acct, leaf, e.clock.Now()))
	for _, secret := range [][]byte{set.Keys[0].Key.(ed25519.PublicKey), pkix, jwkJSON} {
		for _, alg := range []string{"HS256", "HS384", "HS512"} {
			hdr := `{"alg":"` + alg + `","kid":"` + set.Keys[0].KeyID + `","typ":"at+jwt"}`
			if alg == "HS512" {
				hdr = `{"alg":"` + alg + `","typ":"at+jwt"}` // no kid: still the alg's code
			}
			in := b64([]byte(hdr)) + "." + b64(pb)
			mac := hmac.New(sha256.New, secret)
			mac.Write([]byte(in))
			_, err := e.verifier.Verify(ctx, in+"."+b64(mac.Sum(nil)), leaf)
			wantCode(t, err, codes.AccessTokenAlgNotAllowed)
		}
	}
	// ES256 named on an EdDSA key: the key's alg is fixed with the key.
	cl := goodClaims(acct, leaf, e.clock.Now())
	hdr := `{"alg":"ES256","kid":"` + activeKID(t, e) + `","typ":"at+jwt"}`
	_, err = e.verifier.Verify(ctx, e.rawEd25519(t, hdr, cl), leaf)
	wantCode(t, err, codes.AccessTokenAlgNotAllowed)
}

func TestAttackUnknownKID(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	acct, leaf, _ := e.account(t, "acme", Planner)
	// A token signed by a key the gateway never published, under its own kid.
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	kid, _ := keyID(priv.Public())
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: priv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType(TokenType))
	raw, _ := jwt.Signed(signer).Claims(goodClaims(acct, leaf, e.clock.Now())).Serialize()
	_, err := e.verifier.Verify(ctx, raw, leaf)
	wantCode(t, err, codes.AccessTokenUnknownKID)
	// The same attacker naming the gateway's kid: the signature fails.
	signer, _ = jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: priv, KeyID: activeKID(t, e)}},
		(&jose.SignerOptions{}).WithType(TokenType))
	raw, _ = jwt.Signed(signer).Claims(goodClaims(acct, leaf, e.clock.Now())).Serialize()
	_, err = e.verifier.Verify(ctx, raw, leaf)
	wantCode(t, err, codes.AccessTokenBadSignature)
	// No kid at all.
	_, err = e.verifier.Verify(ctx, e.rawEd25519(t, `{"alg":"EdDSA","typ":"at+jwt"}`, goodClaims(acct, leaf, e.clock.Now())), leaf)
	wantCode(t, err, codes.AccessTokenUnknownKID)
}

func TestAttackExpired(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	acct, leaf, _ := e.account(t, "acme", Dispatcher)
	// exp is 15 min (read) after iat; 30 s of leeway, not a second more.
	raw := e.issue(t, acct, leaf, -ReadTokenLifetime-Leeway+time.Second, FleetRead)
	if _, err := e.verifier.Verify(ctx, raw, leaf); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	raw = e.issue(t, acct, leaf, -ReadTokenLifetime-Leeway, FleetRead)
	_, err := e.verifier.Verify(ctx, raw, leaf)
	wantCode(t, err, codes.AccessTokenExpired)
	// A token in use (cached) expires all the same.
	raw = e.issue(t, acct, leaf, 0, FleetRead)
	if _, err := e.verifier.Verify(ctx, raw, leaf); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(ReadTokenLifetime + Leeway)
	if err := e.keys.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = e.verifier.Verify(ctx, raw, leaf)
	wantCode(t, err, codes.AccessTokenExpired)
	// A control token lives 5 minutes.
	raw = e.issue(t, acct, leaf, -ControlTokenLifetime-Leeway, DispatchWrite)
	_, err = e.verifier.Verify(ctx, raw, leaf)
	wantCode(t, err, codes.AccessTokenExpired)
}

func TestAttackNotYetValid(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	acct, leaf, _ := e.account(t, "acme", Planner)
	raw := e.issue(t, acct, leaf, Leeway, FleetRead)
	if _, err := e.verifier.Verify(ctx, raw, leaf); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	raw = e.issue(t, acct, leaf, Leeway+time.Second, FleetRead)
	_, err := e.verifier.Verify(ctx, raw, leaf)
	wantCode(t, err, codes.AccessTokenNotYetValid)
	// nbf alone in the future.
	cl := goodClaims(acct, leaf, e.clock.Now())
	cl["nbf"] = e.clock.Now().Add(2 * time.Minute).Unix()
	_, err = e.verifier.Verify(ctx, e.signWith(t, cl, nil), leaf)
	wantCode(t, err, codes.AccessTokenNotYetValid)
}

func TestAttackWrongAudience(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	acct, leaf, _ := e.account(t, "acme", Planner)
	other, err := NewIssuer(e.keys, TokenConfig{Issuer: testIssuer, Audience: "https://other.api"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := other.Issue(acct, leaf, []Scope{FleetRead}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.verifier.Verify(ctx, raw, leaf)
	wantCode(t, err, codes.AccessTokenWrongAudience)
	cl := goodClaims(acct, leaf, e.clock.Now())
	cl["aud"] = []string{testAudience, "https://other.api"}
	_, err = e.verifier.Verify(ctx, e.signWith(t, cl, nil), leaf)
	if c := CodeOf(err); c != codes.AccessTokenWrongAudience && c != codes.AccessTokenClaimsInvalid {
		t.Fatalf("audience list: %v", err)
	}
}

func TestAttackWrongIssuer(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	acct, leaf, _ := e.account(t, "acme", Planner)
	other, err := NewIssuer(e.keys, TokenConfig{Issuer: "https://evil.test", Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := other.Issue(acct, leaf, []Scope{FleetRead}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.verifier.Verify(ctx, raw, leaf)
	wantCode(t, err, codes.AccessTokenWrongIssuer)
}

func TestAttackTamperedPayload(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	acct, leaf, _ := e.account(t, "acme", Planner)
	raw := e.issue(t, acct, leaf, 0, FleetRead)
	parts := strings.Split(raw, ".")
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var cl map[string]any
	if err := json.Unmarshal(pb, &cl); err != nil {
		t.Fatal(err)
	}
	for name, bend := range map[string]func(map[string]any){
		"scope escalated": func(m map[string]any) { m["scope"] = "fleet:read security:write" },
		"lifetime":        func(m map[string]any) { m["exp"] = m["exp"].(float64) + 3600 },
		"carrier":         func(m map[string]any) { m["carrier"] = "C2" },
	} {
		t.Run(name, func(t *testing.T) {
			m := map[string]any{}
			for k, v := range cl {
				m[k] = v
			}
			bend(m)
			nb, _ := json.Marshal(m)
			_, err := e.verifier.Verify(ctx, parts[0]+"."+b64(nb)+"."+parts[2], leaf)
			wantCode(t, err, codes.AccessTokenBadSignature)
		})
	}
	t.Run("signature bit", func(t *testing.T) {
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sig[7] ^= 1
		_, err := e.verifier.Verify(ctx, parts[0]+"."+parts[1]+"."+b64(sig), leaf)
		wantCode(t, err, codes.AccessTokenBadSignature)
	})
}

func TestAttackTenThousandDots(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	_, leaf, _ := e.account(t, "acme", Planner)
	// 10,000 dots are over the size limit, refused before they are counted.
	_, err := e.verifier.Verify(ctx, strings.Repeat(".", 10000), leaf)
	wantCode(t, err, codes.AccessTokenTooLarge)
	// Under it, counted in one pass and refused before any decoding.
	for _, raw := range []string{strings.Repeat(".", MaxTokenBytes), strings.Repeat("a.", 4000), "a.b", "a.b.c.d"} {
		_, err := e.verifier.Verify(ctx, raw, leaf)
		wantCode(t, err, codes.AccessTokenMalformed)
	}
	// Refused in one pass: the error value is the only allocation, also
	// when the dots follow a valid token (nothing is decoded).
	acct, _, _ := e.account(t, "acme", Planner)
	valid := e.issue(t, acct, leaf, 0, FleetRead)
	for _, dots := range []string{strings.Repeat(".", MaxTokenBytes), valid + strings.Repeat(".", MaxTokenBytes-len(valid))} {
		_, err := e.verifier.Verify(ctx, dots, leaf)
		wantCode(t, err, codes.AccessTokenMalformed)
		if n := testing.AllocsPerRun(20, func() { _, _ = e.verifier.Verify(ctx, dots, leaf) }); n > 2 {
			t.Fatalf("%v allocations refusing a token of dots; want at most 2", n)
		}
	}
}

func TestAttackOversizedToken(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	acct, leaf, _ := e.account(t, "acme", Planner)
	cl := goodClaims(acct, leaf, e.clock.Now())
	cl["pad"] = strings.Repeat("x", MaxTokenBytes)
	raw := e.signWith(t, cl, nil)
	_, err := e.verifier.Verify(ctx, raw, leaf)
	wantCode(t, err, codes.AccessTokenTooLarge)
	if n := testing.AllocsPerRun(20, func() { _, _ = e.verifier.Verify(ctx, raw, leaf) }); n > 2 {
		t.Fatalf("%v allocations refusing an oversized token", n)
	}
	// A huge header under the total limit.
	hdr := `{"alg":"EdDSA","kid":"` + strings.Repeat("k", 1000) + `","typ":"at+jwt"}`
	_, err = e.verifier.Verify(ctx, e.rawEd25519(t, hdr, goodClaims(acct, leaf, e.clock.Now())), leaf)
	wantCode(t, err, codes.AccessTokenMalformed)
}

func TestAttackUnboundToken(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	acct, leaf, _ := e.account(t, "acme", Planner)
	for name, cnf := range map[string]any{"no cnf": nil, "empty cnf": map[string]any{}, "x5t#S256 empty": map[string]any{"x5t#S256": ""},
		"jkt instead": map[string]any{"jkt": "abc"}} {
		t.Run(name, func(t *testing.T) {
			cl := goodClaims(acct, leaf, e.clock.Now())
			if cnf == nil {
				delete(cl, "cnf")
			} else {
				cl["cnf"] = cnf
			}
			_, err := e.verifier.Verify(ctx, e.signWith(t, cl, nil), leaf)
			wantCode(t, err, codes.AccessTokenUnbound)
		})
	}
}

func TestVerifyRefusesWhatTheGatewayNeverIssues(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	acct, leaf, _ := e.account(t, "acme", Planner)
	now := e.clock.Now()
	kid := activeKID(t, e)
	bend := func(f func(m map[string]any)) map[string]any {
		cl := goodClaims(acct, leaf, now)
		f(cl)
		return cl
	}
	for name, tc := range map[string]struct {
		raw  string
		code string
	}{
		"lives an hour": {e.signWith(t, bend(func(m map[string]any) { m["exp"] = now.Add(time.Hour).Unix() }), nil), codes.AccessTokenClaimsInvalid},
		"no jti":        {e.signWith(t, bend(func(m map[string]any) { delete(m, "jti") }), nil), codes.AccessTokenClaimsInvalid},
		"no sub":        {e.signWith(t, bend(func(m map[string]any) { delete(m, "sub") }), nil), codes.AccessTokenClaimsInvalid},
		"no exp":        {e.signWith(t, bend(func(m map[string]any) { delete(m, "exp") }), nil), codes.AccessTokenClaimsInvalid},
		"unknown scope": {e.signWith(t, bend(func(m map[string]any) { m["scope"] = "fleet:read root" }), nil), codes.AccessTokenClaimsInvalid},
		"client_id of another": {e.signWith(t, bend(func(m map[string]any) { m["client_id"] = "other" }), nil),
			codes.AccessTokenClaimsInvalid},
		"embedded jwk": {e.signWith(t, goodClaims(acct, leaf, now), map[jose.HeaderKey]any{"jwk": map[string]any{"kty": "OKP"}}),
			codes.AccessTokenMalformed},
		"crit": {e.signWith(t, goodClaims(acct, leaf, now), map[jose.HeaderKey]any{"crit": []string{"exp"}}), codes.AccessTokenMalformed},
		"typ JWT": {e.rawEd25519(t, `{"alg":"EdDSA","kid":"`+kid+`","typ":"JWT"}`, goodClaims(acct, leaf, now)),
			codes.AccessTokenMalformed},
		"duplicate alg": {e.rawEd25519(t, `{"alg":"HS256","alg":"EdDSA","kid":"`+kid+`","typ":"at+jwt"}`, goodClaims(acct, leaf, now)),
			codes.AccessTokenMalformed},
		"header not base64url": {"eyJ*bGciOiJFZERTQSJ9.e30.AA", codes.AccessTokenMalformed},
		"empty":                {"", codes.AccessTokenMissing},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.verifier.Verify(ctx, tc.raw, leaf)
			wantCode(t, err, tc.code)
		})
	}
}

func TestConfigValidation(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	for _, iss := range []string{"", "http://gw.test", "https://gw.test/", "https://gw.test?x=1", "https://u@gw.test", "gw.test"} {
		if _, err := NewIssuer(e.keys, TokenConfig{Issuer: iss}); err == nil {
			t.Errorf("issuer %q accepted", iss)
		}
	}
	if _, err := NewKeySet(KeySetDeps{Store: e.store, Sealer: e.sealer, Events: e.events}, KeySetConfig{Alg: "HS256"}); err == nil {
		t.Error("HS256 token keys accepted")
	}
}

func TestVerifiedTokenCache(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	acct, leaf, _ := e.account(t, "acme", Planner)
	raw := e.issue(t, acct, leaf, 0, FleetRead, TelemetryRead)
	c1, err := e.verifier.Verify(ctx, raw, leaf)
	if err != nil {
		t.Fatal(err)
	}
	c1.Scopes[0] = SecurityWrite // a caller scribbling on its copy
	c2, err := e.verifier.Verify(ctx, raw, leaf)
	if err != nil || c2.Scopes[0] != FleetRead {
		t.Fatalf("cached claims altered by a caller: %v %v", c2.Scopes, err)
	}
	// Only tokens that verified are cached: a refused one stays refused
	// and takes no room.
	parts := strings.Split(raw, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[10] ^= 0x80
	tampered := parts[0] + "." + parts[1] + "." + b64(sig)
	for range 2 {
		_, err = e.verifier.Verify(ctx, tampered, leaf)
		wantCode(t, err, codes.AccessTokenBadSignature)
	}
	if n := len(e.verifier.cache.cur) + len(e.verifier.cache.prev); n != 1 {
		t.Fatalf("%d cache entries; want 1", n)
	}
	// Bounded: two generations of MaxVerifiedTokens.
	var tc = newTokenCache()
	for i := range 3*MaxVerifiedTokens + 7 {
		var k [32]byte
		k[0], k[1], k[2] = byte(i), byte(i>>8), byte(i>>16)
		tc.put(k, cachedToken{})
	}
	if n := len(tc.cur) + len(tc.prev); n > 2*MaxVerifiedTokens {
		t.Fatalf("%d entries", n)
	}
}
