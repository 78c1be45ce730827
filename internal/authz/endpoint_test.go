package authz

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// server is the three handlers behind a TLS listener that asks for, but
// does not require, a client certificate (the well-known routes are
// anonymous), as the TMS listener's wiring will.
type server struct {
	*env
	dir     *memDirectory
	srv     *httptest.Server
	tokEvts *memEvents
}

func newServer(t *testing.T) *server {
	t.Helper()
	e := newEnv(t, AlgEdDSA)
	s := &server{env: e, dir: &memDirectory{accounts: map[principal.Principal]Account{}}, tokEvts: &memEvents{}}
	ep, err := NewTokenEndpoint(TokenEndpointDeps{Issuer: e.issuer, Directory: s.dir, Events: s.tokEvts})
	if err != nil {
		t.Fatal(err)
	}
	md, err := NewMetadataHandler(TokenConfig{Issuer: testIssuer, Audience: testAudience})
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := NewJWKSHandler(e.keys)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(TokenPath, ep)
	mux.Handle(MetadataPath, md)
	mux.Handle(JWKSPath, jwks)
	s.srv = httptest.NewUnstartedServer(mux)
	s.srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: e.ca.pool, MinVersion: tls.VersionTLS13}
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	// The key set's clock is fixed; the handlers run at real time here.
	e.clock.Advance(time.Until(e.clock.Now()) * -1)
	if err := e.keys.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// client returns an HTTPS client presenting cred (none if nil).
func (s *server) client(cred *tls.Certificate) *http.Client {
	tr := s.srv.Client().Transport.(*http.Transport).Clone()
	if cred != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{*cred}
	}
	return &http.Client{Transport: tr}
}

func (s *server) register(t *testing.T, id string, roles ...Role) (Account, *x509.Certificate, tls.Certificate) {
	acct, leaf, cred := s.account(t, id, roles...)
	s.dir.accounts[acct.Principal] = acct
	return acct, leaf, cred
}

