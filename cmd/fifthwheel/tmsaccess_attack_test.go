package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// accessRefusalSLA: a suspension, a removed role or a revocation stops
// unexpired tokens within 1 s on every replica (issue 19; the same budget
// as revocation, DESIGN.md invariant 6).
const accessRefusalSLA = time.Second

// tmsFleet is the registry the TMS access attacks run against: two
// carriers, a truck and a planner client each, and an approver operator.
type tmsFleet struct {
	ctl, gw      *gateway // the CLI's gateway and the one requests go to (two replicas on PostgreSQL)
	a, b         tls.Certificate
	approver     tls.Certificate
	noCert       tls.Certificate
	tokA, tokB   string
	tokApprover  string
	metadataIss  string
	vehicleRoute string // truck-a's state
}

// issueTMS issues a credential of kind for id (with extra flags, such as
// --carrier) and sets its roles.
func issueTMS(g *gateway, kind, id, roles string, extra ...string) tls.Certificate {
	g.t.Helper()
	dir := filepath.Join(g.t.TempDir(), id)
	g.mustCLI(append([]string{"pki", "issue", kind, id, "--out", dir}, extra...)...)
	if roles != "" {
		g.mustCLI(kind, "roles", "set", id, roles)
	}
	c, err := pki.LoadCredential(dir)
	if err != nil {
		g.t.Fatal(err)
	}
	c.Leaf, _ = x509.ParseCertificate(c.Certificate[0])
	return c
}

