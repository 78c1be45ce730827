package authz

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// The token-signing algorithms, as JOSE names them (RFC 8037, RFC 7518).
const (
	AlgEdDSA = string(jose.EdDSA)
	AlgES256 = string(jose.ES256)
)

// pinnedAlgs is the one list of algorithms a token may carry.
var pinnedAlgs = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256}

// TokenKeyRecord is a token-signing key as the store keeps it.
type TokenKeyRecord struct {
	KID string
	Alg string // AlgEdDSA or AlgES256
	// Public is the public key, PKIX DER.
	Public []byte
	// Sealed is the private key, PKCS#8 DER sealed by a Sealer with the
	// additional data sealAAD(KID).
	Sealed []byte
	// CreatedAt is when the key was made. RetiredAt is zero for the active
	// key; PublishUntil is when a retired key leaves the JWKS.
	CreatedAt, RetiredAt, PublishUntil time.Time
}

// KeyStore is the token key table. AddTokenKey inserts k and, in the same
// transaction, sets RetiredAt = retireOthersAt and PublishUntil =
// publishUntil on every other key whose RetiredAt is zero.
type KeyStore interface {
	ListTokenKeys(ctx context.Context) ([]TokenKeyRecord, error)
	AddTokenKey(ctx context.Context, k TokenKeyRecord, retireOthersAt, publishUntil time.Time) error
}

// Sealer seals private keys at rest (pki.KeyEncrypter's shape: the
// gateway's secrets key). Decrypt must authenticate aad.
type Sealer interface {
	Encrypt(plaintext, aad []byte) ([]byte, error)
	Decrypt(ciphertext, aad []byte) ([]byte, error)
}

// sealAAD is the additional data a private key is sealed with: a purpose
// label (the secrets key seals other things too) and the kid.
func sealAAD(kid string) []byte { return []byte("fifthwheel token-signing key\x00" + kid) }

// ErrNoTokenKey reports that the key table holds no usable key.
var ErrNoTokenKey = errors.New("authz: no usable token-signing key")

// KeySetConfig configures a KeySet.
type KeySetConfig struct {
	// Alg is the algorithm of keys EnsureKey creates and Rotate creates
	// when given none: AlgEdDSA (default) or AlgES256.
	Alg string
	// RefreshInterval is Run's default period; DefaultKeyRefreshInterval
	// when zero.
	RefreshInterval time.Duration
}

// KeySetDeps are a KeySet's collaborators.
type KeySetDeps struct {
	Store  KeyStore
	Sealer Sealer
	Events event.Emitter // token_key_rotated
	Log    *slog.Logger  // nil: slog.Default()
	Now    func() time.Time
}

// KeySet holds the token-signing keys loaded from the store: the active key
// (to sign with) and every published key (to verify with). It is safe for
// concurrent use.
type KeySet struct {
	cfg  KeySetConfig
	deps KeySetDeps

	snap      atomic.Pointer[keySnapshot]
	refreshMu sync.Mutex
	lastMiss  atomic.Int64 // unix nanos of the last reload a kid miss caused
}

type keySnapshot struct {
	loadedAt  time.Time
	active    *signingKey // nil: no usable active key
	published map[string]publicKey
	order     []string // kids, newest first
}

type signingKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

type publicKey struct {
	alg          jose.SignatureAlgorithm
	pub          crypto.PublicKey
	publishUntil time.Time // zero: the active key
}

