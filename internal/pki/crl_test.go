package pki

import (
	"context"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// requireOpenSSL fails, rather than skips, without openssl: CI installs it
// and an interoperability check that silently disappears proves nothing.
func requireOpenSSL(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl not found in PATH: this test checks interoperability with OpenSSL; install it (Debian: apt-get install openssl)")
	}
	return path
}

func runOpenSSL(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(requireOpenSSL(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCRL(t *testing.T) {
	for _, alg := range []KeyAlgorithm{ECDSAP256, Ed25519} {
		t.Run(string(alg), func(t *testing.T) {
			e := newEnv(t, alg)
			ctx := context.Background()
			good, _ := e.issue(principal.Vehicle, "truck-1")
			bad, _ := e.issue(principal.Vehicle, "truck-2")
			gone, _ := e.issueAt(-72*time.Hour, principal.Vehicle, "truck-3") // expired
			for _, s := range []string{bad.Record.Serial, gone.Record.Serial} {
				if _, err := e.ca.Revoke(ctx, s, ReasonKeyCompromise, principal.Principal{}); err != nil {
					t.Fatal(err)
				}
			}
			der1, err := e.ca.CRL(ctx)
			if err != nil {
				t.Fatal(err)
			}
			der2, err := e.ca.CRL(ctx)
			if err != nil {
				t.Fatal(err)
			}
			crl, err := x509.ParseRevocationList(der2)
			if err != nil {
				t.Fatal(err)
			}
			crl1, _ := x509.ParseRevocationList(der1)
			if crl.Number.Cmp(crl1.Number) <= 0 {
				t.Fatalf("CRL number %v not above %v", crl.Number, crl1.Number)
			}
			if err := crl.CheckSignatureFrom(e.issuing().cert); err != nil {
				t.Fatal(err)
			}
			if got := crl.NextUpdate.Sub(crl.ThisUpdate); got != CRLValidity {
				t.Fatalf("validity %v", got)
			}
			if len(crl.RevokedCertificateEntries) != 1 || SerialString(crl.RevokedCertificateEntries[0].SerialNumber) != bad.Record.Serial ||
				crl.RevokedCertificateEntries[0].ReasonCode != int(ReasonKeyCompromise) {
				t.Fatalf("entries %+v; want only %s (the expired one is left out)", crl.RevokedCertificateEntries, bad.Record.Serial)
			}
			_ = good

			out := runOpenSSL(t, "crl", "-inform", "DER", "-in", writeTemp(t, "crl.der", der2), "-noout", "-text")
			if !strings.Contains(out, strings.ToUpper(bad.Record.Serial)) || !strings.Contains(out, "Key Compromise") {
				t.Fatalf("openssl output lacks the revoked serial:\n%s", out)
			}
			interPEM := writeTemp(t, "inter.pem", certPEM(e.issuing().cert.Raw))
			out = runOpenSSL(t, "crl", "-inform", "DER", "-in", writeTemp(t, "crl.der", der2), "-noout", "-CAfile", interPEM)
			if !strings.Contains(out, "verify OK") {
				t.Fatalf("openssl did not verify the CRL signature:\n%s", out)
			}
		})
	}
}

// TestCRLHandler: cached while nothing changes, rebuilt after a revocation,
// GET/HEAD only.
func TestCRLHandler(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	srv := httptest.NewServer(e.ca.CRLHandler())
	defer srv.Close()
	get := func(path string) (*x509.RevocationList, *http.Response) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return nil, resp
		}
		crl, err := x509.ParseRevocationList(b)
		if err != nil {
			t.Fatal(err)
		}
		return crl, resp
	}
	a, resp := get("/crl")
	if resp.Header.Get("Content-Type") != "application/pkix-crl" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	b, _ := get("/crl/" + e.ca.IssuingKeyID() + ".crl")
	if a.Number.Cmp(b.Number) != 0 {
		t.Fatal("unchanged CRL was rebuilt")
	}
	is, _ := e.issue(principal.Vehicle, "truck-1")
	if _, err := e.ca.Revoke(ctx, is.Record.Serial, ReasonSuperseded, principal.Principal{}); err != nil {
		t.Fatal(err)
	}
	c, _ := get("/crl")
	if c.Number.Cmp(a.Number) <= 0 || len(c.RevokedCertificateEntries) != 1 {
		t.Fatalf("after revocation: number %v entries %d", c.Number, len(c.RevokedCertificateEntries))
	}
	if _, resp := get("/crl/0123456789abcdef0123456789abcdef.crl"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown issuer: %d", resp.StatusCode)
	}
	resp, err := http.Post(srv.URL+"/crl", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
}
