package sim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/internal/atomicfile"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// Credentials are one truck's identity: its certificate chain (leaf
// first) and TLS key, and its frame-signing key, separate from the TLS key
// and registered at the gateway under FrameKID.
type Credentials struct {
	Chain    []*x509.Certificate
	TLSKey   crypto.Signer
	FrameKey crypto.Signer
	FrameKID string
	// Reused reports credentials loaded from a cache rather than newly
	// enrolled.
	Reused bool
}

// Provisioner gives a truck its credentials.
type Provisioner interface {
	Provision(ctx context.Context, vehicleID string) (Credentials, error)
}

// provisionRetry provisions one vehicle, trying up to three times with a
// growing pause: an enrollment may meet a busy gateway. Both runners (the
// fleet and the load generator) provision through it.
func provisionRetry(ctx context.Context, p Provisioner, vehicleID string, log *slog.Logger) (Credentials, error) {
	var creds Credentials
	var err error
	for attempt := range 3 {
		creds, err = p.Provision(ctx, vehicleID)
		if err == nil || ctx.Err() != nil {
			break
		}
		log.Warn("provisioning failed; retrying", slog.String("vehicle", vehicleID), slog.Any("err", err))
		if !sleepUntil(ctx, time.Now().Add(time.Duration(attempt+1)*500*time.Millisecond)) {
			break
		}
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("sim: provision %s: %w", vehicleID, err)
	}
	return creds, nil
}

// forEachVehicle runs fn for vehicles 0 … n-1 on workers goroutines and
// returns the first error, after which no further vehicle is started.
func forEachVehicle(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				if err := fn(pctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case jobs <- i:
		case <-pctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(pctx); err != nil && pctx.Err() != nil {
		return err
	}
	return nil
}

// JoinTokens mints one-time join tokens, as `fifthwheel pki join-token
// vehicle ID` does.
type JoinTokens interface {
	JoinToken(ctx context.Context, vehicleID string) (string, error)
}

// CAJoinTokens mints join tokens with the fleet CA (the gateway's data
// directory or store, and its KEK).
type CAJoinTokens struct {
	CA *pki.CA
	// TTL of each token (0: the CA's default).
	TTL time.Duration
	// By is who mints them, for the CA's events (the operator running the
	// simulator).
	By principal.Principal
}

// JoinToken implements JoinTokens.
func (c CAJoinTokens) JoinToken(ctx context.Context, vehicleID string) (string, error) {
	tok, err := c.CA.CreateJoinToken(ctx, vehicleID, c.TTL, c.By)
	if err != nil {
		return "", err
	}
	return tok.Secret, nil
}

// EnrollProvisioner enrolls a truck the way a real one is brought up: it
// makes an ECDSA P-256 TLS key and a separate Ed25519 frame key, gets a
// join token, and calls agent.Enroll (POST /v1/pki/enroll), which issues
// the certificate and registers the frame key in the same request
// (docs/PROTOCOL.md "Enrollment and renewal": frame_key).
type EnrollProvisioner struct {
	Tokens JoinTokens
	// GatewayURL is the vehicle listener, https://host:port.
	GatewayURL string
	// GatewayCAPEM is the fleet root the gateway's certificate chains to.
	GatewayCAPEM []byte
	// DialContext, if set, dials the gateway.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Provision implements Provisioner.
func (p *EnrollProvisioner) Provision(ctx context.Context, vehicleID string) (Credentials, error) {
	tlsKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Credentials{}, err
	}
	_, frameKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Credentials{}, err
	}
	tok, err := p.Tokens.JoinToken(ctx, vehicleID)
	if err != nil {
		return Credentials{}, fmt.Errorf("join token for %s: %w", vehicleID, err)
	}
	en, err := agent.Enroll(ctx, agent.EnrollRequest{GatewayURL: p.GatewayURL, GatewayCAPEM: p.GatewayCAPEM,
		VehicleID: vehicleID, Token: tok, TLSKey: tlsKey, FrameKey: frameKey, DialContext: p.DialContext})
	if err != nil {
		return Credentials{}, fmt.Errorf("enroll %s: %w", vehicleID, err)
	}
	if en.FrameKID == "" {
		return Credentials{}, fmt.Errorf("enroll %s: the gateway did not register the frame key", vehicleID)
	}
	return Credentials{Chain: en.Chain, TLSKey: tlsKey, FrameKey: frameKey, FrameKID: en.FrameKID}, nil
}

