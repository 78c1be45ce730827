package drilltest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// The fake's TMS listener: a token endpoint and the vehicle read routes.
// AcceptAll hands a token to anyone and answers 200 to every request, a
// token or not, whatever the carrier: a gateway without certificate
// binding, carrier scope or revocation. RefuseSilently refuses as the
// real gateway answers (403 client_certificate_required without a
// certificate, 401 invalid_token for a token bound to another
// certificate or a revoked client, the same 404 for another carrier's
// vehicle and an unknown id) and records nothing.

// tmsState is the fake registry of the TMS drills.
type tmsState struct {
	clients  map[string]string // client id → carrier
	vehicles map[string]string // vehicle id → carrier
	revoked  map[string]bool   // client ids
	tokens   map[string]tmsToken
}

// tmsToken is what a fake token stands for.
type tmsToken struct {
	client string
	bound  [32]byte // SHA-256 of the certificate it was issued to
}

// startTMS starts the fake's TMS listener on the fake's CA.
func (g *Gateway) startTMS(t testing.TB) {
	t.Helper()
	g.tms = tmsState{clients: map[string]string{}, vehicles: map[string]string{}, revoked: map[string]bool{}, tokens: map[string]tmsToken{}}
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvCert := g.issue(t, &x509.Certificate{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, &srvKey.PublicKey)
	pool := x509.NewCertPool()
	pool.AddCert(g.ca)
	tc := &tls.Config{MinVersion: tls.VersionTLS13, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven,
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey}}}
	if g.mode == AcceptAll {
		tc.ClientAuth = tls.RequestClientCert
	}
	g.tmsSrv = httptest.NewUnstartedServer(http.HandlerFunc(g.serveTMS))
	g.tmsSrv.TLS = tc
	g.tmsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	g.tmsSrv.StartTLS()
	t.Cleanup(g.tmsSrv.Close)
}

// registerClient registers a TMS client of carrier and issues its
// certificate.
func (g *Gateway) registerClient(ctx context.Context, id, carrier string, _ []string) (tls.Certificate, error) {
	c, err := g.issueFor(ctx, principal.Principal{Kind: principal.Client, ID: id})
	if err != nil {
		return c, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tms.clients[id] = carrier
	return c, nil
}

func (g *Gateway) registerVehicle(_ context.Context, id, carrier string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tms.vehicles[id] = carrier
	return nil
}

// revokeClient records the client as revoked: RefuseSilently refuses its
// tokens from then on, AcceptAll goes on accepting them.
func (g *Gateway) revokeClient(_ context.Context, id string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tms.revoked[id] = true
	return nil
}

// problem writes a problem+json answer with code.
func problem(w http.ResponseWriter, status int, code, wwwAuth string) {
	if wwwAuth != "" {
		w.Header().Set("WWW-Authenticate", wwwAuth)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "code": code, "title": http.StatusText(status)})
}

func (g *Gateway) serveTMS(w http.ResponseWriter, r *http.Request) {
	var leaf *x509.Certificate
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		leaf = r.TLS.PeerCertificates[0]
	}
	if r.Method == http.MethodPost && r.URL.Path == "/oauth2/token" {
		g.issueToken(w, leaf)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/vehicles/")
	id, route, _ := strings.Cut(rest, "/")
	if r.Method != http.MethodGet || !ok || (route != "state" && route != "telemetry/latest") {
		problem(w, http.StatusNotFound, codes.NotFound, "")
		return
	}
	if g.mode == AcceptAll {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"vehicle_id": id, "state": "never_connected"})
		return
	}
	if leaf == nil {
		problem(w, http.StatusForbidden, codes.ClientCertificateRequired, "")
		return
	}
	raw, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	g.mu.Lock()
	tok, known := g.tms.tokens[raw]
	client := vehicleOf(leaf) // the id of the certificate's URI SAN
	revoked := g.tms.revoked[client]
	mine, theirs := g.tms.clients[client], g.tms.vehicles[id]
	g.mu.Unlock()
	switch {
	case !known || tok.bound != sha256.Sum256(leaf.Raw) || tok.client != client || revoked:
		problem(w, http.StatusUnauthorized, codes.AccessTokenInvalid, `Bearer error="invalid_token"`)
	case theirs == "" || theirs != mine:
		problem(w, http.StatusNotFound, codes.NotFound, "")
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"vehicle_id": id, "state": "never_connected"})
	}
}

// issueToken answers the token endpoint: a random token bound to the
// presented certificate (AcceptAll: to none, and to anyone).
func (g *Gateway) issueToken(w http.ResponseWriter, leaf *x509.Certificate) {
	if leaf == nil && g.mode != AcceptAll {
		problem(w, http.StatusUnauthorized, "invalid_client", "")
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	raw := hex.EncodeToString(b[:])
	if leaf != nil {
		g.mu.Lock()
		g.tms.tokens[raw] = tmsToken{client: vehicleOf(leaf), bound: sha256.Sum256(leaf.Raw)}
		g.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": raw, "token_type": "Bearer", "expires_in": 300})
}
