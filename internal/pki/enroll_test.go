package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

const truckURI = "urn:fifthwheel:vehicle:truck-1"

// TestEnrollRefusals: each row is an attack on enrollment. Every refusal
// returns its code, emits exactly one event with that code, and, for a bad
// CSR, leaves the token usable (bad input changes nothing).
func TestEnrollRefusals(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	key := mustKey(t, ECDSAP256)
	good := newCSR(t, key, "truck-1", truckURI)

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	badSig := bytes.Clone(good)
	badSig[len(badSig)-3] ^= 0x55 // inside the signature BIT STRING
	withDNS := func() []byte {
		tmpl := &x509.CertificateRequest{DNSNames: []string{"gateway.example"}}
		tmpl.URIs = mustParseCSR(t, good).URIs
		der, _ := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
		return der
	}()
	oversized := func() []byte {
		tmpl := &x509.CertificateRequest{Subject: mustParseCSR(t, good).Subject, URIs: mustParseCSR(t, good).URIs}
		tmpl.Subject.Organization = []string{strings.Repeat("x", MaxCSRBytes)}
		der, _ := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
		return der
	}()

	tok, err := e.ca.CreateJoinToken(ctx, "truck-1", 0, principal.Principal{Kind: principal.Operator, ID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	expiredTok, _ := e.ca.CreateJoinToken(ctx, "truck-1", time.Minute, principal.Principal{})
	usedTok, _ := e.ca.CreateJoinToken(ctx, "truck-9", 0, principal.Principal{})
	if _, err := e.ca.Enroll(ctx, usedTok.Secret, newCSR(t, mustKey(t, Ed25519), "", "urn:fifthwheel:vehicle:truck-9"), ""); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		token  string
		csr    []byte
		clock  time.Duration
		code   string
		burned bool // the token is consumed afterwards
	}{
		{"malformed CSR", tok.Secret, []byte("not a csr"), 0, codes.CSRMalformed, false},
		{"truncated CSR", tok.Secret, good[:len(good)/2], 0, codes.CSRMalformed, false},
		{"PEM CSR with trailing junk", tok.Secret, append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: good}), "junk"...), 0, codes.CSRMalformed, false},
		{"CSR for another vehicle", tok.Secret, newCSR(t, key, "truck-2", "urn:fifthwheel:vehicle:truck-2"), 0, codes.CSRIdentityMismatch, false},
		{"CSR for a TMS client with the same id", tok.Secret, newCSR(t, key, "truck-1", "urn:fifthwheel:client:truck-1"), 0, codes.CSRIdentityMismatch, false},
		{"CSR naming two identities", tok.Secret, newCSR(t, key, "truck-1", truckURI, "urn:fifthwheel:vehicle:truck-2"), 0, codes.CSRIdentityMismatch, false},
		{"CSR with a DNS name", tok.Secret, withDNS, 0, codes.CSRIdentityMismatch, false},
		{"CSR with a mismatched CN", tok.Secret, newCSR(t, key, "truck-2", truckURI), 0, codes.CSRIdentityMismatch, false},
		{"CSR with an upper-case URN", tok.Secret, rawSANCSR(t, key, "URN:fifthwheel:vehicle:truck-1"), 0, codes.CSRIdentityMismatch, false},
		{"CSR without identity", tok.Secret, newCSR(t, key, "truck-1"), 0, codes.CSRIdentityMismatch, false},
		{"RSA key", tok.Secret, newCSR(t, rsaKey, "truck-1", truckURI), 0, codes.CSRKeyType, false},
		{"P-384 key", tok.Secret, newCSR(t, p384, "truck-1", truckURI), 0, codes.CSRKeyType, false},
		{"bad CSR signature", tok.Secret, badSig, 0, codes.CSRBadSignature, false},
		{"oversized CSR", tok.Secret, oversized, 0, codes.CSRTooLarge, false},
		{"malformed token", "fwjoin1_short", good, 0, codes.TokenMalformed, false},
		{"token with a flipped character", flipLast(tok.Secret), good, 0, codes.TokenUnknown, false},
		{"reused token", usedTok.Secret, newCSR(t, key, "truck-9", "urn:fifthwheel:vehicle:truck-9"), 0, codes.TokenUsed, true},
		{"expired token", expiredTok.Secret, good, 2 * time.Minute, codes.TokenExpired, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.clock.Set(tc.clock)
			defer e.clock.Set(0)
			before := e.countCode(tc.code)
			_, err := e.ca.Enroll(ctx, tc.token, tc.csr, "")
			if got := CodeOf(err); got != tc.code {
				t.Fatalf("code %q, want %q (%v)", got, tc.code, err)
			}
			if n := e.countCode(tc.code) - before; n != 1 {
				t.Fatalf("%d %s events, want 1", n, tc.code)
			}
			if strings.Contains(fmt.Sprint(err), tok.Secret) {
				t.Fatal("error echoes the token")
			}
		})
	}
	if n := e.countCode(codes.CertEnrolled); n != 1 {
		t.Fatalf("%d enrollments succeeded during the refusal table", n)
	}
	// None of the refusals burned the token: it still enrolls truck-1, once.
	is, err := e.ca.Enroll(ctx, tok.Secret, good, "")
	if err != nil {
		t.Fatalf("token unusable after refused attempts: %v", err)
	}
	p, err := PrincipalFromChains([][]*x509.Certificate{{is.Certificate}})
	if err != nil || p != (principal.Principal{Kind: principal.Vehicle, ID: "truck-1"}) {
		t.Fatalf("enrolled %v %v", p, err)
	}
	if _, err := e.ca.Enroll(ctx, tok.Secret, good, ""); CodeOf(err) != codes.TokenUsed {
		t.Fatalf("second use: %v", err)
	}
	// Secrets never reach events.
	for _, ev := range e.sink.Events() {
		if strings.Contains(fmt.Sprint(ev.Attrs), "fwjoin1_") {
			t.Fatalf("event %s carries a token secret", ev.Code)
		}
	}
}