// CachedProvisioner keeps each truck's credentials in Dir/<id>/ (mode
// 0700/0600), so a fleet is enrolled once and reused by later runs. Cached
// credentials are used only while they chain to RootPEM and stay valid for
// MinValidity; otherwise the truck is provisioned again by Next. Dir/<id>/
// is also the truck's agent state directory (its frame counter).
type CachedProvisioner struct {
	Dir         string
	RootPEM     []byte
	MinValidity time.Duration
	Next        Provisioner
}

// credentialsFile is the cache file in each truck's directory.
const credentialsFile = "credentials.json"

type cachedCreds struct {
	V        int    `json:"v"`
	Root     string `json:"root_sha256"` // the fleet root it chains to
	Chain    string `json:"chain"`       // PEM, leaf first
	TLSKey   string `json:"tls_key"`     // PEM PKCS #8
	FrameKey string `json:"frame_key"`   // PEM PKCS #8
	FrameKID string `json:"frame_kid"`
}

// Provision implements Provisioner.
func (p *CachedProvisioner) Provision(ctx context.Context, vehicleID string) (Credentials, error) {
	dir := filepath.Join(p.Dir, vehicleID)
	if c, err := p.load(dir, vehicleID); err == nil {
		return c, nil
	}
	c, err := p.Next.Provision(ctx, vehicleID)
	if err != nil {
		return Credentials{}, err
	}
	if err := p.store(dir, c); err != nil {
		return Credentials{}, fmt.Errorf("cache credentials of %s: %v", vehicleID, err)
	}
	return c, nil
}

func (p *CachedProvisioner) rootID() string {
	h := sha256.Sum256(bytes.TrimSpace(p.RootPEM))
	return hex.EncodeToString(h[:])
}

func (p *CachedProvisioner) load(dir, vehicleID string) (Credentials, error) {
	b, err := os.ReadFile(filepath.Join(dir, credentialsFile))
	if err != nil {
		return Credentials{}, err
	}
	var cc cachedCreds
	if err := json.Unmarshal(b, &cc); err != nil || cc.V != 1 || cc.Root != p.rootID() {
		return Credentials{}, errors.New("sim: cached credentials are for another fleet or unreadable")
	}
	chain, err := parseChain([]byte(cc.Chain))
	if err != nil {
		return Credentials{}, err
	}
	tlsKey, err := parseKey([]byte(cc.TLSKey))
	if err != nil {
		return Credentials{}, err
	}
	frameKey, err := parseKey([]byte(cc.FrameKey))
	if err != nil {
		return Credentials{}, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(p.RootPEM) {
		return Credentials{}, errors.New("sim: no fleet root")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	leaf := chain[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		CurrentTime: time.Now().Add(p.MinValidity), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return Credentials{}, err
	}
	if id, err := agent.VehicleIDOf(leaf); err != nil || id != vehicleID {
		return Credentials{}, errors.New("sim: cached certificate is for another vehicle")
	}
	return Credentials{Chain: chain, TLSKey: tlsKey, FrameKey: frameKey, FrameKID: cc.FrameKID, Reused: true}, nil
}

func (p *CachedProvisioner) store(dir string, c Credentials) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var chain []byte
	for _, cert := range c.Chain {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})...)
	}
	tlsKey, err := keyPEM(c.TLSKey)
	if err != nil {
		return err
	}
	frameKey, err := keyPEM(c.FrameKey)
	if err != nil {
		return err
	}
	b, err := json.Marshal(cachedCreds{V: 1, Root: p.rootID(), Chain: string(chain), TLSKey: string(tlsKey),
		FrameKey: string(frameKey), FrameKID: c.FrameKID})
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, credentialsFile), b, 0o600)
}

func keyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("sim: not a PEM PRIVATE KEY")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("sim: the key cannot sign")
	}
	return s, nil
}

func parseChain(b []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("sim: no certificate")
	}
	return chain, nil
}
