package pki

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"math/big"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
)

// CRL builds and signs a new CRL (DER) for the issuing intermediate. See
// CRLFor.
func (ca *CA) CRL(ctx context.Context) ([]byte, error) {
	return ca.CRLFor(ctx, ca.IssuingKeyID())
}

// CRLFor builds and signs a new CRL (DER) for the intermediate with key id
// kid: every revoked, unexpired certificate it issued, thisUpdate now,
// nextUpdate CRLValidity later, and a CRL number from
// Registry.NextCRLNumber, so numbers strictly increase across replicas. Each
// call spends a CRL number and emits crl_published; serve CRLs through
// CRLHandler, which caches.
func (ca *CA) CRLFor(ctx context.Context, kid string) ([]byte, error) {
	it, ok := ca.state.Load().byKID[kid]
	if !ok || it.signer == nil {
		return nil, refusal(http.StatusNotFound, codes.CertUnknown, "no CRL for this issuer", nil)
	}
	now := ca.now().UTC().Truncate(time.Second)
	list, err := ca.reg.ListRevoked(ctx, now)
	if err != nil {
		return nil, storeError(err)
	}
	var entries []x509.RevocationListEntry
	for _, r := range list {
		if r.IssuerKeyID != kid {
			continue
		}
		n, ok := new(big.Int).SetString(r.Serial, 16)
		if !ok {
			return nil, fmt.Errorf("pki: registry holds a malformed serial %q", r.Serial)
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: r.RevokedAt, ReasonCode: int(r.Reason)})
	}
	num, err := ca.reg.NextCRLNumber(ctx)
	if err != nil {
		return nil, storeError(err)
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(num),
		ThisUpdate:                now,
		NextUpdate:                now.Add(CRLValidity),
		RevokedCertificateEntries: entries,
	}, it.cert, it.signer)
	if err != nil {
		return nil, fmt.Errorf("pki: sign CRL: %v", err)
	}
	if err := ca.ev.emit(ctx, event.ClassPKI, "crl_publish", event.Info, event.SeverityInfo, codes.CRLPublished,
		principal.Principal{Kind: principal.System, ID: "pki"}, "ca:"+kid,
		map[string]any{"crl_number": num, "entries": len(entries), "next_update": now.Add(CRLValidity)}); err != nil {
		return nil, err
	}
	return der, nil
}

type cachedCRL struct {
	der     []byte
	version int64
	built   time.Time
	nextUpd time.Time
}

// CRLHandler serves CRLs over plain HTTP (GET and HEAD; no client
// certificate, as relying parties fetch them anonymously). A path ending in
// "/<key id>.crl" selects that intermediate; any other path the issuing one.
// A CRL is rebuilt only when the revocation version moved or the cached one
// is older than CRLRegenerateAfter, so request floods cost one version read
// each and spend no CRL numbers.
func (ca *CA) CRLHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			problem.Write(w, r, problem.New(http.StatusMethodNotAllowed, codes.MethodNotAllowed, "use GET"))
			return
		}
		kid := ca.IssuingKeyID()
		if base := path.Base(r.URL.Path); strings.HasSuffix(base, ".crl") {
			kid = strings.TrimSuffix(base, ".crl")
			if !keyIDPattern.MatchString(kid) {
				problem.Write(w, r, problem.New(http.StatusNotFound, codes.CertUnknown, "no CRL for this issuer"))
				return
			}
		}
		c, err := ca.cachedCRL(r.Context(), kid)
		if err != nil {
			problem.Write(w, r, err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/pkix-crl")
		h.Set("Content-Length", strconv.Itoa(len(c.der)))
		if maxAge := int(c.nextUpd.Sub(ca.now()).Seconds()); maxAge > 0 {
			h.Set("Cache-Control", "public, max-age="+strconv.Itoa(min(maxAge, int(CRLRegenerateAfter.Seconds()))))
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(c.der)
	})
}

func (ca *CA) cachedCRL(ctx context.Context, kid string) (cachedCRL, error) {
	ca.crlMu.Lock()
	defer ca.crlMu.Unlock()
	v, err := ca.reg.RevocationVersion(ctx)
	if err != nil {
		return cachedCRL{}, storeError(err)
	}
	now := ca.now()
	if c, ok := ca.crlCache[kid]; ok && c.version == v && now.Sub(c.built) < CRLRegenerateAfter {
		return c, nil
	}
	der, err := ca.CRLFor(ctx, kid)
	if err != nil {
		return cachedCRL{}, err
	}
	c := cachedCRL{der: der, version: v, built: now, nextUpd: now.Add(CRLValidity)}
	ca.crlCache[kid] = c
	return c, nil
}
