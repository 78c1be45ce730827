package agent

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Enrollment is what Enroll returns: the truck's first certificate chain,
// the fleet root to trust for the gateway, and the kid its frame key was
// registered under.
type Enrollment struct {
	Chain    []*x509.Certificate
	RootPEM  []byte
	FrameKID string
}

// EnrollRequest is a first enrollment.
type EnrollRequest struct {
	// GatewayURL is the vehicle listener, https://host:port.
	GatewayURL string
	// GatewayCAPEM is the fleet root the gateway's TLS certificate must
	// chain to, obtained out of band (with the join token).
	GatewayCAPEM []byte
	// VehicleID is the id the join token was made for.
	VehicleID string
	// Token is the join token `fifthwheel pki join-token vehicle ID`
	// printed: single use and short-lived. It is sent once and never logged.
	Token string
	// TLSKey is the key to certify (ECDSA P-256 or Ed25519, in a TPM or
	// secure element if there is one).
	TLSKey crypto.Signer
	// FrameKey, if set, is registered as the truck's frame-signing key
	// (Ed25519 or ECDSA P-256), under FrameKID (empty: the gateway derives
	// one).
	FrameKey crypto.Signer
	FrameKID string
	// DialContext, if set, dials the gateway.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Enroll trades a join token and a CSR for the truck's first certificate
// (POST /v1/pki/enroll, docs/PROTOCOL.md "Enrollment and renewal"), over
// TLS 1.3 without a client certificate, trusting only GatewayCAPEM.
func Enroll(ctx context.Context, req EnrollRequest) (*Enrollment, error) {
	base, err := url.Parse(req.GatewayURL)
	if err != nil || base.Scheme != "https" || base.Host == "" {
		return nil, errors.New("agent: enroll: gateway URL must be https://host[:port]")
	}
	base.Path = ""
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(req.GatewayCAPEM) {
		return nil, errors.New("agent: enroll: no CA certificate")
	}
	if !validID(req.VehicleID) || req.Token == "" || req.TLSKey == nil {
		return nil, errors.New("agent: enroll: vehicle id, token and TLS key are required")
	}
	uri, _ := url.Parse(vehiclePrefix + req.VehicleID)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: req.VehicleID}, URIs: []*url.URL{uri}}, req.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("agent: enroll: make CSR: %w", err)
	}
	type frameKey struct {
		Alg       string `json:"alg"`
		PublicKey string `json:"public_key"`
		KID       string `json:"kid,omitempty"`
	}
	body := struct {
		Token    string    `json:"token"`
		CSR      string    `json:"csr"`
		FrameKey *frameKey `json:"frame_key,omitempty"`
	}{Token: req.Token, CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))}
	if req.FrameKey != nil {
		s, err := frameSigner(req.FrameKey)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKIXPublicKey(req.FrameKey.Public())
		if err != nil {
			return nil, err
		}
		body.FrameKey = &frameKey{Alg: string(s.Alg()), KID: req.FrameKID,
			PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
	}
	b, _ := json.Marshal(body)
	var dial dialFunc = req.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: DefaultHandshakeTimeout}).DialContext
	}
	hc := &http.Client{Timeout: renewTimeout, Transport: gatewayTransport(dial,
		&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots, ServerName: base.Hostname()}, DefaultHandshakeTimeout, true)}
	defer hc.CloseIdleConnections()
	res, err := postPKI(ctx, hc, base, "/v1/pki/enroll", b, nil)
	if err != nil {
		return nil, err
	}
	chain, err := parseChainPEM([]byte(res.Certificate))
	if err != nil {
		return nil, err
	}
	if id, err := VehicleIDOf(chain[0]); err != nil || id != req.VehicleID || !publicKeysEqual(chain[0].PublicKey, req.TLSKey.Public()) {
		return nil, connErr(KindProtocol, "bad_pki_response", errors.New("the certificate does not name this vehicle and key"))
	}
	if time.Now().After(chain[0].NotAfter) {
		return nil, connErr(KindProtocol, "bad_pki_response", errors.New("the certificate is expired"))
	}
	return &Enrollment{Chain: chain, RootPEM: []byte(res.CA), FrameKID: res.FrameKID}, nil
}
