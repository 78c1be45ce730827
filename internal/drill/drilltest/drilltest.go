// Package drilltest is a fake gateway for proving that drills fail: it
// enrolls and renews vehicles with its own throw-away CA and, depending on
// its Mode, accepts everything (revocation included: it changes nothing)
// or refuses the way the real gateway does while recording no event (and,
// if told, reporting plausibility findings). Its TMS listener (tms.go)
// does the same for the TMS access drills. A drill that passes against
// it checks nothing.
//
// # Security model
//
// None: test code only. Its CA key lives in memory for one test.
package drilltest

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/internal/drill"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/sim"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Mode is how the fake answers.
type Mode int

const (
	// AcceptAll accepts TLS 1.2, any client certificate and every frame:
	// a gateway with every targeted check disabled.
	AcceptAll Mode = iota
	// RefuseSilently refuses as Refuse says (and TLS 1.2, unknown CAs,
	// CA certificates and revoked vehicles at the handshake) but records
	// no security event: a gateway whose refusals leave no evidence.
	RefuseSilently
)

// Refuse returns the code to refuse the n-th frame (from 0) a vehicle
// posts with, "" to accept it.
type Refuse func(vehicleID string, n int) string

// Findings returns the plausibility findings of the n-th frame (from 0)
// a vehicle posts, when it is accepted; nil for none.
type Findings func(vehicleID string, n int) []string

// Gateway is the fake.
type Gateway struct {
	srv      *httptest.Server
	rootPEM  []byte
	ca       *x509.Certificate
	caKey    *ecdsa.PrivateKey
	mode     Mode
	refuse   Refuse
	mu       sync.Mutex
	counts   map[string]int
	findings Findings
	revoked  map[string]bool // vehicle ids; consulted in RefuseSilently mode only
	tmsSrv   *httptest.Server
	tms      tmsState // under mu
}

// SetFindings makes a RefuseSilently fake answer accepted frames with the
// findings f names (the plausibility drills); AcceptAll never reports a
// finding. Call it before the drills run.
func (g *Gateway) SetFindings(f Findings) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.findings = f
}

// Start starts a fake gateway; it stops when the test ends.
func Start(t testing.TB, mode Mode, refuse Refuse) *Gateway {
	t.Helper()
	g := &Gateway{mode: mode, refuse: refuse, counts: map[string]int{}, revoked: map[string]bool{}}
	var err error
	g.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "drilltest root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &g.caKey.PublicKey, g.caKey)
	if err != nil {
		t.Fatal(err)
	}
	g.ca, _ = x509.ParseCertificate(der)
	g.rootPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvCert := g.issue(t, &x509.Certificate{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, &srvKey.PublicKey)

	g.srv = httptest.NewUnstartedServer(http.HandlerFunc(g.serveHTTP))
	tc := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey}}}
	switch mode {
	case AcceptAll:
		tc.MinVersion = tls.VersionTLS12
		tc.ClientAuth = tls.RequestClientCert
	default:
		tc.MinVersion = tls.VersionTLS13
		pool := x509.NewCertPool()
		pool.AddCert(g.ca)
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
		// Vehicles only, as the real vehicle listener.
		tc.VerifyPeerCertificate = func(_ [][]byte, chains [][]*x509.Certificate) error {
			if len(chains) == 0 || len(chains[0][0].URIs) != 1 ||
				!strings.HasPrefix(chains[0][0].URIs[0].String(), "urn:fifthwheel:vehicle:") {
				return errors.New("drilltest: not a vehicle")
			}
			if chains[0][0].IsCA {
				return errors.New("drilltest: a CA certificate")
			}
			if g.isRevoked(vehicleOf(chains[0][0])) {
				return errors.New("drilltest: revoked")
			}
			return nil
		}
	}
	g.srv.TLS = tc
	g.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	g.srv.StartTLS()
	t.Cleanup(g.srv.Close)
	g.startTMS(t)
	return g
}

