package pki

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// Config tunes a loaded CA. Zero fields take the defaults in limits.go.
type Config struct {
	VehicleLifetime  time.Duration
	ClientLifetime   time.Duration
	OperatorLifetime time.Duration
	GatewayLifetime  time.Duration
	// JoinTokenTTL is the TTL of a join token created with ttl 0.
	JoinTokenTTL time.Duration
	// CRLURL and OCSPURL, when set, are written into leaf certificates
	// (CRL distribution point; authority information access) so third
	// parties can check them. The CRL URL gets "/<issuer key id>.crl".
	CRLURL  string
	OCSPURL string
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.VehicleLifetime, DefaultVehicleLifetime)
	def(&c.ClientLifetime, DefaultClientLifetime)
	def(&c.OperatorLifetime, DefaultOperatorLifetime)
	def(&c.GatewayLifetime, DefaultGatewayLifetime)
	def(&c.JoinTokenTTL, DefaultJoinTokenTTL)
	return c
}

func (c Config) validate() error {
	for _, b := range []struct {
		name   string
		v, max time.Duration
	}{
		{"vehicle lifetime", c.VehicleLifetime, MaxVehicleLifetime},
		{"client lifetime", c.ClientLifetime, MaxClientLifetime},
		{"operator lifetime", c.OperatorLifetime, MaxOperatorLifetime},
		{"gateway lifetime", c.GatewayLifetime, MaxGatewayLifetime},
		{"join token TTL", c.JoinTokenTTL, MaxJoinTokenTTL},
	} {
		if b.v < time.Minute || b.v > b.max {
			return fmt.Errorf("pki: %s %v out of range [1m, %v]", b.name, b.v, b.max)
		}
	}
	return nil
}

// Deps are the live collaborators of a CA.
type Deps struct {
	KEK      KeyEncrypter  // decrypts the intermediate keys; required
	Registry Registry      // required
	Events   event.Emitter // required
	Now      func() time.Time
	Log      *slog.Logger // nil: slog.Default()
}

// CA is a loaded fleet CA: the root certificate, the intermediates and the
// online keys. It is safe for concurrent use.
type CA struct {
	dir   string
	cfg   Config
	kek   KeyEncrypter
	reg   Registry
	ev    emitter
	now   func() time.Time
	log   *slog.Logger
	root  *x509.Certificate
	trust *Trust

	mu    sync.Mutex // serializes rotation and Reload
	state atomic.Pointer[caState]

	respMu     sync.Mutex
	responders map[string]*ocspResponder // by intermediate key id

	crlMu    sync.Mutex
	crlCache map[string]cachedCRL
}

type caState struct {
	issuing *intermediate
	byKID   map[string]*intermediate
	order   []string // ca.json order
}

type intermediate struct {
	kid    string
	cert   *x509.Certificate
	signer crypto.Signer // nil when the key file is gone (retired)
	state  IntermediateState
}

