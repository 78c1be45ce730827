package pki

import (
	"context"
	"crypto/tls"
	"testing"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// TestRotation drives a whole intermediate rotation over real TLS: issue
// with the old intermediate, add a new one, both connect, switch issuing,
// both still connect, retire the old one, and its certificates are refused,
// including on session resumption.
func TestRotation(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	op := principal.Principal{Kind: principal.Operator, ID: "alice"}
	rs := e.newRevocationSet(t, nil)
	runSet(t, rs)
	srv := e.startServer(t, vehicleListener, rs, nil)
	oldKID := e.ca.IssuingKeyID()

	_, oldCert := e.issue(principal.Vehicle, "truck-old")
	connect := func(cert *tls.Certificate, cache tls.ClientSessionCache) (hsResult, bool) {
		t.Helper()
		cfg := e.clientConfig(cert)
		cfg.ClientSessionCache = cache
		c, err := roundTrip(srv.addr, cfg)
		resumed := false
		if err == nil {
			resumed = c.ConnectionState().DidResume
			c.Close()
		}
		return srv.next(t), resumed
	}
	mustAccept := func(what string, cert *tls.Certificate) {
		t.Helper()
		if r, _ := connect(cert, nil); r.err != nil {
			t.Fatalf("%s: %s", what, describe(r))
		}
	}
	mustAccept("old certificate before rotation", &oldCert)

	// The offline root key comes back for this step only.
	newKID, err := e.ca.AddIntermediate(ctx, e.rootKeyFile, IntermediateOptions{Algorithm: Ed25519}, op)
	if err != nil {
		t.Fatal(err)
	}
	if e.ca.IssuingKeyID() != oldKID {
		t.Fatal("adding an intermediate changed the issuing one")
	}
	if err := e.ca.SetIssuing(ctx, newKID, op); err != nil {
		t.Fatal(err)
	}
	_, newCert := e.issue(principal.Vehicle, "truck-new")
	if got := mustLeaf(t, &newCert).Issuer.CommonName; got == mustLeaf(t, &oldCert).Issuer.CommonName {
		t.Fatalf("new certificate issued by the old intermediate %q", got)
	}
	if len(e.ca.Trust().Certificates()) != 2 {
		t.Fatal("overlap: both intermediates must be trusted")
	}
	mustAccept("old certificate during overlap", &oldCert)
	mustAccept("new certificate during overlap", &newCert)

	// A session ticket obtained with the old certificate before retirement.
	cache := tls.NewLRUClientSessionCache(4)
	if r, _ := connect(&oldCert, cache); r.err != nil {
		t.Fatal(describe(r))
	}
	if r, resumed := connect(&oldCert, cache); r.err != nil || !resumed {
		t.Fatalf("resumption before retirement: %s resumed=%v", describe(r), resumed)
	}

	if err := e.ca.RetireIntermediate(ctx, newKID, op); err == nil {
		t.Fatal("retired the issuing intermediate")
	}
	if err := e.ca.RetireIntermediate(ctx, oldKID, op); err != nil {
		t.Fatal(err)
	}
	mustAccept("new certificate after retirement", &newCert)
	if r, _ := connect(&oldCert, nil); CodeOf(r.err) != codes.TLSUnknownAuthority {
		t.Fatalf("old certificate after retirement: %s", describe(r))
	}
	// The cached ticket must not smuggle the retired chain back in: either
	// crypto/tls declines to resume (full handshake, unknown authority) or
	// VerifyConnection refuses the resumed chain.
	if r, resumed := connect(&oldCert, cache); r.err == nil || resumed {
		t.Fatalf("resumed session with a retired intermediate: %s resumed=%v", describe(r), resumed)
	} else if c := CodeOf(r.err); c != codes.TLSUnknownAuthority && c != codes.CertIssuerNotTrusted {
		t.Fatalf("resumption after retirement refused with %s", c)
	} else {
		t.Logf("resumption after retirement refused with %s", c)
	}

	// A second replica loading the same directory sees the same state.
	other, err := Load(ctx, e.dir, Config{}, Deps{KEK: e.kek, Registry: e.reg, Events: e.bus})
	if err != nil {
		t.Fatal(err)
	}
	if other.IssuingKeyID() != newKID || len(other.Trust().Certificates()) != 1 {
		t.Fatal("reloaded CA disagrees on the rotation")
	}
	for _, code := range []string{codes.IntermediateAdded, codes.IntermediateIssuing, codes.IntermediateRetired} {
		if e.countCode(code) != 1 {
			t.Fatalf("want one %s event", code)
		}
	}
	// Both intermediates are in the Registry (so either can be revoked).
	if recs, _ := e.reg.ListIssued(ctx, IssuedFilter{}); countProfile(recs, ProfileIntermediate) != 2 {
		t.Fatal("intermediates not recorded")
	}
}

func countProfile(recs []IssuedCert, p Profile) int {
	n := 0
	for _, r := range recs {
		if r.Profile == p {
			n++
		}
	}
	return n
}
