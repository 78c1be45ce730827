package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/atomicfile"
)

// InitConfig describes a new CA.
type InitConfig struct {
	Dir string
	// RootKeyFile receives the encrypted root key; default <Dir>/root.key.
	// Move it offline after Init.
	RootKeyFile          string
	Algorithm            KeyAlgorithm // default ECDSAP256
	RootLifetime         time.Duration
	IntermediateLifetime time.Duration
	// Name prefixes the CAs' common names; default "fifthwheel fleet".
	Name string
}

// InitResult says what Init wrote.
type InitResult struct {
	Root                *x509.Certificate
	RootKeyFile         string
	IntermediateKeyID   string
	IntermediateCertDER []byte
}

// Init creates a new CA in cfg.Dir: a root and one issuing intermediate,
// keys encrypted with kek. It refuses a directory that already holds a CA.
// The intermediate is recorded in the Registry by the first Load.
func Init(cfg InitConfig, kek KeyEncrypter) (*InitResult, error) {
	return initAt(cfg, kek, time.Now())
}

func initAt(cfg InitConfig, kek KeyEncrypter, now time.Time) (*InitResult, error) {
	if cfg.Dir == "" || kek == nil {
		return nil, errors.New("pki: Init needs a directory and a KEK")
	}
	if cfg.Algorithm == "" {
		cfg.Algorithm = ECDSAP256
	}
	if cfg.RootLifetime == 0 {
		cfg.RootLifetime = DefaultRootLifetime
	}
	if cfg.IntermediateLifetime == 0 {
		cfg.IntermediateLifetime = DefaultIntermediateLifetime
	}
	if cfg.IntermediateLifetime > MaxIntermediateLifetime || cfg.IntermediateLifetime >= cfg.RootLifetime {
		return nil, fmt.Errorf("pki: intermediate lifetime %v must be below %v and the root's", cfg.IntermediateLifetime, MaxIntermediateLifetime)
	}
	if cfg.Name == "" {
		cfg.Name = "fifthwheel fleet"
	}
	if cfg.RootKeyFile == "" {
		cfg.RootKeyFile = filepath.Join(cfg.Dir, defaultRootKey)
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, caStateFile)); err == nil {
		return nil, fmt.Errorf("pki: %s already holds a CA", cfg.Dir)
	}
	if _, err := os.Stat(cfg.RootKeyFile); err == nil {
		return nil, fmt.Errorf("pki: %s exists; refusing to overwrite a root key", cfg.RootKeyFile)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, intermediatesDir), 0o700); err != nil {
		return nil, fmt.Errorf("pki: create CA directory: %w", err)
	}

	rootKey, err := GenerateKey(cfg.Algorithm)
	if err != nil {
		return nil, err
	}
	rootKID, _ := KeyID(rootKey.Public())
	rootTmpl := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{CommonName: cfg.Name + " root " + now.UTC().Format("2006-01-02")},
		NotBefore:             now.Add(-ClockSkew).Truncate(time.Second),
		NotAfter:              now.Add(cfg.RootLifetime).Truncate(time.Second),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("pki: create root: %v", err)
	}
	root, _ := x509.ParseCertificate(rootDER)

	interDER, interKey, err := newIntermediate(root, rootKey, cfg.Algorithm, cfg.Name, cfg.IntermediateLifetime, now)
	if err != nil {
		return nil, err
	}
	interKID, _ := KeyID(interKey.Public())
	certPath, keyPath := intermediatePaths(cfg.Dir, interKID)

	// Keys first, state last: a crash leaves no ca.json, and Init can rerun
	// once the stray files are removed.
	if err := writeKeyFile(cfg.RootKeyFile, kek, keyRoleRoot, rootKID, rootKey); err != nil {
		return nil, err
	}
	if err := writeKeyFile(keyPath, kek, keyRoleIntermedia, interKID, interKey); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(cfg.Dir, rootCertFile), certPEM(rootDER), 0o644); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(certPath, certPEM(interDER), 0o644); err != nil {
		return nil, err
	}
	if err := writeStateDoc(cfg.Dir, caStateDoc{Intermediates: []intermediateItem{{KeyID: interKID, State: StateIssuing}}}); err != nil {
		return nil, err
	}
	return &InitResult{Root: root, RootKeyFile: cfg.RootKeyFile, IntermediateKeyID: interKID, IntermediateCertDER: interDER}, nil
}

// newIntermediate creates an intermediate CA certificate signed by the root.
// Path length 0 (it signs only leaves); its EKUs constrain what it may sign
// (Go's verifier enforces EKU nesting).
func newIntermediate(root *x509.Certificate, rootKey crypto.Signer, alg KeyAlgorithm, name string, lifetime time.Duration, now time.Time) ([]byte, crypto.Signer, error) {
	key, err := GenerateKey(alg)
	if err != nil {
		return nil, nil, err
	}
	kid, _ := KeyID(key.Public())
	notAfter := now.Add(lifetime).Truncate(time.Second)
	if notAfter.After(root.NotAfter) {
		notAfter = root.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{CommonName: name + " intermediate " + kid[:8]},
		NotBefore:             now.Add(-ClockSkew).Truncate(time.Second),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageOCSPSigning},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, key.Public(), rootKey)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: create intermediate: %v", err)
	}
	return der, key, nil
}
