package pki

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/atomicfile"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// A credential directory holds one certificate with its key and the fleet
// root, as the CLI writes them for operators and TMS clients and as the
// gateway keeps its own server certificate:
//
//	<dir>/cert.pem  the chain: the leaf, then its intermediate (0644)
//	<dir>/key.pem   the leaf's private key, PKCS #8, unencrypted (0600)
//	<dir>/ca.pem    the fleet root, what a peer verifies the chain against (0644)
//
// The directory is created 0700.
const (
	CredentialCertFile = "cert.pem"
	CredentialKeyFile  = "key.pem"
	CredentialCAFile   = "ca.pem"
)

// WriteCredential writes is, its private key and root into the credential
// directory dir, replacing what is there; each file is written atomically
// (atomicfile.Write), the key first.
func WriteCredential(dir string, is *Issued, key crypto.Signer, root *x509.Certificate) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pki: create %s: %w", dir, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: encode the key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	clear(der)
	defer clear(keyPEM)
	for _, f := range []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{CredentialKeyFile, keyPEM, 0o600},
		{CredentialCertFile, is.ChainPEM(), 0o644},
		{CredentialCAFile, certPEM(root.Raw), 0o644},
	} {
		if err := atomicfile.Write(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return err
		}
	}
	return nil
}

// LoadCredential reads the certificate chain and key of the credential
// directory dir (tls.LoadX509KeyPair: the key must match the leaf).
func LoadCredential(dir string) (tls.Certificate, error) {
	return tls.LoadX509KeyPair(filepath.Join(dir, CredentialCertFile), filepath.Join(dir, CredentialKeyFile))
}

// RenewDue reports whether a certificate valid from notBefore to notAfter
// has passed RenewAtFraction of its life at now: the point at which its
// holder replaces it (DESIGN.md: renewed at 2/3 of life).
func RenewDue(notBefore, notAfter, now time.Time) bool {
	life := notAfter.Sub(notBefore)
	return !now.Before(notBefore.Add(life * RenewAtNumerator / RenewAtDenominator))
}

// ServerCertConfig says which server certificate the gateway wants.
type ServerCertConfig struct {
	// ID is the gateway principal's id (urn:fifthwheel:gateway:<id>).
	// Required.
	ID string
	// DNSNames and IPAddresses are the names the certificate must carry
	// (pki.server_names). At least one is required.
	DNSNames    []string
	IPAddresses []net.IP
	// Dir is the credential directory the certificate is kept in
	// (DATA/gateway), so a restart reuses it; "" keeps it in memory only.
	Dir string
	// CheckInterval is how often Run re-checks it; 0 is
	// DefaultServerCertCheckInterval.
	CheckInterval time.Duration
}

// ServerCertDeps are ServerCert's collaborators.
type ServerCertDeps struct {
	// CA issues the certificate and says which intermediates are trusted.
	// Required.
	CA *CA
	// Revocations says whether the certificate in use was revoked.
	// Required.
	Revocations RevocationChecker
	// Actor is the principal recorded as requesting each issuance.
	Actor principal.Principal
	// Log receives issuance and renewal failures; nil is slog.Default().
	Log *slog.Logger
}

// ServerCert is the gateway's own TLS server certificate from the fleet CA,
// presented on both TLS listeners (GetCertificate). Ensure keeps the one in
// use, or the one stored in Dir, while it is good, and otherwise issues a
// new one (ECDSA P-256, the gateway profile) and stores it; Run calls
// Ensure every CheckInterval, so a running gateway renews it once past 2/3
// of its life, when the configured gateway id or names change, when its
// intermediate is no longer trusted or when it is revoked. A failed renewal
// keeps the current certificate and is logged: the listeners never go
// without one.
type ServerCert struct {
	cfg ServerCertConfig
	d   ServerCertDeps
	log *slog.Logger
	cur atomic.Pointer[tls.Certificate]
}

// NewServerCert validates cfg and deps. It issues nothing: call Ensure
// before the listeners start.
func NewServerCert(cfg ServerCertConfig, d ServerCertDeps) (*ServerCert, error) {
	if d.CA == nil || d.Revocations == nil {
		return nil, errors.New("pki: ServerCert needs a CA and a RevocationChecker")
	}
	if !principal.ValidID(cfg.ID) {
		return nil, fmt.Errorf("pki: gateway id %q is not a valid principal id", cfg.ID)
	}
	if len(cfg.DNSNames)+len(cfg.IPAddresses) == 0 {
		return nil, errors.New("pki: the server certificate needs at least one DNS name or IP address")
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = DefaultServerCertCheckInterval
	}
	if cfg.CheckInterval < 0 {
		return nil, errors.New("pki: ServerCert CheckInterval must be positive")
	}
	cfg.DNSNames = slices.Clone(cfg.DNSNames)
	cfg.IPAddresses = slices.Clone(cfg.IPAddresses)
	s := &ServerCert{cfg: cfg, d: d, log: d.Log}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s, nil
}