func (s *server) post(t *testing.T, c *http.Client, form string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+TokenPath, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestTokenEndpointIssuesABoundToken(t *testing.T) {
	s := newServer(t)
	_, leaf, cred := s.register(t, "acme", Planner)
	resp, body := s.post(t, s.client(&cred), "grant_type=client_credentials&scope=fleet:read+telemetry:read&client_id=acme", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", resp.Header)
	}
	var tr map[string]any
	if err := json.Unmarshal(body, &tr); err != nil {
		t.Fatal(err)
	}
	if tr["token_type"] != "Bearer" || tr["expires_in"] != float64(900) || tr["scope"] != "fleet:read telemetry:read" || len(tr) != 4 {
		t.Fatalf("response %v", tr)
	}
	raw := tr["access_token"].(string)
	c, err := s.verifier.Verify(ctx, raw, leaf)
	if err != nil {
		t.Fatal(err)
	}
	ev := s.tokEvts.last()
	if ev.Code != codes.AccessTokenIssued || ev.Actor.String() != "urn:fifthwheel:client:acme" || ev.Attrs["jti"] != c.ID ||
		ev.Attrs["scopes"] != "fleet:read telemetry:read" {
		t.Fatalf("event %+v", ev)
	}
	evJSON, _ := json.Marshal(ev)
	if strings.Contains(string(evJSON), strings.Split(raw, ".")[2]) || strings.Contains(string(evJSON), strings.Split(raw, ".")[1]) {
		t.Fatal("the event carries the token")
	}

	// No scope requested: every scope the roles grant; a control scope
	// makes it a 5-minute token.
	resp, body = s.post(t, s.client(&cred), "grant_type=client_credentials", nil)
	_ = json.Unmarshal(body, &tr)
	if resp.StatusCode != http.StatusOK || tr["scope"] != "fleet:read telemetry:read commands:read tenders:write" ||
		tr["expires_in"] != float64(300) {
		t.Fatalf("default scopes: %d %v", resp.StatusCode, tr)
	}
}

func TestTokenEndpointRefusals(t *testing.T) {
	s := newServer(t)
	_, _, cred := s.register(t, "acme", Planner)
	suspended, _, suspendedCred := s.register(t, "gone", Planner)
	suspended.Active = false
	s.dir.accounts[suspended.Principal] = suspended
	_, _, rolelessCred := s.register(t, "newbie")
	_, unknownCred := s.ca.issue(t, principal.Principal{Kind: principal.Client, ID: "stranger"})
	_, vehicleCred := s.ca.issue(t, principal.Principal{Kind: principal.Vehicle, ID: "TRK-1"})
	s.dir.accounts[principal.Principal{Kind: principal.Vehicle, ID: "TRK-1"}] = Account{
		Principal: principal.Principal{Kind: principal.Vehicle, ID: "TRK-1"}, Active: true, Roles: []Role{Planner}}
	const good = "grant_type=client_credentials"
	form := "application/x-www-form-urlencoded"
	for name, tc := range map[string]struct {
		cred   *tls.Certificate
		form   string
		hdr    map[string]string
		path   string
		status int
		err    string
		code   string
	}{
		"no certificate":           {nil, good, nil, "", 401, "invalid_client", codes.OAuthInvalidClient},
		"authorization header":     {&cred, good, map[string]string{"Authorization": "Basic YWNtZTpzZWNyZXQ="}, "", 400, "invalid_request", codes.OAuthInvalidRequest},
		"client secret":            {&cred, good + "&client_secret=hunter2", nil, "", 400, "invalid_request", codes.OAuthInvalidRequest},
		"client assertion":         {&cred, good + "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=x", nil, "", 400, "invalid_request", codes.OAuthInvalidRequest},
		"parameters in the URL":    {&cred, good, nil, "?grant_type=client_credentials", 400, "invalid_request", codes.OAuthInvalidRequest},
		"JSON body":                {&cred, `{"grant_type":"client_credentials"}`, map[string]string{"Content-Type": "application/json"}, "", 400, "invalid_request", codes.OAuthInvalidRequest},
		"oversized body":           {&cred, good + "&x=" + strings.Repeat("a", MaxTokenRequestBytes), nil, "", 400, "invalid_request", codes.OAuthInvalidRequest},
		"repeated parameter":       {&cred, good + "&scope=fleet:read&scope=telemetry:read", nil, "", 400, "invalid_request", codes.OAuthInvalidRequest},
		"no grant type":            {&cred, "scope=fleet:read", nil, "", 400, "invalid_request", codes.OAuthInvalidRequest},
		"password grant":           {&cred, "grant_type=password&username=a", nil, "", 400, "unsupported_grant_type", codes.OAuthUnsupportedGrantType},
		"client_id of another":     {&cred, good + "&client_id=other", nil, "", 401, "invalid_client", codes.OAuthInvalidClient},
		"unregistered certificate": {&unknownCred, good, nil, "", 401, "invalid_client", codes.OAuthInvalidClient},
		"suspended client":         {&suspendedCred, good, nil, "", 401, "invalid_client", codes.OAuthInvalidClient},
		"vehicle certificate":      {&vehicleCred, good, nil, "", 401, "invalid_client", codes.OAuthInvalidClient},
		"no role":                  {&rolelessCred, good, nil, "", 400, "invalid_scope", codes.OAuthInvalidScope},
		"scope not granted":        {&cred, good + "&scope=fleet:read+commands:approve", nil, "", 400, "invalid_scope", codes.OAuthInvalidScope},
		"unknown scope":            {&cred, good + "&scope=admin", nil, "", 400, "invalid_scope", codes.OAuthInvalidScope},
		"double space in scope":    {&cred, good + "&scope=fleet:read++telemetry:read", nil, "", 400, "invalid_scope", codes.OAuthInvalidScope},
	} {
		t.Run(name, func(t *testing.T) {
			hdr := map[string]string{"Content-Type": form}
			for k, v := range tc.hdr {
				hdr[k] = v
			}
			req, _ := http.NewRequest(http.MethodPost, s.srv.URL+TokenPath+tc.path, strings.NewReader(tc.form))
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := s.client(tc.cred).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var oe map[string]any
			_ = json.Unmarshal(body, &oe)
			if resp.StatusCode != tc.status || oe["error"] != tc.err || oe["code"] != tc.code || oe["access_token"] != nil {
				t.Fatalf("%d %s; want %d %s", resp.StatusCode, body, tc.status, tc.err)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatal("no Cache-Control: no-store on an error")
			}
			if ev := s.tokEvts.last(); ev.Code != tc.code || ev.Verdict != "reject" {
				t.Fatalf("event %+v", ev)
			}
			if strings.Contains(string(body), "hunter2") {
				t.Fatal("the answer echoes the secret")
			}
		})
	}
	for _, ev := range s.tokEvts.evs {
		if b, _ := json.Marshal(ev); strings.Contains(string(b), "hunter2") || strings.Contains(string(b), "YWNtZTpzZWNyZXQ") {
			t.Fatalf("an event carries a secret: %s", b)
		}
	}
}

func TestTokenEndpointFailsClosed(t *testing.T) {
	s := newServer(t)
	_, _, cred := s.register(t, "acme", Planner)
	c := s.client(&cred)
	// Registry down.
	s.dir.err = errors.New("db down")
	resp, body := s.post(t, c, "grant_type=client_credentials", nil)
	if resp.StatusCode != 503 || !strings.Contains(string(body), codes.StoreUnavailable) || strings.Contains(string(body), "db down") {
		t.Fatalf("registry down: %d %s", resp.StatusCode, body)
	}
	s.dir.err = nil
	// The issued-token event cannot be recorded: no token leaves.
	s.tokEvts.err = errors.New("sink full")
	resp, body = s.post(t, c, "grant_type=client_credentials", nil)
	if resp.StatusCode != 503 || strings.Contains(string(body), "access_token") {
		t.Fatalf("event sink down: %d %s", resp.StatusCode, body)
	}
	s.tokEvts.err = nil
	// No usable key.
	s.store.listErr = errors.New("store down")
	s.clock.Advance(2 * MaxKeySetStaleness)
	resp, body = s.post(t, c, "grant_type=client_credentials", nil)
	if resp.StatusCode != 503 || !strings.Contains(string(body), codes.TokenKeyUnavailable) {
		t.Fatalf("no key: %d %s", resp.StatusCode, body)
	}
	resp, err := s.client(nil).Get(s.srv.URL + JWKSPath)
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("JWKS without keys: %v %v", resp, err)
	}
	resp.Body.Close()
	// GET on the token endpoint.
	resp, err = c.Get(s.srv.URL + TokenPath)
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET token: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestWellKnownNeedNoClientCertificate(t *testing.T) {
	s := newServer(t)
	anon := s.client(nil)
	resp, err := anon.Get(s.srv.URL + MetadataPath)
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if resp.StatusCode != 200 || md["issuer"] != testIssuer || md["token_endpoint"] != testIssuer+TokenPath ||
		md["jwks_uri"] != testIssuer+JWKSPath || md["tls_client_certificate_bound_access_tokens"] != true ||
		!slices.Equal(anyStrings(md["grant_types_supported"]), []string{"client_credentials"}) ||
		!slices.Equal(anyStrings(md["token_endpoint_auth_methods_supported"]), []string{"tls_client_auth"}) ||
		len(anyStrings(md["scopes_supported"])) != len(Scopes) {
		t.Fatalf("metadata %d %v", resp.StatusCode, md)
	}
	resp, err = anon.Get(s.srv.URL + JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var set map[string][]map[string]any
	_ = json.Unmarshal(body, &set)
	if resp.StatusCode != 200 || len(set["keys"]) != 1 || set["keys"][0]["use"] != "sig" || set["keys"][0]["alg"] != "EdDSA" ||
		set["keys"][0]["kid"] != activeKID(t, s.env) || set["keys"][0]["d"] != nil {
		t.Fatalf("JWKS %d %s", resp.StatusCode, body)
	}
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestInteropIndependentVerifier plays a third party: it fetches the
// metadata and JWKS anonymously, obtains a token over mTLS, and verifies it
// with go-jose's public API and the cnf binding by hand, without this
// package's code.
func TestInteropIndependentVerifier(t *testing.T) {
	for _, alg := range []string{AlgEdDSA, AlgES256} {
		t.Run(alg, func(t *testing.T) {
			s := newServer(t)
			if alg == AlgES256 {
				if _, err := s.keys.Rotate(ctx, AlgES256); err != nil {
					t.Fatal(err)
				}
			}
			_, _, cred := s.register(t, "acme", Auditor)
			c := s.client(&cred)

			get := func(u string) []byte {
				resp, err := s.client(nil).Get(u)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return b
			}
			var md struct {
				Issuer  string `json:"issuer"`
				JWKSURI string `json:"jwks_uri"`
			}
			if err := json.Unmarshal(get(s.srv.URL+MetadataPath), &md); err != nil {
				t.Fatal(err)
			}
			jwksURL, _ := url.Parse(md.JWKSURI)
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(get(s.srv.URL+jwksURL.Path), &set); err != nil {
				t.Fatal(err)
			}

			resp, body := s.post(t, c, "grant_type=client_credentials&scope=audit:read", nil)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			var tr struct {
				AccessToken string `json:"access_token"`
			}
			_ = json.Unmarshal(body, &tr)

			tok, err := jwt.ParseSigned(tr.AccessToken, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
			if err != nil {
				t.Fatal(err)
			}
			if tok.Headers[0].Algorithm != alg || tok.Headers[0].ExtraHeaders["typ"] != "at+jwt" {
				t.Fatalf("header %+v", tok.Headers[0])
			}
			keys := set.Key(tok.Headers[0].KeyID)
			if len(keys) != 1 || keys[0].Algorithm != alg || keys[0].Use != "sig" {
				t.Fatalf("kid %q not in the JWKS", tok.Headers[0].KeyID)
			}
			var std jwt.Claims
			var extra struct {
				Scope string `json:"scope"`
				Cnf   struct {
					X5tS256 string `json:"x5t#S256"`
				} `json:"cnf"`
			}
			if err := tok.Claims(keys[0].Key, &std, &extra); err != nil {
				t.Fatal(err)
			}
			if err := std.ValidateWithLeeway(jwt.Expected{Issuer: md.Issuer, AnyAudience: jwt.Audience{testAudience},
				Subject: "urn:fifthwheel:client:acme", Time: time.Now()}, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(cred.Certificate[0])
			if subtle.ConstantTimeCompare([]byte(extra.Cnf.X5tS256), []byte(base64.RawURLEncoding.EncodeToString(sum[:]))) != 1 {
				t.Fatalf("cnf %q does not bind the client certificate", extra.Cnf.X5tS256)
			}
			if extra.Scope != "audit:read" {
				t.Fatalf("scope %q", extra.Scope)
			}
		})
	}
}
