package pki

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// TestPrincipalFromChains: certificates a CA key could sign but that do not
// fit a profile are refused; identity is never taken from anywhere but
// [0][0].
func TestPrincipalFromChains(t *testing.T) {
	e := newEnv(t, Ed25519)
	it := e.issuing()
	leaf := func(mod func(*x509.Certificate)) *x509.Certificate {
		tmpl := vehicleTemplate("truck-1")
		if mod != nil {
			mod(tmpl)
		}
		c, _ := rawLeaf(t, tmpl, it.cert, it.signer)
		return c
	}
	truck1 := leaf(nil)
	truck2, _ := rawLeaf(t, vehicleTemplate("truck-2"), it.cert, it.signer)
	uri := func(s string) *url.URL { u, _ := url.Parse(s); return u }

	for _, tc := range []struct {
		name   string
		chains [][]*x509.Certificate
		want   principal.Principal
		code   string
	}{
		{"valid vehicle", [][]*x509.Certificate{{truck1, it.cert}}, principal.Principal{Kind: principal.Vehicle, ID: "truck-1"}, ""},
		{"only chain[0][0] counts", [][]*x509.Certificate{{truck1, truck2, it.cert}, {truck2, it.cert}}, principal.Principal{Kind: principal.Vehicle, ID: "truck-1"}, ""},
		{"no chains", nil, principal.Principal{}, codes.TLSNoVerifiedChain},
		{"empty chain", [][]*x509.Certificate{{}}, principal.Principal{}, codes.TLSNoVerifiedChain},
		{"no URI SAN", [][]*x509.Certificate{{leaf(func(c *x509.Certificate) { c.URIs = nil })}}, principal.Principal{}, codes.CertNoIdentity},
		{"two URI SANs", [][]*x509.Certificate{{leaf(func(c *x509.Certificate) {
			c.URIs = append(c.URIs, uri("urn:fifthwheel:vehicle:truck-2"))
		})}}, principal.Principal{}, codes.CertNoIdentity},
		{"foreign URI", [][]*x509.Certificate{{leaf(func(c *x509.Certificate) { c.URIs = []*url.URL{uri("spiffe://fleet/truck-1")} })}}, principal.Principal{}, codes.CertNoIdentity},
		{"upper-case URN scheme", [][]*x509.Certificate{{leaf(func(c *x509.Certificate) {
			c.URIs = nil
			c.ExtraExtensions = []pkix.Extension{rawURISAN(t, "URN:fifthwheel:vehicle:truck-1")}
		})}}, principal.Principal{}, codes.CertNoIdentity},
		{"upper-case kind", [][]*x509.Certificate{{leaf(func(c *x509.Certificate) { c.URIs = []*url.URL{uri("urn:fifthwheel:Vehicle:truck-1")} })}}, principal.Principal{}, codes.CertNoIdentity},
		{"system kind", [][]*x509.Certificate{{leaf(func(c *x509.Certificate) { c.URIs = []*url.URL{uri("urn:fifthwheel:system:pki")} })}}, principal.Principal{}, codes.CertNoIdentity},
		{"escaped id", [][]*x509.Certificate{{leaf(func(c *x509.Certificate) { c.URIs = []*url.URL{uri("urn:fifthwheel:vehicle:truck%2D1")} })}}, principal.Principal{}, codes.CertNoIdentity},
		{"CN differs from URI id", [][]*x509.Certificate{{leaf(func(c *x509.Certificate) { c.Subject.CommonName = "truck-2" })}}, principal.Principal{}, codes.CertProfileMismatch},
		{"vehicle with serverAuth", [][]*x509.Certificate{{leaf(func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} })}}, principal.Principal{}, codes.CertProfileMismatch},
		{"vehicle with both EKUs", [][]*x509.Certificate{{leaf(func(c *x509.Certificate) {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
		})}}, principal.Principal{}, codes.CertProfileMismatch},
		{"vehicle without EKU", [][]*x509.Certificate{{leaf(func(c *x509.Certificate) { c.ExtKeyUsage = nil })}}, principal.Principal{}, codes.CertProfileMismatch},
		{"vehicle with a DNS SAN", [][]*x509.Certificate{{leaf(func(c *x509.Certificate) { c.DNSNames = []string{"truck-1.example"} })}}, principal.Principal{}, codes.CertProfileMismatch},
		{"vehicle with an IP SAN", [][]*x509.Certificate{{leaf(func(c *x509.Certificate) { c.IPAddresses = []net.IP{net.IPv4(10, 0, 0, 1)} })}}, principal.Principal{}, codes.CertProfileMismatch},
		{"CA certificate as leaf", [][]*x509.Certificate{{leaf(func(c *x509.Certificate) { c.IsCA = true })}}, principal.Principal{}, codes.CertProfileMismatch},
		{"gateway with clientAuth", [][]*x509.Certificate{{leaf(func(c *x509.Certificate) {
			c.Subject.CommonName = "gw-1"
			c.URIs = []*url.URL{uri("urn:fifthwheel:gateway:gw-1")}
		})}}, principal.Principal{}, codes.CertProfileMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PrincipalFromChains(tc.chains)
			if got := CodeOf(err); got != tc.code {
				t.Fatalf("code %q, want %q (%v)", got, tc.code, err)
			}
			if p != tc.want {
				t.Fatalf("principal %v, want %v", p, tc.want)
			}
		})
	}

	// Every profile the CA issues maps back to its principal.
	for _, k := range []principal.Kind{principal.Vehicle, principal.Client, principal.Operator, principal.Gateway} {
		is, _ := e.issue(k, "id-"+string(k))
		p, err := PrincipalFromChains([][]*x509.Certificate{{is.Certificate}})
		if err != nil || p != (principal.Principal{Kind: k, ID: "id-" + string(k)}) {
			t.Fatalf("%s: %v %v", k, p, err)
		}
	}
}

// FuzzParseCSR: ParseCSR never panics on untrusted bytes, and what it
// accepts round-trips: the parsed request's Raw is exactly the DER input.
func FuzzParseCSR(f *testing.F) {
	key := mustKey(f, ECDSAP256)
	good := newCSR(f, key, "truck-1", truckURI)
	f.Add(good)
	f.Add(newCSR(f, mustKey(f, Ed25519), "", truckURI))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\n" + base64.StdEncoding.EncodeToString(good) + "\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add(good[:len(good)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		csr, err := ParseCSR(b)
		if err != nil {
			if CodeOf(err) == "" || strings.HasPrefix(CodeOf(err), "internal") {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		if !bytes.Equal(csr.Raw, b) && !bytes.HasPrefix(bytes.TrimSpace(b), []byte("-----BEGIN")) {
			t.Fatal("accepted CSR does not round-trip")
		}
		_ = checkCSRIdentity(csr, principal.Principal{Kind: principal.Vehicle, ID: "truck-1"})
	})
}

// FuzzHashJoinToken: only the canonical encoding of 32 bytes is accepted, so
// one secret has one text form.
func FuzzHashJoinToken(f *testing.F) {
	f.Add(joinTokenPrefix + base64.RawURLEncoding.EncodeToString(make([]byte, JoinTokenBytes)))
	f.Add(joinTokenPrefix + "short")
	f.Add("fwjoin1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB")
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := HashJoinToken(s); err != nil {
			return
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, joinTokenPrefix))
		if err != nil || joinTokenPrefix+base64.RawURLEncoding.EncodeToString(raw) != s {
			t.Fatalf("accepted non-canonical token %q", s)
		}
	})
}