// NewKeySet validates cfg and returns a KeySet that holds no key until
// Refresh (or EnsureKey) has loaded the table.
func NewKeySet(deps KeySetDeps, cfg KeySetConfig) (*KeySet, error) {
	if cfg.Alg == "" {
		cfg.Alg = AlgEdDSA
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = DefaultKeyRefreshInterval
	}
	if cfg.Alg != AlgEdDSA && cfg.Alg != AlgES256 {
		return nil, fmt.Errorf("authz: token key algorithm %q: want %s or %s", cfg.Alg, AlgEdDSA, AlgES256)
	}
	if cfg.RefreshInterval < 0 || cfg.RefreshInterval > MaxKeySetStaleness/2 {
		return nil, fmt.Errorf("authz: key refresh interval %v: want at most %v", cfg.RefreshInterval, MaxKeySetStaleness/2)
	}
	if deps.Store == nil || deps.Sealer == nil || deps.Events == nil {
		return nil, errors.New("authz: KeySet needs a Store, a Sealer and Events")
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &KeySet{cfg: cfg, deps: deps}, nil
}

// Refresh reloads the key table. On error the previous keys stay in use
// until they are MaxKeySetStaleness old.
func (s *KeySet) Refresh(ctx context.Context) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	return s.refreshLocked(ctx)
}

func (s *KeySet) refreshLocked(ctx context.Context) error {
	recs, err := s.deps.Store.ListTokenKeys(ctx)
	if err != nil {
		return fmt.Errorf("authz: loading token keys: %w", err)
	}
	now := s.deps.Now()
	snap := &keySnapshot{loadedAt: now, published: map[string]publicKey{}}
	// Newest first: active keys (newest first), then retired keys by
	// retirement, latest first.
	slices.SortStableFunc(recs, func(a, b TokenKeyRecord) int {
		if ra, rb := a.RetiredAt.IsZero(), b.RetiredAt.IsZero(); ra != rb {
			if ra {
				return -1
			}
			return 1
		}
		if c := b.RetiredAt.Compare(a.RetiredAt); c != 0 {
			return c
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	var problems []error
	for _, r := range recs {
		if len(snap.order) == MaxPublishedKeys {
			break
		}
		retired := !r.RetiredAt.IsZero()
		if retired && !now.Before(r.PublishUntil) {
			continue
		}
		alg, pub, err := parsePublic(r)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		pk := publicKey{alg: alg, pub: pub}
		if retired {
			pk.publishUntil = r.PublishUntil
		}
		if _, dup := snap.published[r.KID]; dup {
			problems = append(problems, fmt.Errorf("token key %q listed twice", r.KID))
			continue
		}
		snap.published[r.KID] = pk
		snap.order = append(snap.order, r.KID)
		if !retired && snap.active == nil {
			// The newest active key signs. (AddTokenKey keeps one; if
			// two replicas raced, the other is retired by the next.)
			sk, err := s.open(r, alg, pub)
			if err != nil {
				problems = append(problems, err)
				continue
			}
			snap.active = sk
		}
	}
	s.snap.Store(snap)
	if len(problems) > 0 {
		// A key that does not parse or open is left out (its tokens fail
		// closed); the rest stay usable. Say so loudly, without secrets.
		s.deps.Log.Error("authz: token keys left out", slog.String("error", errors.Join(problems...).Error()))
	}
	if snap.active == nil {
		return fmt.Errorf("%w (%d keys listed)", ErrNoTokenKey, len(recs))
	}
	return nil
}

// parsePublic checks a record's public key against its alg and kid.
func parsePublic(r TokenKeyRecord) (jose.SignatureAlgorithm, crypto.PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(r.Public)
	if err != nil {
		return "", nil, fmt.Errorf("token key %q: public key: %v", r.KID, err)
	}
	alg := jose.SignatureAlgorithm(r.Alg)
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if alg != jose.EdDSA {
			return "", nil, fmt.Errorf("token key %q: an Ed25519 key listed as %q", r.KID, r.Alg)
		}
	case *ecdsa.PublicKey:
		if alg != jose.ES256 || k.Curve != elliptic.P256() {
			return "", nil, fmt.Errorf("token key %q: an ECDSA key listed as %q", r.KID, r.Alg)
		}
	default:
		return "", nil, fmt.Errorf("token key %q: unsupported key type %T", r.KID, pub)
	}
	kid, err := keyID(pub)
	if err != nil || kid != r.KID {
		return "", nil, fmt.Errorf("token key %q: kid is not the key's thumbprint", r.KID)
	}
	return alg, pub, nil
}

// open unseals a record's private key and checks it against its public key.
func (s *KeySet) open(r TokenKeyRecord, alg jose.SignatureAlgorithm, pub crypto.PublicKey) (*signingKey, error) {
	der, err := s.deps.Sealer.Decrypt(r.Sealed, sealAAD(r.KID))
	if err != nil {
		return nil, fmt.Errorf("token key %q: private key does not open: %v", r.KID, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("token key %q: private key does not parse", r.KID)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("token key %q: private key cannot sign", r.KID)
	}
	if eq, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(pub) {
		return nil, fmt.Errorf("token key %q: private key does not match its public key", r.KID)
	}
	return &signingKey{kid: r.KID, alg: alg, priv: signer}, nil
}

// keyID is the key's RFC 7638 JWK thumbprint (SHA-256, unpadded
// base64url): stable, unique, and checkable against the key itself.
func keyID(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// Run reloads the key table every interval (the configured one when
// every is zero) until ctx is done. Failures are logged; the key set fails
// closed once its table is MaxKeySetStaleness old.
func (s *KeySet) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = s.cfg.RefreshInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
				s.deps.Log.Warn("authz: token key refresh failed", slog.String("error", err.Error()))
			}
		}
	}
}