// GetCertificate is tls.Config.GetCertificate: the certificate in use.
func (s *ServerCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := s.cur.Load(); c != nil {
		return c, nil
	}
	return nil, errors.New("pki: the gateway has no server certificate")
}

// Ensure keeps the certificate in use, or the one stored in Dir, if it is
// still good at now; otherwise it issues a new one, stores it in Dir and
// uses it.
func (s *ServerCert) Ensure(ctx context.Context, now time.Time) error {
	if c := s.cur.Load(); c != nil && s.good(*c, now) {
		return nil
	}
	if s.cfg.Dir != "" {
		if c, err := LoadCredential(s.cfg.Dir); err == nil && s.good(c, now) {
			s.cur.Store(&c)
			return nil
		}
	}
	is, key, err := s.d.CA.IssueWithNewKey(ctx, IssueRequest{
		Subject: principal.Principal{Kind: principal.Gateway, ID: s.cfg.ID}, DNSNames: s.cfg.DNSNames,
		IPAddresses: s.cfg.IPAddresses, RequestedBy: s.d.Actor}, ECDSAP256)
	if err != nil {
		return fmt.Errorf("pki: issue the gateway's server certificate: %w", err)
	}
	if s.cfg.Dir != "" {
		if err := WriteCredential(s.cfg.Dir, is, key, s.d.CA.Root()); err != nil {
			return fmt.Errorf("pki: store the gateway's server certificate: %w", err)
		}
	}
	c := is.TLSCertificate(key)
	s.cur.Store(&c)
	s.log.Info("gateway server certificate issued", slog.String("serial", is.Record.Serial),
		slog.Time("not_after", is.Record.NotAfter), slog.Any("dns", s.cfg.DNSNames), slog.Any("ips", s.cfg.IPAddresses))
	return nil
}

// good: the gateway principal and the names configured, exactly; chained
// to an intermediate the CA trusts now; valid at now and not past 2/3 of
// its life; not revoked. An unanswerable revocation check (stale data)
// keeps it: it is not known to be revoked, and re-issuing at every check
// for as long as the data stays stale would gain nothing, since the
// listeners refuse handshakes on stale data anyway.
func (s *ServerCert) good(c tls.Certificate, now time.Time) bool {
	if len(c.Certificate) < 2 {
		return false
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return false
	}
	inter, err := x509.ParseCertificate(c.Certificate[1])
	if err != nil || !s.d.CA.Trust().Trusts(inter) || leaf.CheckSignatureFrom(inter) != nil {
		return false
	}
	if now.Before(leaf.NotBefore) || RenewDue(leaf.NotBefore, leaf.NotAfter, now) {
		return false
	}
	if p, err := PrincipalFromChains([][]*x509.Certificate{{leaf}}); err != nil ||
		p != (principal.Principal{Kind: principal.Gateway, ID: s.cfg.ID}) {
		return false
	}
	ipStrings := func(ips []net.IP) []string {
		out := make([]string, 0, len(ips))
		for _, ip := range ips {
			out = append(out, ip.String())
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(slices.Sorted(slices.Values(s.cfg.DNSNames)), slices.Sorted(slices.Values(leaf.DNSNames))) ||
		!slices.Equal(ipStrings(s.cfg.IPAddresses), ipStrings(leaf.IPAddresses)) {
		return false
	}
	switch revoked, err := s.d.Revocations.IsRevoked(SerialString(leaf.SerialNumber)); {
	case err != nil:
		s.log.Warn("revocation data unavailable; the gateway server certificate, not known to be revoked, is kept",
			slog.String("serial", SerialString(leaf.SerialNumber)), slog.Any("err", err))
	case revoked:
		return false
	}
	return true
}

// Run calls Ensure every CheckInterval until ctx ends.
func (s *ServerCert) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Ensure(ctx, time.Now()); err != nil {
				s.log.Error("renewing the gateway's server certificate failed; the current one stays", slog.Any("err", err))
			}
		}
	}
}