func newTMSFleet(t *testing.T, engine string) *tmsFleet {
	var f tmsFleet
	if engine == "sqlite" {
		f.ctl = devGateway(t)
		f.gw = f.ctl
	} else {
		f.ctl, f.gw = pgReplicas(t)
	}
	f.ctl.mustCLI("vehicle", "add", "truck-a", "--carrier", "acme")
	f.ctl.mustCLI("vehicle", "add", "truck-b", "--carrier", "bolt")
	f.a = issueTMS(f.ctl, "client", "tms-a", "planner", "--carrier", "acme")
	f.b = issueTMS(f.ctl, "client", "tms-b", "planner", "--carrier", "bolt")
	f.approver = issueTMS(f.ctl, "operator", "approver-1", "approver")
	f.tokA = f.gw.token(f.a, "")
	f.tokB = f.gw.token(f.b, "")
	f.tokApprover = f.gw.token(f.approver, "")
	resp, body := f.gw.tmsGet(f.noCert, "", authz.MetadataPath)
	var meta struct {
		Issuer string `json:"issuer"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &meta) != nil || meta.Issuer == "" {
		t.Fatalf("metadata without a certificate: %d %s", resp.StatusCode, body)
	}
	f.metadataIss = meta.Issuer
	f.vehicleRoute = "/v1/vehicles/truck-a/state"
	return &f
}

// do sends method path with credential c and token on the gateway.
func (f *tmsFleet) do(c tls.Certificate, token, method, path string) (*http.Response, []byte) {
	f.gw.t.Helper()
	req, err := http.NewRequest(method, "https://"+f.gw.addrs.TMS+path, nil)
	if err != nil {
		f.gw.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.gw.client(c).Do(req)
	if err != nil {
		f.gw.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// refusedInvalid checks the generic answer to a token that does not verify
// and the event with its precise code, about the certificate's principal.
func (f *tmsFleet) refusedInvalid(t *testing.T, c tls.Certificate, token, code string) {
	t.Helper()
	resp, body := f.do(c, token, http.MethodGet, f.vehicleRoute)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body2s(body), `"code":"`+codes.AccessTokenInvalid+`"`) {
		t.Fatalf("answer %d %s, want 401 %s", resp.StatusCode, body, codes.AccessTokenInvalid)
	}
	if h := resp.Header.Get("WWW-Authenticate"); h != `Bearer error="invalid_token"` {
		t.Errorf("WWW-Authenticate %q", h)
	}
	if strings.Contains(body2s(body), code) {
		t.Errorf("the answer names the check that failed (%s): %s", code, body)
	}
	who, _ := pki.PrincipalFromChains([][]*x509.Certificate{{c.Leaf}})
	f.gw.waitEvent(code, who.String())
}

func body2s(b []byte) string { return string(b) }

// parts splits a compact JWS.
func parts(t *testing.T, tok string) (h, p, s string) {
	t.Helper()
	x := strings.Split(tok, ".")
	if len(x) != 3 {
		t.Fatalf("token %q is not a compact JWS", tok)
	}
	return x[0], x[1], x[2]
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// header decodes a token's protected header.
func header(t *testing.T, tok string) map[string]any {
	h, _, _ := parts(t, tok)
	b, err := base64.RawURLEncoding.DecodeString(h)
	var m map[string]any
	if err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("header of %q", tok)
	}
	return m
}

// mint signs a token with the gateway's own active key (read from the
// store and opened with its secrets key, as the gateway does), for the
// attacks whose token only the gateway could have signed: expired, not yet
// valid, another audience or issuer.
func (f *tmsFleet) mint(t *testing.T, cfg authz.TokenConfig, c tls.Certificate, carrier string, now time.Time) string {
	t.Helper()
	kek, err := pki.LoadKeyFileKEK(f.ctl.kekFile())
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := openSecretsKey(f.ctl.pkiDir(), kek, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), f.ctl.storeConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := authz.NewKeySet(authz.KeySetDeps{Store: tokenKeyStore{st}, Sealer: sealer, Events: noEvents{}, Now: func() time.Time { return now }},
		authz.KeySetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	iss, err := authz.NewIssuer(keys, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := pki.PrincipalFromChains([][]*x509.Certificate{{c.Leaf}})
	raw, _, err := iss.Issue(authz.Account{Principal: p, Active: true, Carrier: carrier, Roles: []authz.Role{authz.Planner}},
		c.Leaf, []authz.Scope{authz.FleetRead}, now)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestAttackTMSAccess: the attacks of issue 19 on the TMS listener,
// through `serve`, on both store engines (on PostgreSQL the registry
// changes go through one gateway and the requests through the other).
// Each is refused with its event, and the positive control beside it
// passes, so a refusal is the defence and not a broken setup.
func TestAttackTMSAccess(t *testing.T) {
	// Sequential (no t.Parallel): it asserts accessRefusalSLA, which a
	// parallel neighbour's load could break.
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			f := newTMSFleet(t, engine)
			if resp, body := f.do(f.a, f.tokA, http.MethodGet, f.vehicleRoute); resp.StatusCode != http.StatusOK ||
				!strings.Contains(string(body), `"state":"never_connected"`) {
				t.Fatalf("positive control: tms-a reading truck-a: %d %s", resp.StatusCode, body)
			}

			t.Run("TokenWithoutMTLS", func(t *testing.T) {
				resp, body := f.do(f.noCert, f.tokA, http.MethodGet, f.vehicleRoute)
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), codes.ClientCertificateRequired) {
					t.Fatalf("%d %s, want 403 %s", resp.StatusCode, body, codes.ClientCertificateRequired)
				}
				f.gw.waitEvent(codes.ClientCertificateRequired, `"listener":"tms"`)
			})
			t.Run("ClientAsTokenWithClientBsCertificate", func(t *testing.T) {
				f.refusedInvalid(t, f.b, f.tokA, codes.AccessTokenBindingMismatch)
			})
			t.Run("AlgNone", func(t *testing.T) {
				h := header(t, f.tokA)
				h["alg"] = "none"
				_, p, _ := parts(t, f.tokA)
				f.refusedInvalid(t, f.a, b64(h)+"."+p+".", codes.AccessTokenAlgNotAllowed)
			})
			t.Run("HS256SignedWithThePublicKey", func(t *testing.T) {
				resp, body := f.gw.tmsGet(f.noCert, "", authz.JWKSPath)
				var set struct {
					Keys []struct {
						KID string `json:"kid"`
						X   string `json:"x"`
					} `json:"keys"`
				}
				if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &set) != nil || len(set.Keys) == 0 {
					t.Fatalf("JWKS without a certificate: %d %s", resp.StatusCode, body)
				}
				pub, err := base64.RawURLEncoding.DecodeString(set.Keys[0].X)
				if err != nil {
					t.Fatal(err)
				}
				h := header(t, f.tokA)
				h["alg"] = "HS256"
				_, p, _ := parts(t, f.tokA)
				input := b64(h) + "." + p
				mac := hmac.New(sha256.New, pub)
				mac.Write([]byte(input))
				f.refusedInvalid(t, f.a, input+"."+base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), codes.AccessTokenAlgNotAllowed)
			})
			t.Run("UnknownKID", func(t *testing.T) {
				h := header(t, f.tokA)
				h["kid"] = "no-such-key"
				_, p, s := parts(t, f.tokA)
				f.refusedInvalid(t, f.a, b64(h)+"."+p+"."+s, codes.AccessTokenUnknownKID)
			})
			t.Run("Expired", func(t *testing.T) {
				tok := f.mint(t, authz.TokenConfig{Issuer: f.metadataIss}, f.a, "acme", time.Now().Add(-time.Hour))
				f.refusedInvalid(t, f.a, tok, codes.AccessTokenExpired)
			})
			t.Run("NotYetValid", func(t *testing.T) {
				tok := f.mint(t, authz.TokenConfig{Issuer: f.metadataIss}, f.a, "acme", time.Now().Add(10*time.Minute))
				f.refusedInvalid(t, f.a, tok, codes.AccessTokenNotYetValid)
			})
			t.Run("WrongAudience", func(t *testing.T) {
				tok := f.mint(t, authz.TokenConfig{Issuer: f.metadataIss, Audience: "https://another-gateway.example"}, f.a, "acme", time.Now())
				f.refusedInvalid(t, f.a, tok, codes.AccessTokenWrongAudience)
			})
			t.Run("WrongIssuer", func(t *testing.T) {
				tok := f.mint(t, authz.TokenConfig{Issuer: "https://another-gateway.example", Audience: f.metadataIss}, f.a, "acme", time.Now())
				f.refusedInvalid(t, f.a, tok, codes.AccessTokenWrongIssuer)
			})
			t.Run("TamperedPayload", func(t *testing.T) {
				h, p, s := parts(t, f.tokA)
				b, _ := base64.RawURLEncoding.DecodeString(p)
				b = []byte(strings.Replace(string(b), `"carrier":"acme"`, `"carrier":"bolt"`, 1))
				f.refusedInvalid(t, f.a, h+"."+base64.RawURLEncoding.EncodeToString(b)+"."+s, codes.AccessTokenBadSignature)
			})
			t.Run("HeaderOfTenThousandDots", func(t *testing.T) {
				f.refusedInvalid(t, f.a, strings.Repeat(".", 10_000), codes.AccessTokenTooLarge)
			})
			t.Run("OversizedToken", func(t *testing.T) {
				h, p, s := parts(t, f.tokA)
				f.refusedInvalid(t, f.a, h+"."+p+strings.Repeat("A", 12<<10)+"."+s, codes.AccessTokenTooLarge)
			})
			t.Run("PlannerCallsApproverRoute", func(t *testing.T) {
				resp, body := f.do(f.a, f.tokA, http.MethodPost, "/v1/commands/cmd-1/approvals")
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), codes.AccessScopeRequired) {
					t.Fatalf("%d %s, want 403 %s", resp.StatusCode, body, codes.AccessScopeRequired)
				}
				f.gw.waitEvent(codes.AccessScopeRequired, "urn:fifthwheel:client:tms-a")
				// The approver passes the guard: the handler asks for the
				// Idempotency-Key this request lacks.
				if resp, body := f.do(f.approver, f.tokApprover, http.MethodPost, "/v1/commands/cmd-1/approvals"); resp.StatusCode != http.StatusBadRequest ||
					!strings.Contains(string(body), codes.IdempotencyKeyRequired) {
					t.Fatalf("approver: %d %s, want 400 %s past the guard", resp.StatusCode, body, codes.IdempotencyKeyRequired)
				}
			})
			t.Run("CarrierAReadsCarrierBsTruck", func(t *testing.T) {
				other, body := f.do(f.a, f.tokA, http.MethodGet, "/v1/vehicles/truck-b/state")
				unknown, body2 := f.do(f.a, f.tokA, http.MethodGet, "/v1/vehicles/truck-zz/state")
				if other.StatusCode != http.StatusNotFound || unknown.StatusCode != http.StatusNotFound {
					t.Fatalf("another carrier's truck %d, an unknown id %d; want 404 both", other.StatusCode, unknown.StatusCode)
				}
				if norm(body) != norm(body2) {
					t.Errorf("another carrier's truck and an unknown id answer differently:\n%s\n%s", body, body2)
				}
				f.gw.waitEvent(codes.AccessOtherCarrier, "truck-b")
				for _, p := range []string{"/v1/vehicles/truck-b/telemetry/latest", "/v1/vehicles/truck-b/telemetry"} {
					if resp, body := f.do(f.a, f.tokA, http.MethodGet, p); resp.StatusCode != http.StatusNotFound {
						t.Errorf("%s: %d %s, want 404", p, resp.StatusCode, body)
					}
				}
				_, list := f.do(f.a, f.tokA, http.MethodGet, "/v1/vehicles")
				if strings.Contains(string(list), "truck-b") || !strings.Contains(string(list), "truck-a") {
					t.Errorf("tms-a's vehicle list: %s", list)
				}
				_, fleet := f.do(f.a, f.tokA, http.MethodGet, "/v1/fleet/state")
				if strings.Contains(string(fleet), "truck-b") {
					t.Errorf("tms-a's fleet state shows carrier bolt's truck: %s", fleet)
				}
			})
			t.Run("CarrierBReadsCarrierAsRawFrame", func(t *testing.T) {
				// truck-a (carrier acme) stores a frame, so the raw route
				// has something to leak: without the carrier check tms-b
				// would get it (200), not a 404.
				truck, _ := f.ctl.issue("vehicle", "truck-a")
				key := f.ctl.addFrameKey("truck-a")
				status, body, err := post(t, f.gw.client(truck), "https://"+f.gw.addrs.Vehicle+"/v1/vehicle/telemetry",
					key.batch(t, "truck-a", 0, 1, time.Now()))
				if err != nil || status != http.StatusOK || !strings.Contains(string(body), `"verdict":"accepted"`) {
					t.Fatalf("truck-a's frame: %v %d %s", err, status, body)
				}
				raw := "/v1/vehicles/truck-a/frames/0/0/raw"
				if resp, body := f.do(f.a, f.tokA, http.MethodGet, raw); resp.StatusCode != http.StatusOK {
					t.Fatalf("positive control: tms-a reading its truck's raw frame: %d %s", resp.StatusCode, body)
				}
				other, body := f.do(f.b, f.tokB, http.MethodGet, raw)
				unknown, body2 := f.do(f.b, f.tokB, http.MethodGet, "/v1/vehicles/truck-zz/frames/0/0/raw")
				if other.StatusCode != http.StatusNotFound || unknown.StatusCode != http.StatusNotFound {
					t.Fatalf("another carrier's raw frame %d %s, an unknown id's %d %s; want 404 both",
						other.StatusCode, body, unknown.StatusCode, body2)
				}
				if norm(body) != norm(body2) {
					t.Errorf("another carrier's raw frame and an unknown id answer differently:\n%s\n%s", body, body2)
				}
				e := f.gw.waitEvent(codes.AccessOtherCarrier, "urn:fifthwheel:vehicle:truck-a")
				if !strings.Contains(string(e.Body), "urn:fifthwheel:client:tms-b") {
					t.Errorf("the refusal's event does not name tms-b: %s", e.Body)
				}
			})
			// The changes of authority, last: each ends a credential.
			t.Run("RoleRemovedMidToken", func(t *testing.T) {
				c := issueTMS(f.ctl, "client", "tms-r", "planner", "--carrier", "acme")
				tok := f.gw.token(c, "")
				f.ctl.mustCLI("client", "roles", "set", "tms-r", "")
				f.refusedWithin(t, c, tok, http.StatusForbidden, codes.AccessRoleRequired)
			})
			t.Run("SuspendedClientWithUnexpiredToken", func(t *testing.T) {
				f.ctl.mustCLI("client", "suspend", "tms-b")
				f.refusedWithin(t, f.b, f.tokB, http.StatusUnauthorized, codes.AccessTokenPrincipalInactive)
			})
			t.Run("RevokedCertificateWithUnexpiredToken", func(t *testing.T) {
				f.ctl.mustCLI("pki", "revoke", "--client", "tms-a", "--reason", "key_compromise")
				who, _ := pki.PrincipalFromChains([][]*x509.Certificate{{f.a.Leaf}})
				start := time.Now()
				for {
					// A new connection each time: the gateway refuses the
					// revoked certificate in the handshake (the TLS alert
					// bad certificate, event tls_cert_revoked) or, past a
					// handshake its revocation data did not yet know, the
					// guard does (401, access_token_principal_inactive).
					// Anything else (a 200, another error or status) fails.
					c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: f.gw.tlsConfig(f.a)}}
					req, _ := http.NewRequest(http.MethodGet, "https://"+f.gw.addrs.TMS+f.vehicleRoute, nil)
					req.Header.Set("Authorization", "Bearer "+f.tokA)
					resp, err := c.Do(req)
					switch {
					case err != nil:
						// The refusals: the alert bad certificate in a new
						// handshake (tls_cert_revoked), or, on a
						// connection whose handshake came before the
						// revocation reached the gateway, that connection
						// closed (session_closed_revoked; the client reads
						// EOF or a reset, as it may under TLS 1.3 for the
						// alert too). Either way the gateway's event must
						// name this certificate: a failure of any other
						// cause has none, and fails.
						if !badCertificateAlert(err) && !closedByPeer(err) {
							t.Fatalf("the request with the revoked certificate failed otherwise than with the gateway's refusal: %v", err)
						}
						e, ok := f.gw.eventWithin(5*time.Second, pki.SerialString(f.a.Leaf.SerialNumber), codes.TLSCertRevoked, codes.SessionClosedRevoked)
						if !ok {
							t.Fatalf("the request failed (%v) but no tls_cert_revoked or session_closed_revoked event names the certificate", err)
						}
						if e.Code == codes.TLSCertRevoked && !strings.Contains(string(e.Body), who.String()) {
							t.Fatalf("the handshake refusal's event does not name %s: %s", who, e.Body)
						}
						t.Logf("refused (%s, %v) %v after the revocation returned", e.Code, err, time.Since(start))
						return
					case resp.StatusCode == http.StatusUnauthorized:
						body, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if !strings.Contains(string(body), `"code":"`+codes.AccessTokenPrincipalInactive+`"`) {
							t.Fatalf("401 %s, want %s", body, codes.AccessTokenPrincipalInactive)
						}
						e := f.gw.waitEvent(codes.AccessTokenPrincipalInactive, who.String())
						if !strings.Contains(string(e.Body), "revoked") {
							t.Fatalf("the refusal's event does not say the certificate is revoked: %s", e.Body)
						}
						t.Logf("token refused %v after the revocation returned", time.Since(start))
						return
					case resp.StatusCode != http.StatusOK:
						body, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						t.Fatalf("%d %s, want a TLS refusal or 401 %s", resp.StatusCode, body, codes.AccessTokenPrincipalInactive)
					}
					resp.Body.Close()
					if time.Since(start) > accessRefusalSLA {
						t.Fatalf("tms-a's token still works %v after its certificate was revoked", time.Since(start))
					}
					time.Sleep(20 * time.Millisecond)
				}
			})
		})
	}
}

// refusedWithin polls the vehicle route with c and token until it is
// refused with status and code, which must happen within accessRefusalSLA
// of the change, and the event be written.
func (f *tmsFleet) refusedWithin(t *testing.T, c tls.Certificate, token string, status int, code string) {
	t.Helper()
	start := time.Now()
	for {
		resp, body := f.do(c, token, http.MethodGet, f.vehicleRoute)
		if resp.StatusCode == status {
			if code != codes.AccessTokenPrincipalInactive && !strings.Contains(string(body), code) {
				t.Fatalf("%d %s, want %s", resp.StatusCode, body, code)
			}
			break
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %s while waiting for %d %s", resp.StatusCode, body, status, code)
		}
		if time.Since(start) > accessRefusalSLA {
			t.Fatalf("still admitted %v after the change", time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("refused %v after the change returned", time.Since(start))
	who, _ := pki.PrincipalFromChains([][]*x509.Certificate{{c.Leaf}})
	f.gw.waitEvent(code, who.String())
}

// badCertificateAlert reports whether err is the TLS alert bad_certificate
// from the server: how the TMS listener refuses a client certificate in
// the handshake (crypto/tls sends it when the server's verification of the
// client's chain fails; the client sees it on its first read).
// eventWithin returns the first event of one of codes whose body contains
// want, waiting up to d; false if none came (the caller fails its own
// test: waitEvent would fail the gateway's).
func (g *gateway) eventWithin(d time.Duration, want string, codes ...string) (store.EventRow, bool) {
	deadline := time.Now().Add(d)
	for {
		for _, c := range codes {
			for _, e := range g.events(c) {
				if strings.Contains(string(e.Body), want) {
					return e, true
				}
			}
		}
		if time.Now().After(deadline) {
			return store.EventRow{}, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// closedByPeer reports whether err is the connection closed by the other
// end (EOF or a reset) during the exchange.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

func badCertificateAlert(err error) bool {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" {
		return false
	}
	return strings.Contains(op.Err.Error(), "bad certificate")
}

// norm drops a problem's per-request members (instance, request id) so two
// answers can be compared.
func norm(b []byte) string {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return string(b)
	}
	delete(m, "instance")
	delete(m, "request_id")
	out, _ := json.Marshal(m)
	return string(out)
}

// noEvents drops events: the test's own key set emits none that matter.
type noEvents struct{}

func (noEvents) Emit(context.Context, ...event.Event) error { return nil }