// EnsureKey loads the key table and, if it holds no active key, creates one
// with the configured algorithm, so a fresh gateway can issue tokens. Two
// replicas starting together may both create one; AddTokenKey retires the
// loser's at once (its tokens stay verifiable through the overlap), and a
// failed insert is followed by a reload that settles on the winner's.
func (s *KeySet) EnsureKey(ctx context.Context) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	if err := s.refreshLocked(ctx); err == nil {
		return nil
	} else if !errors.Is(err, ErrNoTokenKey) {
		return err
	}
	if snap := s.snap.Load(); snap != nil && len(snap.order) > 0 {
		// Keys exist but the active one does not open: creating another
		// would hide a broken sealer. Fail closed and let an operator
		// rotate deliberately.
		return fmt.Errorf("%w: the active key does not open (wrong secrets key?)", ErrNoTokenKey)
	}
	kid, addErr := s.addKey(ctx, s.cfg.Alg)
	if err := s.refreshLocked(ctx); err != nil {
		if addErr != nil {
			return fmt.Errorf("authz: creating the first token key: %w", addErr)
		}
		return err
	}
	if addErr == nil {
		return s.emitRotated(ctx, kid, s.cfg.Alg, "first")
	}
	return nil
}

// Rotate creates a new key (alg "" is the configured algorithm), makes it
// the active key and retires the others, which stay published for
// KeyPublishMargin. It returns the new key's kid.
func (s *KeySet) Rotate(ctx context.Context, alg string) (string, error) {
	if alg == "" {
		alg = s.cfg.Alg
	}
	if alg != AlgEdDSA && alg != AlgES256 {
		return "", fmt.Errorf("authz: token key algorithm %q: want %s or %s", alg, AlgEdDSA, AlgES256)
	}
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	kid, err := s.addKey(ctx, alg)
	if err != nil {
		return "", err
	}
	if err := s.refreshLocked(ctx); err != nil {
		return kid, err
	}
	return kid, s.emitRotated(ctx, kid, alg, "rotate")
}

func (s *KeySet) addKey(ctx context.Context, alg string) (string, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case AlgEdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return "", err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return "", err
	}
	kid, err := keyID(priv.Public())
	if err != nil {
		return "", err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	sealed, err := s.deps.Sealer.Encrypt(privDER, sealAAD(kid))
	clear(privDER)
	if err != nil {
		return "", fmt.Errorf("authz: sealing the token key: %w", err)
	}
	now := s.deps.Now()
	rec := TokenKeyRecord{KID: kid, Alg: alg, Public: pubDER, Sealed: sealed, CreatedAt: now}
	if err := s.deps.Store.AddTokenKey(ctx, rec, now, now.Add(KeyPublishMargin)); err != nil {
		return "", fmt.Errorf("authz: storing the token key: %w", err)
	}
	return kid, nil
}