// TestEnrollTokenSingleUseConcurrent: of concurrent enrollments with one
// token, exactly one succeeds.
func TestEnrollTokenSingleUseConcurrent(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	tok, err := e.ca.CreateJoinToken(ctx, "truck-1", 0, principal.Principal{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, used := 0, 0
	for range n {
		wg.Go(func() {
			_, err := e.ca.Enroll(ctx, tok.Secret, newCSR(t, mustKey(t, ECDSAP256), "truck-1", truckURI), "")
			mu.Lock()
			defer mu.Unlock()
			switch CodeOf(err) {
			case "":
				ok++
			case codes.TokenUsed:
				used++
			default:
				t.Errorf("unexpected: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || used != n-1 {
		t.Fatalf("%d succeeded, %d refused as used; want 1 and %d", ok, used, n-1)
	}
}

func TestJoinTokenBounds(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	if _, err := e.ca.CreateJoinToken(ctx, "truck-1", MaxJoinTokenTTL+time.Second, principal.Principal{}); err == nil {
		t.Fatal("TTL above the maximum accepted")
	}
	if _, err := e.ca.CreateJoinToken(ctx, "../etc", 0, principal.Principal{}); err == nil {
		t.Fatal("invalid vehicle id accepted")
	}
	tok, err := e.ca.CreateJoinToken(ctx, "truck-1", 0, principal.Principal{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.ExpiresAt.Sub(e.clock.Now()); got > DefaultJoinTokenTTL || got < DefaultJoinTokenTTL-2*time.Second {
		t.Fatalf("default TTL %v", got)
	}
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%+v", tok), fmt.Sprintf("%#v", tok)} {
		if strings.Contains(s, tok.Secret) {
			t.Fatalf("formatting leaks the secret: %s", s)
		}
	}
	h, _ := HashJoinToken(tok.Secret)
	rec, err := e.reg.GetJoinToken(ctx, h)
	if err != nil || rec.VehicleID != "truck-1" {
		t.Fatalf("stored %+v %v", rec, err)
	}
}

// TestRenew: same identity, new key allowed; refused for a revoked, expired
// or unknown certificate, a CSR for someone else, and gateway certificates.
func TestRenew(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	chainsOf := func(is *Issued) [][]*x509.Certificate {
		return [][]*x509.Certificate{{is.Certificate, e.issuing().cert}}
	}
	cur, _ := e.issue(principal.Vehicle, "truck-1")
	newKey := mustKey(t, Ed25519)
	renewed, err := e.ca.Renew(ctx, chainsOf(cur), newCSR(t, newKey, "truck-1", truckURI))
	if err != nil {
		t.Fatal(err)
	}
	if renewed.Certificate.Subject.CommonName != "truck-1" || renewed.Record.Serial == cur.Record.Serial {
		t.Fatal("renewal did not issue a new truck-1 certificate")
	}
	if e.countCode(codes.CertRenewed) != 1 {
		t.Fatal("no cert_renewed event")
	}

	revoked, _ := e.issue(principal.Vehicle, "truck-1")
	if _, err := e.ca.Revoke(ctx, revoked.Record.Serial, ReasonKeyCompromise, principal.Principal{}); err != nil {
		t.Fatal(err)
	}
	expired, _ := e.issueAt(-48*time.Hour, principal.Vehicle, "truck-1")
	gw, _ := e.issue(principal.Gateway, "gw-1")
	other := newEnv(t, ECDSAP256)
	foreign, _ := other.issue(principal.Vehicle, "truck-1")

	for _, tc := range []struct {
		name   string
		chains [][]*x509.Certificate
		csr    []byte
		code   string
	}{
		{"revoked certificate", chainsOf(revoked), newCSR(t, newKey, "truck-1", truckURI), codes.RenewCertRevoked},
		{"expired certificate", chainsOf(expired), newCSR(t, newKey, "truck-1", truckURI), codes.RenewCertExpired},
		{"CSR for another vehicle", chainsOf(cur), newCSR(t, newKey, "truck-2", "urn:fifthwheel:vehicle:truck-2"), codes.CSRIdentityMismatch},
		{"gateway certificate", chainsOf(gw), newCSR(t, newKey, "gw-1", "urn:fifthwheel:gateway:gw-1"), codes.RenewKindNotAllowed},
		{"certificate unknown to the registry", [][]*x509.Certificate{{foreign.Certificate, e.issuing().cert}}, newCSR(t, newKey, "truck-1", truckURI), codes.RenewCertUnknown},
		{"no verified chain", nil, newCSR(t, newKey, "truck-1", truckURI), codes.TLSNoVerifiedChain},
		{"RSA key", chainsOf(cur), newCSR(t, mustRSA(t), "truck-1", truckURI), codes.CSRKeyType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.countCode(tc.code)
			_, err := e.ca.Renew(ctx, tc.chains, tc.csr)
			if got := CodeOf(err); got != tc.code {
				t.Fatalf("code %q, want %q (%v)", got, tc.code, err)
			}
			if n := e.countCode(tc.code) - before; n != 1 {
				t.Fatalf("%d %s events, want 1", n, tc.code)
			}
		})
	}
}

func mustParseCSR(t testing.TB, der []byte) *x509.CertificateRequest {
	t.Helper()
	c, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustRSA(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// flipLast changes the last base64 character of a token, keeping it
// syntactically valid (the last of 43 characters carries 4 data bits and 2
// zero bits: A<->E keeps those zero).
func flipLast(s string) string {
	last := s[len(s)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'E'
	}
	return s[:len(s)-1] + string(repl)
}

// rawSANCSR builds a CSR whose URI SAN is exactly uri: crypto/x509 would
// normalize the scheme of a URL it encodes itself.
func rawSANCSR(t testing.TB, key crypto.Signer, uri string) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:         pkix.Name{CommonName: "truck-1"},
		ExtraExtensions: []pkix.Extension{rawURISAN(t, uri)},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func rawURISAN(t testing.TB, uris ...string) pkix.Extension {
	t.Helper()
	var names []asn1.RawValue
	for _, u := range uris {
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(u)})
	}
	v, err := asn1.Marshal(names)
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: oidSubjectAltName, Value: v}
}
