package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/fifthwheel/fifthwheel/internal/authz"
)

// The "done when" of issue 19, through `serve`: a TMS client that knows
// only the standards (RFC 8414 metadata, RFC 7517 JWKS, RFC 6749
// client_credentials, RFC 8705 tls_client_auth and cnf) and verifies with a
// JOSE library the gateway does not use (lestrrat-go/jwx; the gateway signs
// and verifies with go-jose). It reads nothing of the gateway's own Go
// types: every member is read off the wire by its RFC name.

// independentClient is such a client: an HTTP client that follows the
// metadata's URLs verbatim. The issuer names the gateway as a deployment
// would (https://localhost:9443 under --dev), so the client's dialer sends
// every connection to the test gateway's listener, as DNS would.
type independentClient struct {
	t    *testing.T
	http *http.Client
}

func newIndependentClient(t *testing.T, g *gateway, cert tls.Certificate) *independentClient {
	tc := &tls.Config{RootCAs: g.roots(), MinVersion: tls.VersionTLS12}
	if len(cert.Certificate) > 0 {
		tc.Certificates = []tls.Certificate{cert}
	}
	var d net.Dialer
	tr := &http.Transport{TLSClientConfig: tc, DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, g.addrs.TMS)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &independentClient{t: t, http: &http.Client{Timeout: 20 * time.Second, Transport: tr}}
}

// getJSON GETs u (with token as a bearer token if not empty) and decodes
// a 200 answer into v.
func (c *independentClient) getJSON(u, token string, v any) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		c.t.Fatalf("GET %s: %v in %s", u, err, body)
	}
}

// asMetadata is the part of the RFC 8414 metadata the client uses.
type asMetadata struct {
	Issuer                       string   `json:"issuer"`
	TokenEndpoint                string   `json:"token_endpoint"`
	JWKSURI                      string   `json:"jwks_uri"`
	GrantTypes                   []string `json:"grant_types_supported"`
	AuthMethods                  []string `json:"token_endpoint_auth_methods_supported"`
	CertificateBoundAccessTokens bool     `json:"tls_client_certificate_bound_access_tokens"`
	SigningAlgs                  []string `json:"access_token_signing_alg_values_supported"`
}

// discover fetches the metadata at the well-known URL of the TMS
// listener, and checks what a certificate-bound client_credentials client
// needs of it.
func discover(t *testing.T, g *gateway, c *independentClient) asMetadata {
	t.Helper()
	var m asMetadata
	c.getJSON("https://"+g.addrs.TMS+"/.well-known/oauth-authorization-server", "", &m)
	if m.Issuer == "" || !strings.HasPrefix(m.TokenEndpoint, m.Issuer+"/") || !strings.HasPrefix(m.JWKSURI, m.Issuer+"/") {
		t.Fatalf("metadata: issuer %q, token_endpoint %q, jwks_uri %q", m.Issuer, m.TokenEndpoint, m.JWKSURI)
	}
	if !m.CertificateBoundAccessTokens || !slices.Contains(m.AuthMethods, "tls_client_auth") ||
		!slices.Contains(m.GrantTypes, "client_credentials") {
		t.Fatalf("metadata does not offer certificate-bound client_credentials with tls_client_auth: %+v", m)
	}
	return m
}

// fetchJWKS fetches the key set at the metadata's jwks_uri with jwx.
func fetchJWKS(t *testing.T, c *independentClient, m asMetadata) jwk.Set {
	t.Helper()
	set, err := jwk.Fetch(context.Background(), m.JWKSURI, jwk.WithHTTPClient(c.http))
	if err != nil {
		t.Fatalf("JWKS at %s: %v", m.JWKSURI, err)
	}
	if set.Len() == 0 {
		t.Fatal("empty JWKS")
	}
	return set
}