func (s *KeySet) emitRotated(ctx context.Context, kid, alg, why string) error {
	return s.deps.Events.Emit(ctx, event.Event{Class: event.ClassSystem, Activity: "token_key_rotate",
		Severity: event.SeverityInfo, Verdict: event.Info, Code: codes.TokenKeyRotated,
		Actor: principal.Principal{Kind: principal.System, ID: "gateway"}, Resource: "token_key:" + kid,
		Attrs: map[string]any{"kid": kid, "alg": alg, "reason": why,
			"previous_published_until": s.deps.Now().Add(KeyPublishMargin).UTC().Format(time.RFC3339)}})
}

// current returns the snapshot if it is fresh enough to act on.
func (s *KeySet) current(now time.Time) (*keySnapshot, error) {
	snap := s.snap.Load()
	if snap == nil {
		return nil, &Error{Code: codes.TokenKeyUnavailable, Detail: "token keys not loaded"}
	}
	if now.Sub(snap.loadedAt) > MaxKeySetStaleness {
		return nil, &Error{Code: codes.TokenKeyUnavailable, Detail: "token keys not reloaded for " + now.Sub(snap.loadedAt).Truncate(time.Second).String()}
	}
	return snap, nil
}

// signer returns the active key.
func (s *KeySet) signer(now time.Time) (*signingKey, error) {
	snap, err := s.current(now)
	if err != nil {
		return nil, err
	}
	if snap.active == nil {
		return nil, &Error{Code: codes.TokenKeyUnavailable, Detail: "no active token-signing key opens"}
	}
	return snap.active, nil
}

// verificationKey returns the published key kid names. A kid this replica
// has not loaded triggers one reload, at most once per
// KeyMissRefreshInterval across all callers.
func (s *KeySet) verificationKey(ctx context.Context, kid string, now time.Time) (publicKey, error) {
	snap, err := s.current(now)
	if err != nil {
		return publicKey{}, err
	}
	pk, ok := snap.published[kid]
	if !ok {
		last := s.lastMiss.Load()
		if now.UnixNano()-last >= int64(KeyMissRefreshInterval) && s.lastMiss.CompareAndSwap(last, now.UnixNano()) {
			rctx, cancel := context.WithTimeout(ctx, KeyMissRefreshTimeout)
			_ = s.Refresh(rctx)
			cancel()
			if snap, err = s.current(now); err != nil {
				return publicKey{}, err
			}
			pk, ok = snap.published[kid]
		}
	}
	if !ok {
		return publicKey{}, &Error{Code: codes.AccessTokenUnknownKID, Detail: "the kid names no published token key"}
	}
	if !pk.publishUntil.IsZero() && !now.Before(pk.publishUntil) {
		return publicKey{}, &Error{Code: codes.AccessTokenUnknownKID, Detail: "the kid names a token key no longer published"}
	}
	return pk, nil
}

// JWKS returns the published public keys (RFC 7517), newest first, each
// with its kid, alg and use "sig".
func (s *KeySet) JWKS() (jose.JSONWebKeySet, error) {
	now := s.deps.Now()
	snap, err := s.current(now)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, kid := range snap.order {
		pk := snap.published[kid]
		if !pk.publishUntil.IsZero() && !now.Before(pk.publishUntil) {
			continue
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pk.pub, KeyID: kid, Algorithm: string(pk.alg), Use: "sig"})
	}
	if len(set.Keys) == 0 {
		return jose.JSONWebKeySet{}, &Error{Code: codes.TokenKeyUnavailable, Detail: "no published token key"}
	}
	return set, nil
}