// Load opens the CA in dir: the root certificate, every intermediate, and
// the keys of those whose key file is present (the issuing one's is
// required). It records in the Registry any intermediate the Registry does
// not know yet, so intermediates can be revoked and appear in listings.
func Load(ctx context.Context, dir string, cfg Config, deps Deps) (*CA, error) {
	if deps.KEK == nil || deps.Registry == nil || deps.Events == nil {
		return nil, errors.New("pki: Load needs a KEK, a Registry and an event Emitter")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	root, err := readRoot(dir)
	if err != nil {
		return nil, err
	}
	ca := &CA{
		dir: dir, cfg: cfg, kek: deps.KEK, reg: deps.Registry, ev: emitter{deps.Events}, now: deps.Now, log: deps.Log,
		root: root, trust: &Trust{}, responders: map[string]*ocspResponder{}, crlCache: map[string]cachedCRL{},
	}
	if err := ca.Reload(ctx); err != nil {
		return nil, err
	}
	return ca, nil
}

// Reload re-reads ca.json and the intermediates, for a replica whose CA
// directory was updated by a rotation made elsewhere, and records in the
// Registry any intermediate it does not know yet. Listeners see the new
// trust set at their next handshake.
func (ca *CA) Reload(ctx context.Context) error {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if err := ca.reloadLocked(); err != nil {
		return err
	}
	rootKID := keyIDFromSPKI(ca.root.RawSubjectPublicKeyInfo)
	for _, it := range ca.state.Load().byKID {
		if err := ca.recordCA(ctx, it.cert, ProfileIntermediate, it.kid, rootKID); err != nil {
			return err
		}
	}
	return nil
}

func (ca *CA) reloadLocked() error {
	its, err := readIntermediates(ca.dir, ca.root)
	if err != nil {
		return err
	}
	st := &caState{byKID: map[string]*intermediate{}}
	for _, it := range its {
		_, keyPath := intermediatePaths(ca.dir, it.kid)
		it.signer, err = readKeyFile(keyPath, ca.kek, keyRoleIntermedia, it.cert)
		if err != nil && !(isNotExist(err) && it.state == StateRetired) {
			return err
		}
		if it.state == StateIssuing {
			if ca.now().After(it.cert.NotAfter) {
				return fmt.Errorf("pki: issuing intermediate %s expired at %v", it.kid, it.cert.NotAfter)
			}
			st.issuing = it
		}
		st.byKID[it.kid] = it
		st.order = append(st.order, it.kid)
	}
	ca.state.Store(st)
	ca.trust.set(trustedOf(its))
	return nil
}

// recordCA records an intermediate in the Registry unless it is there
// already, and announces it (cert_issued) when this call recorded it: Init
// has no Registry, so the first Load is where an intermediate becomes known.
func (ca *CA) recordCA(ctx context.Context, cert *x509.Certificate, prof Profile, id, issuerKID string) error {
	serial := SerialString(cert.SerialNumber)
	if _, err := ca.reg.GetIssued(ctx, serial); err == nil {
		return nil
	} else if !errors.Is(err, ErrNotFound) {
		return storeError(err)
	}
	err := ca.reg.RecordIssued(ctx, IssuedCert{
		Serial: serial, ID: id, Profile: prof, NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(),
		IssuerKeyID: issuerKID, DER: cert.Raw,
	}, IssueBasis{})
	if errors.Is(err, ErrConflict) { // another replica recorded it first; it announced it
		return nil
	}
	if err != nil {
		return storeError(err)
	}
	return ca.ev.emit(ctx, event.ClassPKI, "issue", event.Accept, event.SeverityMedium, codes.CertIssued,
		principal.Principal{Kind: principal.System, ID: "pki"}, "ca:"+id,
		map[string]any{"serial": serial, "profile": string(prof), "not_after": cert.NotAfter.UTC(), "issuer_key_id": issuerKID})
}

// Root returns the root certificate: what vehicles and clients trust for the
// gateway's server certificate.
func (ca *CA) Root() *x509.Certificate { return ca.root }

// Trust returns the live set of trusted intermediates, for ServerTLSConfig.
func (ca *CA) Trust() *Trust { return ca.trust }

// IssuingKeyID returns the key id of the issuing intermediate.
func (ca *CA) IssuingKeyID() string { return ca.state.Load().issuing.kid }

// Intermediates returns every intermediate's key id and state, in ca.json
// order.
func (ca *CA) Intermediates() []IntermediateInfo {
	st := ca.state.Load()
	out := make([]IntermediateInfo, 0, len(st.order))
	for _, kid := range st.order {
		it := st.byKID[kid]
		out = append(out, IntermediateInfo{KeyID: kid, State: it.state, Certificate: it.cert, HasKey: it.signer != nil})
	}
	return out
}

// IntermediateInfo describes one intermediate.
type IntermediateInfo struct {
	KeyID       string
	State       IntermediateState
	Certificate *x509.Certificate
	HasKey      bool
}
