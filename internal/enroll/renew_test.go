package enroll

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/pki/pkitest"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// noVehicles knows no vehicle (renewal then goes on to the CA) and fails
// every other call.
type noVehicles struct{ noStore }

func (noVehicles) GetVehicle(context.Context, string) (store.Vehicle, error) {
	return store.Vehicle{}, store.ErrNotFound
}

// TestAttackRenewalFlood: a holder of one (stolen) certificate renews in a
// loop. Past the principal's burst every renewal is refused with 429
// rate_limited, a Retry-After, one event each, and issues nothing; another
// principal renews unhindered. The limit is the default one (RenewLimiter
// nil). The sustained rate refills one renewal every 30 s, so the test
// holds unless more than 30 s pass between its first and last request.
func TestAttackRenewalFlood(t *testing.T) {
	ctx := context.Background()
	mem := &event.MemorySink{}
	bus := event.NewBus(nil, nil, mem)
	reg := pki.NewMemRegistry()
	ca := pkitest.NewCA(t, pki.Config{}, pki.Deps{Registry: reg, Events: bus})
	api := &API{CA: ca, Store: noVehicles{noStore{t}}, Events: bus}
	renew := api.Routes()["POST /v1/pki/renew"]

	// request renews the certificate of id once, over a connection verified
	// with that certificate.
	request := func(id string, is *pki.Issued) *httptest.ResponseRecorder {
		t.Helper()
		inter, err := x509.ParseCertificate(is.Chain[1])
		if err != nil {
			t.Fatal(err)
		}
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		u, _ := url.Parse("urn:fifthwheel:vehicle:" + id)
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{u}}, key)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(RenewRequest{CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
		r := httptest.NewRequest(http.MethodPost, "/v1/pki/renew", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{is.Certificate, inter}}}
		w := httptest.NewRecorder()
		renew.ServeHTTP(w, r)
		return w
	}
	issue := func(id string) *pki.Issued {
		t.Helper()
		is, _, err := ca.IssueWithNewKey(ctx, pki.IssueRequest{Subject: principal.Principal{Kind: principal.Vehicle, ID: id}}, pki.ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		return is
	}
	issued := func(id string) int {
		t.Helper()
		certs, err := reg.ListIssued(ctx, pki.IssuedFilter{Kind: principal.Vehicle, ID: id})
		if err != nil {
			t.Fatal(err)
		}
		return len(certs)
	}

	stolen := issue("truck-1")
	for i := range DefaultRenewBurst {
		if w := request("truck-1", stolen); w.Code != http.StatusCreated {
			t.Fatalf("renewal %d within the burst: %d %s", i+1, w.Code, w.Body)
		}
	}
	for i := range 3 {
		w := request("truck-1", stolen)
		if w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), `"code":"`+codes.RateLimited+`"`) ||
			w.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("renewal %d past the burst: %d %s", DefaultRenewBurst+i+1, w.Code, w.Body)
		}
		if s, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || s < 1 {
			t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
		}
	}
	if n := issued("truck-1"); n != 1+DefaultRenewBurst {
		t.Fatalf("%d certificates of truck-1, want the first and the %d renewals of the burst", n, DefaultRenewBurst)
	}
	if evs := mem.ByCode(codes.RateLimited); len(evs) != 3 || evs[0].Actor.String() != "urn:fifthwheel:vehicle:truck-1" || evs[0].Activity != "renew" {
		t.Fatalf("rate_limited events %+v, want one per refused renewal", evs)
	}
	// Another vehicle is not limited by truck-1's renewals.
	if w := request("truck-2", issue("truck-2")); w.Code != http.StatusCreated {
		t.Fatalf("another vehicle's renewal: %d %s", w.Code, w.Body)
	}
}
