package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

var operatorListener = ListenerConfig{Name: "operator", Allowed: []principal.Kind{principal.Operator}}

func operatorTemplate(id string) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: id},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{{Scheme: "urn", Opaque: "fifthwheel:operator:" + id}},
	}
}

// TestAttackOperatorCredentialOutsideListenerPolicy: the CLI acts as the
// operator of a credential only if a listener would admit that credential.
// Each row is an attack on the operator check (the CLI once trusted the
// root and accepted serverAuth leaves, so a credential chained to a retired
// or revoked intermediate still acted); each credential is judged by a
// real TLS handshake on an operator listener and by VerifyCredential with
// the trust the CLI loads (LoadTrust of the CA directory), and both must
// give the same verdict and reason code.
func TestAttackOperatorCredentialOutsideListenerPolicy(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	by := principal.Principal{Kind: principal.Operator, ID: "root-admin"}
	rs := e.newRevocationSet(t, nil)
	runSet(t, rs)
	srv := e.startServer(t, operatorListener, rs, nil)

	// Intermediate 1 issues a credential, then is retired.
	first := e.ca.IssuingKeyID()
	_, retiredIssuer := e.issue(principal.Operator, "mallory-retired")
	// Intermediate 2 issues a credential, then its serial is revoked.
	second, err := e.ca.AddIntermediate(ctx, e.rootKeyFile, IntermediateOptions{Algorithm: ECDSAP256}, by)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ca.SetIssuing(ctx, second, by); err != nil {
		t.Fatal(err)
	}
	secondCert := e.issuing().cert
	_, revokedIssuer := e.issue(principal.Operator, "mallory-revoked-issuer")
	// Intermediate 3 issues everything else.
	third, err := e.ca.AddIntermediate(ctx, e.rootKeyFile, IntermediateOptions{Algorithm: ECDSAP256}, by)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ca.SetIssuing(ctx, third, by); err != nil {
		t.Fatal(err)
	}
	if err := e.ca.RetireIntermediate(ctx, first, by); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ca.Revoke(ctx, serialOf(secondCert), ReasonCACompromise, by); err != nil {
		t.Fatal(err)
	}

	_, valid := e.issue(principal.Operator, "alice")
	_, vehicleCert := e.issue(principal.Vehicle, "truck-1")
	_, gatewayCert := e.issue(principal.Gateway, "gw-9")
	_, expired := e.issueAt(-48*time.Hour, principal.Operator, "bob")
	revokedIs, revoked := e.issue(principal.Operator, "eve")
	if _, err := e.ca.Revoke(ctx, revokedIs.Record.Serial, ReasonKeyCompromise, by); err != nil {
		t.Fatal(err)
	}
	rs.Notify()
	waitFor(t, func() bool { r, _ := rs.IsRevoked(revokedIs.Record.Serial); return r })
	waitFor(t, func() bool { r, _ := rs.IsRevoked(serialOf(secondCert)); return r })

	issuer := e.issuing()
	sa := operatorTemplate("carol")
	sa.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	saLeaf, saKey := rawLeaf(t, sa, issuer.cert, issuer.signer)
	serverAuthOnly := tls.Certificate{Certificate: [][]byte{saLeaf.Raw, issuer.cert.Raw}, PrivateKey: saKey}

	both := operatorTemplate("dave")
	both.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	bothLeaf, bothKey := rawLeaf(t, both, issuer.cert, issuer.signer)
	twoUsages := tls.Certificate{Certificate: [][]byte{bothLeaf.Raw, issuer.cert.Raw}, PrivateKey: bothKey}

	cn := operatorTemplate("alice")
	cn.Subject.CommonName = "someone-else"
	cnLeaf, cnKey := rawLeaf(t, cn, issuer.cert, issuer.signer)
	wrongCN := tls.Certificate{Certificate: [][]byte{cnLeaf.Raw, issuer.cert.Raw}, PrivateKey: cnKey}

	rootKey, err := readKeyFile(e.rootKeyFile, e.kek, keyRoleRoot, e.ca.Root())
	if err != nil {
		t.Fatal(err)
	}
	rootLeaf, rootLeafKey := rawLeaf(t, operatorTemplate("alice"), e.ca.Root(), rootKey)
	byRoot := tls.Certificate{Certificate: [][]byte{rootLeaf.Raw, e.ca.Root().Raw}, PrivateKey: rootLeafKey}

	other := newEnv(t, ECDSAP256)
	_, foreign := other.issue(principal.Operator, "alice")

	// What the CLI trusts: the CA directory's public files, no KEK.
	cliTrust, err := LoadTrust(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(cliTrust.Certificates()), len(e.ca.Trust().Certificates()); got != want || want != 2 {
		t.Fatalf("LoadTrust holds %d intermediates, the CA %d; want the 2 not retired", got, want)
	}

	for _, tc := range []struct {
		name string
		cert tls.Certificate
		code string // "" means accepted
	}{
		{"valid operator credential", valid, ""},
		{"credential chained to a retired intermediate", retiredIssuer, codes.TLSUnknownAuthority},
		{"credential chained to a revoked intermediate", revokedIssuer, codes.TLSCertRevoked},
		{"credential issued directly by the root", byRoot, codes.TLSUnknownAuthority},
		{"credential signed by another CA", foreign, codes.TLSUnknownAuthority},
		{"operator credential with serverAuth only", serverAuthOnly, codes.TLSBadCertificate},
		{"operator credential with serverAuth and clientAuth", twoUsages, codes.CertProfileMismatch},
		{"gateway certificate as operator credential", gatewayCert, codes.TLSBadCertificate},
		{"vehicle certificate as operator credential", vehicleCert, codes.TLSKindNotAllowed},
		{"operator credential whose CN differs from its URI", wrongCN, codes.CertProfileMismatch},
		{"expired operator credential", expired, codes.TLSCertExpired},
		{"revoked operator credential", revoked, codes.TLSCertRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, _ := roundTrip(srv.addr, e.clientConfig(&tc.cert))
			if conn != nil {
				conn.Close()
			}
			r := srv.next(t)
			p, leaf, err := VerifyCredential(tc.cert, CredentialPolicy{Trust: cliTrust, Revocations: rs,
				Allowed: []principal.Kind{principal.Operator}})
			if got := CodeOf(r.err); got != tc.code {
				t.Fatalf("listener: code %q, want %q (%v)", got, tc.code, r.err)
			}
			if got := CodeOf(err); got != tc.code {
				t.Fatalf("VerifyCredential: code %q, want %q as the listener (%v)", got, tc.code, err)
			}
			if tc.code == "" {
				if p != r.p || p.Kind != principal.Operator || serialOf(leaf) != serialOf(mustLeaf(t, &tc.cert)) {
					t.Fatalf("VerifyCredential: %v %s, listener %v", p, serialOf(leaf), r.p)
				}
			} else if !p.IsZero() || leaf != nil {
				t.Fatalf("a refusal returned %v %v", p, leaf)
			}
		})
	}
}

