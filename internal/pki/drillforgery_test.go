package pki

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// TestAttackCACertificateAsClient: a certificate from the fleet's own
// issuing intermediate, carrying an enrolled vehicle's exact identity and
// its key held by the attacker, but with basicConstraints CA:TRUE (what a
// misissuing CA would sign), is refused at the handshake on the vehicle
// listener with cert_profile_mismatch, one event, and never admitted.
func TestAttackCACertificateAsClient(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	rs := e.newRevocationSet(t, nil)
	runSet(t, rs)
	srv := e.startServer(t, vehicleListener, rs, nil)
	e.issue(principal.Vehicle, "truck-1") // the enrolled vehicle whose identity is forged

	is, key, err := e.ca.IssueDrillCACertificate(context.Background(), principal.Principal{Kind: principal.Vehicle, ID: "truck-1"}, principal.Principal{})
	if err != nil {
		t.Fatal(err)
	}
	if !is.Certificate.IsCA || is.Certificate.URIs[0].String() != "urn:fifthwheel:vehicle:truck-1" {
		t.Fatalf("the forgery is not a CA certificate with the vehicle's identity: CA %v, URIs %v", is.Certificate.IsCA, is.Certificate.URIs)
	}
	forged := is.TLSCertificate(key)
	before, acceptedBefore := e.countCode(codes.CertProfileMismatch), e.countCode(codes.TLSAccepted)
	conn, cerr := roundTrip(srv.addr, e.clientConfig(&forged))
	if conn != nil {
		conn.Close()
	}
	r := srv.next(t)
	if r.err == nil || cerr == nil {
		t.Fatalf("a CA certificate with a vehicle's identity was admitted as %v (client: %v)", r.p, cerr)
	}
	if got := CodeOf(r.err); got != codes.CertProfileMismatch {
		t.Fatalf("code %s, want %s (%v)", got, codes.CertProfileMismatch, r.err)
	}
	if n := e.countCode(codes.CertProfileMismatch) - before; n != 1 {
		t.Errorf("%d %s events, want 1", n, codes.CertProfileMismatch)
	}
	if n := e.countCode(codes.TLSAccepted) - acceptedBefore; n != 0 {
		t.Errorf("%d tls_accepted events for the forgery", n)
	}
	// The credential check outside handshakes (the CLI's) refuses it too.
	if _, err := PrincipalFromChains([][]*x509.Certificate{{is.Certificate}}); CodeOf(err) != codes.CertProfileMismatch {
		t.Errorf("PrincipalFromChains: %v, want %s", err, codes.CertProfileMismatch)
	}
}

// TestDrillCACertificateIsHarmless: what IssueDrillCACertificate mints
// lives DrillForgeryLifetime at most, can sign nothing that verifies
// (path length 0 under a path-length-0 intermediate), is recorded as the
// vehicle's certificate and announced, and is revoked with the vehicle.
func TestDrillCACertificateIsHarmless(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	v := principal.Principal{Kind: principal.Vehicle, ID: "truck-1"}
	is, key, err := e.ca.IssueDrillCACertificate(ctx, v, principal.Principal{})
	if err != nil {
		t.Fatal(err)
	}
	c := is.Certificate
	if life := c.NotAfter.Sub(c.NotBefore); life > DrillForgeryLifetime+ClockSkew {
		t.Errorf("lifetime %v, want at most %v (+ the back-dating)", life, DrillForgeryLifetime)
	}
	if !c.MaxPathLenZero || c.MaxPathLen != 0 {
		t.Errorf("path length %d (zero %v), want 0", c.MaxPathLen, c.MaxPathLenZero)
	}
	// A leaf signed by the forgery does not chain to the trusted intermediates.
	sub, _ := rawLeaf(t, vehicleTemplate("truck-2"), c, key)
	_, err = sub.Verify(x509.VerifyOptions{Roots: e.ca.Trust().Pool(), Intermediates: certPool(c),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	var inv x509.CertificateInvalidError
	if !errors.As(err, &inv) || inv.Reason != x509.TooManyIntermediates {
		t.Errorf("a leaf signed by the forgery verified, or failed otherwise: %v", err)
	}
	rec, err := e.reg.GetIssued(ctx, is.Record.Serial)
	if err != nil || rec.Kind != principal.Vehicle || rec.ID != "truck-1" {
		t.Fatalf("the forgery is not recorded as truck-1's certificate: %+v, %v", rec, err)
	}
	var evs []event.Event
	for _, ev := range e.sink.ByCode(codes.CertIssued) {
		if ev.Resource == v.String() {
			evs = append(evs, ev)
		}
	}
	if len(evs) != 1 || evs[0].Attrs["drill_forgery"] != "ca_certificate" || evs[0].Attrs["serial"] != is.Record.Serial {
		t.Errorf("cert_issued events %+v, want one marked drill_forgery", evs)
	}
	if _, err := e.ca.RevokePrincipal(ctx, v, ReasonKeyCompromise, principal.Principal{}); err != nil {
		t.Fatal(err)
	}
	if rec, _ := e.reg.GetIssued(ctx, is.Record.Serial); !rec.Revoked() {
		t.Error("revoking the vehicle left the forgery unrevoked")
	}
	if _, _, err := e.ca.IssueDrillCACertificate(ctx, principal.Principal{Kind: principal.Client, ID: "tms"}, principal.Principal{}); CodeOf(err) != codes.IssueInvalid {
		t.Errorf("a forgery for a TMS client: %v, want %s", err, codes.IssueInvalid)
	}
}

func certPool(cs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cs {
		p.AddCert(c)
	}
	return p
}
