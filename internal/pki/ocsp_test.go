package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/crypto/ocsp"

	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// TestOCSPOpenSSL: openssl ocsp gets "good" and "revoked" answers it can
// verify up to the root, from both an ECDSA and an Ed25519 CA.
func TestOCSPOpenSSL(t *testing.T) {
	for _, alg := range []KeyAlgorithm{ECDSAP256, Ed25519} {
		t.Run(string(alg), func(t *testing.T) {
			requireOpenSSL(t)
			e := newEnv(t, alg)
			ctx := context.Background()
			srv := httptest.NewServer(e.ca.OCSPHandler())
			defer srv.Close()
			good, _ := e.issue(principal.Vehicle, "truck-1")
			bad, _ := e.issue(principal.Vehicle, "truck-2")
			if _, err := e.ca.Revoke(ctx, bad.Record.Serial, ReasonKeyCompromise, principal.Principal{}); err != nil {
				t.Fatal(err)
			}
			root := writeTemp(t, "root.pem", certPEM(e.ca.Root().Raw))
			inter := writeTemp(t, "inter.pem", certPEM(e.issuing().cert.Raw))
			for _, tc := range []struct {
				cert *Issued
				want string
			}{{good, ": good"}, {bad, ": revoked"}} {
				leaf := writeTemp(t, "leaf.pem", certPEM(tc.cert.Record.DER))
				out := runOpenSSL(t, "ocsp", "-issuer", inter, "-cert", leaf, "-url", srv.URL,
					"-CAfile", root, "-verify_other", inter, "-no_nonce")
				if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, tc.want) {
					t.Fatalf("openssl ocsp for %s, want %q:\n%s", tc.cert.Record.ID, tc.want, out)
				}
				if tc.want == ": revoked" && !strings.Contains(out, "keyCompromise") {
					t.Fatalf("revocation reason missing:\n%s", out)
				}
			}
		})
	}
}

// TestOCSPResponse covers the answers openssl does not: unknown serial,
// another CA's issuer, malformed and oversized requests, GET, validity.
func TestOCSPResponse(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	inter := e.issuing().cert
	good, _ := e.issue(principal.Vehicle, "truck-1")
	reqFor := func(c *x509.Certificate, issuer *x509.Certificate) []byte {
		b, err := ocsp.CreateRequest(c, issuer, &ocsp.RequestOptions{Hash: crypto.SHA256})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	resp, err := e.ca.OCSPResponse(ctx, reqFor(good.Certificate, inter))
	if err != nil {
		t.Fatal(err)
	}
	r, err := ocsp.ParseResponseForCert(resp, good.Certificate, inter)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != ocsp.Good || r.NextUpdate.Sub(r.ThisUpdate) != OCSPValidity {
		t.Fatalf("status %d validity %v", r.Status, r.NextUpdate.Sub(r.ThisUpdate))
	}
	if r.Certificate == nil || r.Certificate.CheckSignatureFrom(inter) != nil {
		t.Fatal("response not signed by a responder the intermediate issued")
	}
	// The responder certificate was recorded and announced like any issuance.
	if rec, err := e.reg.GetIssued(ctx, serialOf(r.Certificate)); err != nil || rec.Profile != ProfileOCSPResponder {
		t.Fatalf("responder certificate not recorded: %+v %v", rec, err)
	}

	// A serial we never issued (a certificate forged with the same issuer name).
	forged, _ := rawLeaf(t, vehicleTemplate("truck-9"), inter, e.issuing().signer)
	resp, _ = e.ca.OCSPResponse(ctx, reqFor(forged, inter))
	if r, err := ocsp.ParseResponseForCert(resp, forged, inter); err != nil || r.Status != ocsp.Unknown {
		t.Fatalf("unissued serial: %v %v", r, err)
	}

	other := newEnv(t, ECDSAP256)
	foreign, _ := other.issue(principal.Vehicle, "truck-1")
	if resp, err := e.ca.OCSPResponse(ctx, reqFor(foreign.Certificate, other.issuing().cert)); err == nil ||
		!bytes.Equal(resp, ocsp.UnauthorizedErrorResponse) {
		t.Fatalf("other issuer: %x %v", resp, err)
	}
	for _, bad := range [][]byte{nil, []byte("junk"), bytes.Repeat([]byte{0x30}, MaxOCSPRequestBytes+1)} {
		if resp, err := e.ca.OCSPResponse(ctx, bad); err == nil || !bytes.Equal(resp, ocsp.MalformedRequestErrorResponse) {
			t.Fatalf("malformed: %x %v", resp, err)
		}
	}
	e.reg.FailWith(io.ErrUnexpectedEOF)
	if resp, err := e.ca.OCSPResponse(ctx, reqFor(good.Certificate, inter)); err == nil || !bytes.Equal(resp, ocsp.TryLaterErrorResponse) {
		t.Fatalf("store down: %x %v", resp, err)
	}
	e.reg.FailWith(nil)

	// HTTP: GET with the base64 request in the path, and POST.
	srv := httptest.NewServer(http.StripPrefix("/ocsp", e.ca.OCSPHandler()))
	defer srv.Close()
	req := reqFor(good.Certificate, inter)
	hresp, err := http.Get(srv.URL + "/ocsp/" + strings.ReplaceAll(base64.StdEncoding.EncodeToString(req), "/", "%2F"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(hresp.Body)
	hresp.Body.Close()
	if hresp.Header.Get("Content-Type") != "application/ocsp-response" || !strings.Contains(hresp.Header.Get("Cache-Control"), "max-age") {
		t.Fatalf("GET headers %v", hresp.Header)
	}
	if r, err := ocsp.ParseResponseForCert(body, good.Certificate, inter); err != nil || r.Status != ocsp.Good {
		t.Fatalf("GET: %v %v", r, err)
	}
	hresp, err = http.Post(srv.URL+"/ocsp", "text/plain", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	hresp.Body.Close()
	if hresp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("POST text/plain: %d", hresp.StatusCode)
	}
	hresp, err = http.Post(srv.URL+"/ocsp", "application/ocsp-request", bytes.NewReader(make([]byte, MaxOCSPRequestBytes+1)))
	if err != nil {
		t.Fatal(err)
	}
	hresp.Body.Close()
	if hresp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized POST: %d", hresp.StatusCode)
	}
}