// tokenFor gets an access token at the metadata's token endpoint with
// grant client_credentials, authenticated by the client certificate
// alone (RFC 8705 §2.1; no client_id or secret is sent).
func tokenFor(t *testing.T, c *independentClient, m asMetadata) string {
	t.Helper()
	resp, err := c.http.PostForm(m.TokenEndpoint, url.Values{"grant_type": {"client_credentials"}})
	if err != nil {
		t.Fatalf("token endpoint: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" ||
		!strings.EqualFold(tok.TokenType, "Bearer") || tok.ExpiresIn <= 0 {
		t.Fatalf("token endpoint: %d %s", resp.StatusCode, body)
	}
	return tok.AccessToken
}

// verifyIndependently verifies raw with jwx against set: the signature
// with the key its kid names (the algorithm the key declares, which must
// be one the metadata lists), iss and aud (the gateway's audience is its
// issuer), exp and nbf with RFC 8725's small leeway, and the RFC 8705 §3.1
// binding: cnf.x5t#S256 is the base64url SHA-256 of the client
// certificate's DER. It returns the token, or fails the test with what
// did not verify.
func verifyIndependently(t *testing.T, set jwk.Set, m asMetadata, raw string, cert *x509.Certificate) jwt.Token {
	t.Helper()
	tok, err := parseIndependently(set, m, raw)
	if err != nil {
		t.Fatalf("jwx refuses the gateway's token: %v\n%s", err, raw)
	}
	kid, _ := tokenKID(raw)
	key, ok := set.LookupKeyID(kid)
	if !ok {
		t.Fatalf("no key %q in the JWKS", kid)
	}
	alg, ok := key.Algorithm()
	if !ok || !slices.Contains(m.SigningAlgs, alg.String()) {
		t.Fatalf("key %q declares alg %v, not one of the metadata's %v", kid, alg, m.SigningAlgs)
	}
	var cnf map[string]any
	if err := tok.Get("cnf", &cnf); err != nil {
		t.Fatalf("the token has no cnf: %v", err)
	}
	sum := sha256.Sum256(cert.Raw)
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); cnf["x5t#S256"] != want {
		t.Fatalf("cnf %v, want x5t#S256 %s (the client certificate's thumbprint)", cnf, want)
	}
	if len(cnf) != 1 {
		t.Errorf("cnf carries more than the certificate thumbprint: %v", cnf)
	}
	return tok
}

func parseIndependently(set jwk.Set, m asMetadata, raw string) (jwt.Token, error) {
	return jwt.Parse([]byte(raw),
		jwt.WithKeySet(set, jws.WithRequireKid(true)),
		jwt.WithValidate(true),
		jwt.WithIssuer(m.Issuer),
		jwt.WithAudience(m.Issuer),
		jwt.WithAcceptableSkew(30*time.Second),
		jwt.WithRequiredClaim("exp"),
		jwt.WithRequiredClaim("sub"),
		jwt.WithRequiredClaim("jti"))
}

// tokenKID is the kid of raw's protected header, read with jws.
func tokenKID(raw string) (string, error) {
	msg, err := jws.Parse([]byte(raw))
	if err != nil {
		return "", err
	}
	kid, _ := msg.Signatures()[0].ProtectedHeaders().KeyID()
	return kid, nil
}

// TestInteropIndependentClient: the independent client fetches the
// metadata and the JWKS without a client certificate, gets a token over
// mTLS, verifies it and its cnf binding with jwx, and lists its carrier's
// vehicles with it: 200, exactly carrier acme's trucks.
func TestInteropIndependentClient(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			g := engineGateway(t, engine)
			g.mustCLI("vehicle", "add", "truck-a", "--carrier", "acme")
			g.mustCLI("vehicle", "add", "truck-b", "--carrier", "bolt")
			g.mustCLI("vehicle", "add", "truck-c", "--carrier", "acme")
			cert := issueTMS(g, "client", "tms-i", "planner", "--carrier", "acme")

			anon := newIndependentClient(t, g, tls.Certificate{})
			m := discover(t, g, anon)
			set := fetchJWKS(t, anon, m)

			mtls := newIndependentClient(t, g, cert)
			raw := tokenFor(t, mtls, m)
			tok := verifyIndependently(t, set, m, raw, cert.Leaf)
			exp, _ := tok.Expiration()
			iat, _ := tok.IssuedAt()
			if life := exp.Sub(iat); life <= 0 || life > 15*time.Minute {
				t.Errorf("token lifetime %v, want at most 15 min", life)
			}
			if sub, _ := tok.Subject(); sub != "urn:fifthwheel:client:tms-i" {
				t.Errorf("sub %q", sub)
			}

			// The verifier verifies: a payload changed after signing is
			// refused by jwx too.
			h, p, s := parts(t, raw)
			pb, _ := base64.RawURLEncoding.DecodeString(p)
			forged := strings.Replace(string(pb), `"carrier":"acme"`, `"carrier":"bolt"`, 1)
			if forged == string(pb) {
				t.Fatalf("no carrier claim to tamper with in %s", pb)
			}
			if _, err := parseIndependently(set, m, h+"."+base64.RawURLEncoding.EncodeToString([]byte(forged))+"."+s); err == nil {
				t.Fatal("jwx accepts a tampered payload: the check above proves nothing")
			}

			var list struct {
				Vehicles []struct {
					ID      string `json:"id"`
					Carrier string `json:"carrier"`
				} `json:"vehicles"`
			}
			mtls.getJSON(strings.TrimSuffix(m.Issuer, "/")+"/v1/vehicles", raw, &list)
			var ids []string
			for _, v := range list.Vehicles {
				if v.Carrier != "acme" {
					t.Errorf("vehicle %s of carrier %q listed for a client of acme", v.ID, v.Carrier)
				}
				ids = append(ids, v.ID)
			}
			if !slices.Equal(ids, []string{"truck-a", "truck-c"}) {
				t.Fatalf("GET /v1/vehicles lists %v, want [truck-a truck-c]", ids)
			}
		})
	}
}