// TestVerifyCredentialFailsClosed: stale revocation data refuses, and a
// policy without its parts is an error, never an acceptance.
func TestVerifyCredentialFailsClosed(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	_, valid := e.issue(principal.Operator, "alice")
	clock := &testClock{}
	rs := e.newRevocationSet(t, clock.Now)
	pol := CredentialPolicy{Trust: e.ca.Trust(), Revocations: rs, Allowed: []principal.Kind{principal.Operator}}
	if _, _, err := VerifyCredential(valid, pol); err != nil {
		t.Fatal(err)
	}
	clock.Set(time.Hour)
	if _, _, err := VerifyCredential(valid, pol); CodeOf(err) != codes.RevocationStale {
		t.Fatalf("stale revocation data: %v, want %s", err, codes.RevocationStale)
	}
	for _, p := range []CredentialPolicy{{Revocations: rs, Allowed: pol.Allowed}, {Trust: pol.Trust, Allowed: pol.Allowed}, {Trust: pol.Trust, Revocations: rs}} {
		if _, _, err := VerifyCredential(valid, p); err == nil {
			t.Fatalf("incomplete policy %+v accepted", p)
		}
	}
	if _, _, err := VerifyCredential(tls.Certificate{}, pol); CodeOf(err) != codes.TLSNoClientCert {
		t.Fatalf("empty credential: %v", err)
	}
}