func (g *Gateway) issue(t testing.TB, tmpl *x509.Certificate, pub any) *x509.Certificate {
	t.Helper()
	c, err := g.issueErr(tmpl, pub)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (g *Gateway) issueErr(tmpl *x509.Certificate, pub any) (*x509.Certificate, error) {
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, g.ca, pub, g.caKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// Target is the drill target for the fake: its own provisioner, and an
// event store that holds nothing.
func (g *Gateway) Target() *drill.Target {
	return &drill.Target{URL: g.srv.URL, RootPEM: g.rootPEM, Provisioner: provisioner{g}, Events: noEvents{}, Issue: g.issueFor,
		ClockSkew: 5 * time.Second, Window: 0, Prefix: "drill", Revoke: g.revoke, IssueCAForgery: g.issueCAFor,
		TMSURL: g.tmsSrv.URL, RegisterClient: g.registerClient, RegisterVehicle: g.registerVehicle, RevokeClient: g.revokeClient}
}

// revoke records the vehicle as revoked: RefuseSilently refuses its
// certificates from then on, AcceptAll goes on accepting them.
func (g *Gateway) revoke(_ context.Context, id string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.revoked[id] = true
	return nil
}

func (g *Gateway) isRevoked(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.revoked[id]
}

// vehicleOf is the vehicle id of a certificate's first URI SAN, "" if none.
func vehicleOf(c *x509.Certificate) string {
	if len(c.URIs) == 0 {
		return ""
	}
	u := c.URIs[0].String()
	return u[strings.LastIndex(u, ":")+1:]
}

// issueCAFor issues a CA certificate with vehicle id's identity from the
// fake CA.
func (g *Gateway) issueCAFor(_ context.Context, id string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	u, _ := url.Parse(principal.Principal{Kind: principal.Vehicle, ID: id}.String())
	c, err := g.issueErr(&x509.Certificate{Subject: pkix.Name{CommonName: id}, URIs: []*url.URL{u}, IsCA: true,
		BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, &key.PublicKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}, nil
}

// renew answers POST agent.RenewPath: a certificate for the CSR's key with
// the presented certificate's identity (verified in RefuseSilently mode,
// taken as presented in AcceptAll mode).
func (g *Gateway) renew(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		http.Error(w, "no certificate", http.StatusForbidden)
		return
	}
	id := vehicleOf(r.TLS.PeerCertificates[0])
	var body struct {
		CSR string `json:"csr"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	blk, _ := pem.Decode([]byte(body.CSR))
	if blk == nil {
		http.Error(w, "no CSR", http.StatusBadRequest)
		return
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	u, _ := url.Parse(principal.Principal{Kind: principal.Vehicle, ID: id}.String())
	leaf, err := g.issueErr(&x509.Certificate{Subject: pkix.Name{CommonName: id}, URIs: []*url.URL{u},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, csr.PublicKey)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(struct {
		Certificate string `json:"certificate"`
	}{string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))})
}

// issueFor issues a certificate for p from the fake CA.
func (g *Gateway) issueFor(_ context.Context, p principal.Principal) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	u, _ := url.Parse(p.String())
	c, err := g.issueErr(&x509.Certificate{Subject: pkix.Name{CommonName: p.ID}, URIs: []*url.URL{u},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, &key.PublicKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}, nil
}

// provisioner issues vehicle credentials from the fake CA.
type provisioner struct{ g *Gateway }

func (p provisioner) Provision(_ context.Context, id string) (sim.Credentials, error) {
	tlsKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return sim.Credentials{}, err
	}
	_, frameKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return sim.Credentials{}, err
	}
	u, _ := url.Parse(principal.Principal{Kind: principal.Vehicle, ID: id}.String())
	leaf, err := p.g.issueErr(&x509.Certificate{Subject: pkix.Name{CommonName: id}, URIs: []*url.URL{u},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, &tlsKey.PublicKey)
	if err != nil {
		return sim.Credentials{}, err
	}
	return sim.Credentials{Chain: []*x509.Certificate{leaf}, TLSKey: tlsKey, FrameKey: frameKey, FrameKID: "k1"}, nil
}

// noEvents is an event store in which nothing was ever recorded.
type noEvents struct{}

func (noEvents) ListEvents(context.Context, store.EventFilter) ([]store.EventRow, error) {
	return nil, nil
}

func (g *Gateway) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == agent.RenewPath {
		g.renew(w, r)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != agent.TelemetryPath {
		http.NotFound(w, r)
		return
	}
	var body struct {
		Frames []json.RawMessage `json:"frames"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := ""
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		id = vehicleOf(r.TLS.PeerCertificates[0])
	}
	type result struct {
		Index    int      `json:"index"`
		Verdict  string   `json:"verdict"`
		Code     string   `json:"code,omitempty"`
		Findings []string `json:"findings,omitempty"`
	}
	out := struct {
		Results []result `json:"results"`
	}{Results: []result{}}
	for i := range body.Frames {
		g.mu.Lock()
		n := g.counts[id]
		g.counts[id]++
		findings := g.findings
		g.mu.Unlock()
		res := result{Index: i, Verdict: "accepted"}
		if g.mode == RefuseSilently && g.refuse != nil {
			if code := g.refuse(id, n); code != "" {
				res = result{Index: i, Verdict: "rejected", Code: code}
			}
		}
		if g.mode == RefuseSilently && res.Code == "" && findings != nil {
			res.Findings = findings(id, n)
		}
		out.Results = append(out.Results, res)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