// TestTokenKeysRotateEndToEnd: `fifthwheel token keys rotate` against a
// running gateway (on PostgreSQL, run on one replica while tokens come
// from the other). A token signed before the rotation still verifies, with
// jwx against the JWKS published after it, and is accepted by the API: the
// old key stays published until its last token has expired. Tokens issued
// after the rotation carry the new kid, verify, and are accepted.
func TestTokenKeysRotateEndToEnd(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			f := newTMSFleet(t, engine)
			anon := newIndependentClient(t, f.gw, tls.Certificate{})
			m := discover(t, f.gw, anon)
			before := f.tokA
			oldKID, err := tokenKID(before)
			if err != nil || oldKID == "" {
				t.Fatalf("kid of %q: %v", before, err)
			}
			verifyIndependently(t, fetchJWKS(t, anon, m), m, before, f.a.Leaf)

			out := f.ctl.mustCLI("token", "keys", "rotate")
			if !strings.Contains(out, "now signs access tokens") {
				t.Fatalf("token keys rotate: %s", out)
			}
			// The gateway takes the new key at its next refresh.
			var after, newKID string
			deadline := time.Now().Add(4 * authz.DefaultKeyRefreshInterval)
			for {
				after = f.gw.token(f.a, "")
				if newKID, _ = tokenKID(after); newKID != oldKID {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("tokens still signed by %s %v after the rotation", oldKID, 4*authz.DefaultKeyRefreshInterval)
				}
				time.Sleep(100 * time.Millisecond)
			}

			set := fetchJWKS(t, anon, m)
			for _, kid := range []string{oldKID, newKID} {
				if _, ok := set.LookupKeyID(kid); !ok {
					t.Fatalf("the JWKS after the rotation lacks %s (old %s, new %s)", kid, oldKID, newKID)
				}
			}
			old := verifyIndependently(t, set, m, before, f.a.Leaf)
			verifyIndependently(t, set, m, after, f.a.Leaf)
			for name, tok := range map[string]string{"before": before, "after": after} {
				if resp, body := f.do(f.a, tok, http.MethodGet, f.vehicleRoute); resp.StatusCode != http.StatusOK {
					t.Errorf("the token issued %s the rotation: %d %s", name, resp.StatusCode, body)
				}
			}

			// The retired key is published at least until the old token
			// expires.
			var keys []tokenKeyRow
			if err := json.Unmarshal([]byte(f.ctl.mustCLI("token", "keys", "list", "-o", "json")), &keys); err != nil {
				t.Fatal(err)
			}
			exp, _ := old.Expiration()
			i := slices.IndexFunc(keys, func(k tokenKeyRow) bool { return k.KID == oldKID })
			if i < 0 || keys[i].State != "retired" || keys[i].PublishedUntil == nil || keys[i].PublishedUntil.Before(exp) {
				t.Fatalf("token keys list after the rotation: %+v; want %s retired and published until at least %v", keys, oldKID, exp)
			}
		})
	}
}
