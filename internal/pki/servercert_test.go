package pki

import (
	"context"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// revokedSet is a RevocationChecker over a fixed set of serials; while
// stale it answers ErrRevocationStale.
type revokedSet struct {
	mu      sync.Mutex
	serials map[string]bool
	stale   bool
}

func (r *revokedSet) IsRevoked(serial string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stale {
		return false, ErrRevocationStale
	}
	return r.serials[serial], nil
}

func (r *revokedSet) setStale(stale bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stale = stale
}

func (r *revokedSet) revoke(serial string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.serials == nil {
		r.serials = map[string]bool{}
	}
	r.serials[serial] = true
}

// newServerCert returns a ServerCert of e's CA for gateway gw-1 and the
// test names, kept in dir.
func newServerCert(t *testing.T, e *env, rs RevocationChecker, dir string, dns ...string) *ServerCert {
	t.Helper()
	return newServerCertID(t, e, rs, dir, "gw-1", dns...)
}

// newServerCertID is newServerCert for the gateway id.
func newServerCertID(t *testing.T, e *env, rs RevocationChecker, dir, id string, dns ...string) *ServerCert {
	t.Helper()
	if len(dns) == 0 {
		dns = []string{"gw.fifthwheel.test"}
	}
	s, err := NewServerCert(ServerCertConfig{ID: id, DNSNames: dns, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, Dir: dir},
		ServerCertDeps{CA: e.ca, Revocations: rs, Actor: principal.Principal{Kind: principal.System, ID: "gateway"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serving returns the leaf the ServerCert presents now.
func serving(t *testing.T, s *ServerCert) *x509.Certificate {
	t.Helper()
	c, err := s.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// TestServerCertIssuesStoresAndReuses: the first Ensure issues a gateway
// certificate with the configured names and stores it in the credential
// directory (key 0600); a restart (a new ServerCert on the same directory)
// presents the stored one instead of issuing another.
func TestServerCertIssuesStoresAndReuses(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	dir := filepath.Join(t.TempDir(), "gateway")
	s := newServerCert(t, e, &revokedSet{}, dir)
	if _, err := s.GetCertificate(nil); err == nil {
		t.Fatal("a certificate before Ensure")
	}
	now := time.Now()
	if err := s.Ensure(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	leaf := serving(t, s)
	p, err := PrincipalFromChains([][]*x509.Certificate{{leaf}})
	if err != nil || p != (principal.Principal{Kind: principal.Gateway, ID: "gw-1"}) {
		t.Fatalf("principal %v %v", p, err)
	}
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "gw.fifthwheel.test" || len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("names %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	for name, perm := range map[string]os.FileMode{CredentialCertFile: 0o644, CredentialKeyFile: 0o600, CredentialCAFile: 0o644} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != perm {
			t.Fatalf("%s: %v %v", name, st, err)
		}
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v", st.Mode().Perm())
	}

	restarted := newServerCert(t, e, &revokedSet{}, dir)
	if err := restarted.Ensure(context.Background(), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := serving(t, restarted); got.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatal("a restart issued a new certificate instead of reusing the stored one")
	}
}

// TestServerCertRenewsPastTwoThirdsOfItsLife: kept before 2/3 of its life,
// replaced (and stored) after.
func TestServerCertRenewsPastTwoThirdsOfItsLife(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	dir := filepath.Join(t.TempDir(), "gateway")
	s := newServerCert(t, e, &revokedSet{}, dir)
	ctx := context.Background()
	if err := s.Ensure(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	first := serving(t, s)
	life := first.NotAfter.Sub(first.NotBefore)
	before := first.NotBefore.Add(life*2/3 - time.Minute)
	if err := s.Ensure(ctx, before); err != nil {
		t.Fatal(err)
	}
	if serving(t, s).SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatal("renewed before 2/3 of its life")
	}
	after := first.NotBefore.Add(life*2/3 + time.Minute)
	if err := s.Ensure(ctx, after); err != nil {
		t.Fatal(err)
	}
	renewed := serving(t, s)
	if renewed.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("not renewed past 2/3 of its life")
	}
	stored, err := LoadCredential(dir)
	if err != nil {
		t.Fatal(err)
	}
	if leaf, _ := x509.ParseCertificate(stored.Certificate[0]); leaf.SerialNumber.Cmp(renewed.SerialNumber) != 0 {
		t.Fatal("the renewed certificate was not stored")
	}
}

// TestServerCertFollowsServerNames: a restart with other pki.server_names
// issues a certificate carrying them.
func TestServerCertFollowsServerNames(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	dir := filepath.Join(t.TempDir(), "gateway")
	ctx := context.Background()
	if err := newServerCert(t, e, &revokedSet{}, dir).Ensure(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	s := newServerCert(t, e, &revokedSet{}, dir, "gw.fifthwheel.test", "gw2.fifthwheel.test")
	if err := s.Ensure(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := serving(t, s).DNSNames; len(got) != 2 {
		t.Fatalf("names %v", got)
	}
}

// TestServerCertFollowsGatewayID: a restart with another gateway id issues
// a certificate naming it instead of presenting the stored one of the old
// id.
func TestServerCertFollowsGatewayID(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	dir := filepath.Join(t.TempDir(), "gateway")
	ctx := context.Background()
	if err := newServerCert(t, e, &revokedSet{}, dir).Ensure(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	s := newServerCertID(t, e, &revokedSet{}, dir, "gw-2")
	if err := s.Ensure(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	p, err := PrincipalFromChains([][]*x509.Certificate{{serving(t, s)}})
	if err != nil || p != (principal.Principal{Kind: principal.Gateway, ID: "gw-2"}) {
		t.Fatalf("the gateway gw-2 presents the certificate of %v (%v)", p, err)
	}
}

// TestAttackServerCertRevokedStaysInUse: a gateway certificate revoked
// (its key leaked) is replaced at the next check, not presented until it
// expires.
func TestAttackServerCertRevokedStaysInUse(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	rs := &revokedSet{}
	s := newServerCert(t, e, rs, filepath.Join(t.TempDir(), "gateway"))
	ctx := context.Background()
	if err := s.Ensure(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	leaked := serving(t, s)
	rs.revoke(SerialString(leaked.SerialNumber))
	if err := s.Ensure(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if serving(t, s).SerialNumber.Cmp(leaked.SerialNumber) == 0 {
		t.Fatal("the revoked server certificate is still presented")
	}
}

// TestServerCertKeptWhileRevocationStale: while the revocation data is
// stale the certificate in use (or the stored one, on a restart) is not
// known to be revoked and stays; no certificate is issued at each check.
// Once the data is fresh again, a revocation still replaces it.
func TestServerCertKeptWhileRevocationStale(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	rs := &revokedSet{}
	dir := filepath.Join(t.TempDir(), "gateway")
	s := newServerCert(t, e, rs, dir)
	ctx := context.Background()
	if err := s.Ensure(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	first := serving(t, s)
	rs.setStale(true)
	for i := range 3 {
		if err := s.Ensure(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
		if serving(t, s).SerialNumber.Cmp(first.SerialNumber) != 0 {
			t.Fatalf("check %d while the revocation data is stale issued a new certificate", i+1)
		}
	}
	restarted := newServerCert(t, e, rs, dir)
	if err := restarted.Ensure(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if serving(t, restarted).SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Fatal("a restart while the revocation data is stale issued a new certificate")
	}
	rs.setStale(false)
	rs.revoke(SerialString(first.SerialNumber))
	if err := s.Ensure(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if serving(t, s).SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("the revoked certificate is still presented once the data is fresh")
	}
}

// TestAttackServerCertPlantedInDataDir: a certificate and key planted in
// DATA/gateway by someone who can write there but holds no CA key (here: a
// leaf of another CA with the right names) is never presented; the gateway
// issues its own.
func TestAttackServerCertPlantedInDataDir(t *testing.T) {
	e, other := newEnv(t, ECDSAP256), newEnv(t, ECDSAP256)
	dir := filepath.Join(t.TempDir(), "gateway")
	ctx := context.Background()
	planted := newServerCert(t, other, &revokedSet{}, dir)
	if err := planted.Ensure(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	foreign := serving(t, planted)
	s := newServerCert(t, e, &revokedSet{}, dir)
	if err := s.Ensure(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	got := serving(t, s)
	if got.SerialNumber.Cmp(foreign.SerialNumber) == 0 {
		t.Fatal("the planted certificate of another CA is presented")
	}
	if _, err := got.Verify(x509.VerifyOptions{Roots: e.ca.Trust().Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("the certificate presented does not chain to the fleet CA: %v", err)
	}
}

// TestRenewDue: the boundary is exactly 2/3 of the life.
func TestRenewDue(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	na := nb.Add(90 * time.Hour)
	for _, tc := range []struct {
		at   time.Duration
		want bool
	}{{0, false}, {60*time.Hour - time.Nanosecond, false}, {60 * time.Hour, true}, {89 * time.Hour, true}} {
		if got := RenewDue(nb, na, nb.Add(tc.at)); got != tc.want {
			t.Errorf("RenewDue at %v = %v, want %v", tc.at, got, tc.want)
		}
	}
}

// TestNewServerCertRefusesIncompleteConfig: no CA, no names or a bad id.
func TestNewServerCertRefusesIncompleteConfig(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	deps := ServerCertDeps{CA: e.ca, Revocations: &revokedSet{}}
	for name, tc := range map[string]struct {
		cfg ServerCertConfig
		d   ServerCertDeps
	}{
		"no CA":    {ServerCertConfig{ID: "gw", DNSNames: []string{"gw"}}, ServerCertDeps{Revocations: &revokedSet{}}},
		"no names": {ServerCertConfig{ID: "gw"}, deps},
		"bad id":   {ServerCertConfig{ID: "bad id", DNSNames: []string{"gw"}}, deps},
	} {
		if _, err := NewServerCert(tc.cfg, tc.d); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
