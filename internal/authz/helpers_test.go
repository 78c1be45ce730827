package authz

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/pki/pkitest"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// memKeyStore is an in-memory KeyStore with AddTokenKey's contract.
type memKeyStore struct {
	mu      sync.Mutex
	recs    []TokenKeyRecord
	lists   int
	listErr error
	// beforeAdd, if set, runs before an insert; a non-nil error aborts it.
	beforeAdd func(s *memKeyStore) error
}

var errConflict = errors.New("store: conflict")

func (s *memKeyStore) ListTokenKeys(context.Context) ([]TokenKeyRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists++
	if s.listErr != nil {
		return nil, s.listErr
	}
	return append([]TokenKeyRecord(nil), s.recs...), nil
}

func (s *memKeyStore) AddTokenKey(_ context.Context, k TokenKeyRecord, retireAt, publishUntil time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.beforeAdd != nil {
		if err := s.beforeAdd(s); err != nil {
			return err
		}
	}
	s.addLocked(k, retireAt, publishUntil)
	return nil
}

func (s *memKeyStore) addLocked(k TokenKeyRecord, retireAt, publishUntil time.Time) {
	for i := range s.recs {
		if s.recs[i].RetiredAt.IsZero() {
			s.recs[i].RetiredAt, s.recs[i].PublishUntil = retireAt, publishUntil
		}
	}
	s.recs = append(s.recs, k)
}

func (s *memKeyStore) listCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lists
}

// memEvents records events.
type memEvents struct {
	mu  sync.Mutex
	evs []event.Event
	err error
}

func (m *memEvents) Emit(_ context.Context, evs ...event.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.evs = append(m.evs, evs...)
	return nil
}

func (m *memEvents) codes() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, e := range m.evs {
		out = append(out, e.Code)
	}
	return out
}

func (m *memEvents) last() event.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.evs) == 0 {
		return event.Event{}
	}
	return m.evs[len(m.evs)-1]
}

// memDirectory is an in-memory Directory.
type memDirectory struct {
	mu       sync.Mutex
	accounts map[principal.Principal]Account
	err      error
}

func (d *memDirectory) Account(_ context.Context, p principal.Principal) (Account, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return Account{}, d.err
	}
	a, ok := d.accounts[p]
	if !ok {
		return Account{}, ErrUnknownPrincipal
	}
	return a, nil
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testCA issues certificates shaped like the fleet CA's (one URI SAN, CN =
// id, clientAuth), so pki.PrincipalFromChains accepts them.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

var serial = struct {
	sync.Mutex
	n int64
}{n: 100}

// issue returns a leaf certificate for p and its TLS credential.
func (ca *testCA) issue(t testing.TB, p principal.Principal) (*x509.Certificate, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(p.String())
	serial.Lock()
	serial.n++
	sn := serial.n
	serial.Unlock()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(sn), Subject: pkix.Name{CommonName: p.ID},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs: []*url.URL{u}, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: crypto.Signer(key), Leaf: cert}
}

var quiet = slog.New(slog.DiscardHandler)

const (
	testIssuer   = "https://gateway.test:8443"
	testAudience = "https://gateway.test:8443/v1"
)

// env is a key set on a fresh store, with an Issuer and a Verifier.
type env struct {
	store    *memKeyStore
	events   *memEvents
	clock    *clock
	keys     *KeySet
	issuer   *Issuer
	verifier *Verifier
	ca       *testCA
	sealer   Sealer
}

func newEnv(t testing.TB, alg string) *env {
	t.Helper()
	e := &env{store: &memKeyStore{}, events: &memEvents{}, clock: &clock{t: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)},
		ca: newTestCA(t), sealer: pkitest.NewKEK(t)}
	e.keys = e.newKeySet(t, e.sealer, alg)
	if err := e.keys.EnsureKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := TokenConfig{Issuer: testIssuer, Audience: testAudience}
	var err error
	if e.issuer, err = NewIssuer(e.keys, cfg); err != nil {
		t.Fatal(err)
	}
	if e.verifier, err = NewVerifier(e.keys, cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

// newKeySet is another replica's key set on the same store and clock.
func (e *env) newKeySet(t testing.TB, sealer Sealer, alg string) *KeySet {
	t.Helper()
	ks, err := NewKeySet(KeySetDeps{Store: e.store, Sealer: sealer, Events: e.events, Now: e.clock.Now, Log: quiet}, KeySetConfig{Alg: alg})
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// account registers nothing: it returns an active account for a client of
// carrier C1 with roles, and its certificate.
func (e *env) account(t testing.TB, id string, roles ...Role) (Account, *x509.Certificate, tls.Certificate) {
	t.Helper()
	p := principal.Principal{Kind: principal.Client, ID: id}
	leaf, cred := e.ca.issue(t, p)
	return Account{Principal: p, Active: true, Carrier: "C1", Roles: roles}, leaf, cred
}

// issue issues a token for acct at the env's clock plus skew.
func (e *env) issue(t testing.TB, acct Account, leaf *x509.Certificate, skew time.Duration, scopes ...Scope) string {
	t.Helper()
	raw, _, err := e.issuer.Issue(acct, leaf, scopes, e.clock.Now().Add(skew))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want %s", code)
	}
	if got := CodeOf(err); got != code {
		t.Fatalf("code = %q (%v); want %q", got, err, code)
	}
}
