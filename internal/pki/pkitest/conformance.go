// Package pkitest is the conformance suite for pki.Registry
// implementations: MemRegistry runs it, and so must the SQLite and
// PostgreSQL engines (with a fresh database or schema per call of newReg).
// It also gives other packages' tests a fresh CA (NewCA) and KEK (NewKEK).
package pkitest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// RunRegistryConformance runs every contract check of pki.Registry against
// registries made by newReg; each subtest gets a fresh, empty one.
func RunRegistryConformance(t *testing.T, newReg func(t *testing.T) pki.Registry) {
	ctx := context.Background()
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	cert := func(i int, kind principal.Kind, id string, nb time.Time) pki.IssuedCert {
		return pki.IssuedCert{
			Serial: fmt.Sprintf("8%031x", i), Kind: kind, ID: id, Profile: pki.Profile(kind),
			NotBefore: nb, NotAfter: nb.Add(24 * time.Hour), IssuerKeyID: "0123456789abcdef0123456789abcdef",
			DER: []byte{0x30, 0x03, 0x02, 0x01, byte(i)},
		}
	}

	t.Run("RecordGet", func(t *testing.T) {
		r := newReg(t)
		c := cert(1, principal.Vehicle, "truck-1", base)
		if err := r.RecordIssued(ctx, c, pki.IssueBasis{}); err != nil {
			t.Fatal(err)
		}
		got, err := r.GetIssued(ctx, c.Serial)
		if err != nil {
			t.Fatal(err)
		}
		if !sameCert(got, c) {
			t.Fatalf("got %+v, want %+v", got, c)
		}
		if got.NotBefore.Location() != time.UTC || got.Revoked() {
			t.Fatal("times must come back in UTC; a new certificate is not revoked")
		}
		if err := r.RecordIssued(ctx, c, pki.IssueBasis{}); !errors.Is(err, pki.ErrConflict) {
			t.Fatalf("duplicate serial: %v, want ErrConflict", err)
		}
		if _, err := r.GetIssued(ctx, "8"+fmt.Sprintf("%031x", 99)); !errors.Is(err, pki.ErrNotFound) {
			t.Fatalf("missing serial: %v, want ErrNotFound", err)
		}
		// A CA row: empty kind.
		ca := cert(2, "", "0123456789abcdef0123456789abcdef", base)
		ca.Profile = pki.ProfileIntermediate
		if err := r.RecordIssued(ctx, ca, pki.IssueBasis{}); err != nil {
			t.Fatal(err)
		}
		if got, err := r.GetIssued(ctx, ca.Serial); err != nil || got.Kind != "" || got.Profile != pki.ProfileIntermediate {
			t.Fatalf("CA row: %+v %v", got, err)
		}
	})

	t.Run("ListIssued", func(t *testing.T) {
		r := newReg(t)
		rows := []pki.IssuedCert{
			cert(3, principal.Vehicle, "truck-1", base.Add(2*time.Hour)),
			cert(1, principal.Vehicle, "truck-1", base),
			cert(2, principal.Client, "acme", base.Add(time.Hour)),
			cert(4, principal.Vehicle, "truck-2", base.Add(2*time.Hour)),
		}
		for _, c := range rows {
			if err := r.RecordIssued(ctx, c, pki.IssueBasis{}); err != nil {
				t.Fatal(err)
			}
		}
		all, err := r.ListIssued(ctx, pki.IssuedFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{rows[1].Serial, rows[2].Serial, rows[0].Serial, rows[3].Serial}; !serials(all, want) {
			t.Fatalf("order: got %v, want NotBefore then Serial ascending %v", serialList(all), want)
		}
		v, _ := r.ListIssued(ctx, pki.IssuedFilter{Kind: principal.Vehicle, ID: "truck-1"})
		if !serials(v, []string{rows[1].Serial, rows[0].Serial}) {
			t.Fatalf("filter kind+id: %v", serialList(v))
		}
		l, _ := r.ListIssued(ctx, pki.IssuedFilter{Kind: principal.Vehicle, Limit: 2})
		if len(l) != 2 {
			t.Fatalf("limit: %d rows", len(l))
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		r := newReg(t)
		c := cert(1, principal.Vehicle, "truck-1", base)
		_ = r.RecordIssued(ctx, c, pki.IssueBasis{})
		v0, err := r.RevocationVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		at := base.Add(time.Hour)
		got, changed, err := r.Revoke(ctx, c.Serial, pki.ReasonKeyCompromise, at)
		if err != nil || !changed || !got.RevokedAt.Equal(at) || got.Reason != pki.ReasonKeyCompromise {
			t.Fatalf("revoke: %+v changed=%v %v", got, changed, err)
		}
		v1, _ := r.RevocationVersion(ctx)
		if v1 <= v0 {
			t.Fatalf("version %d → %d: must increase on revocation", v0, v1)
		}
		got, changed, err = r.Revoke(ctx, c.Serial, pki.ReasonSuperseded, at.Add(time.Hour))
		if err != nil || changed || !got.RevokedAt.Equal(at) || got.Reason != pki.ReasonKeyCompromise {
			t.Fatalf("repeat revoke must keep the first time and reason: %+v changed=%v %v", got, changed, err)
		}
		if v2, _ := r.RevocationVersion(ctx); v2 != v1 {
			t.Fatalf("version moved on a no-op revoke: %d → %d", v1, v2)
		}
		if stored, _ := r.GetIssued(ctx, c.Serial); !stored.RevokedAt.Equal(at) || stored.Reason != pki.ReasonKeyCompromise {
			t.Fatalf("stored row %+v", stored)
		}
		if _, _, err := r.Revoke(ctx, fmt.Sprintf("8%031x", 42), pki.ReasonUnspecified, at); !errors.Is(err, pki.ErrNotFound) {
			t.Fatalf("unknown serial: %v", err)
		}
	})

	t.Run("RevokeConcurrent", func(t *testing.T) {
		r := newReg(t)
		c := cert(1, principal.Vehicle, "truck-1", base)
		_ = r.RecordIssued(ctx, c, pki.IssueBasis{})
		var mu sync.Mutex
		changedN := 0
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				_, changed, err := r.Revoke(ctx, c.Serial, pki.ReasonKeyCompromise, base.Add(time.Duration(i)*time.Second))
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				defer mu.Unlock()
				if changed {
					changedN++
				}
			})
		}
		wg.Wait()
		if changedN != 1 {
			t.Fatalf("%d concurrent revocations reported changed; want exactly 1", changedN)
		}
	})

	t.Run("ListRevoked", func(t *testing.T) {
		r := newReg(t)
		live := cert(1, principal.Vehicle, "a", base)
		expired := cert(2, principal.Vehicle, "b", base.Add(-48*time.Hour))
		good := cert(3, principal.Vehicle, "c", base)
		for _, c := range []pki.IssuedCert{live, expired, good} {
			_ = r.RecordIssued(ctx, c, pki.IssueBasis{})
		}
		for _, c := range []pki.IssuedCert{live, expired} {
			if _, _, err := r.Revoke(ctx, c.Serial, pki.ReasonSuperseded, base); err != nil {
				t.Fatal(err)
			}
		}
		list, err := r.ListRevoked(ctx, base.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Serial != live.Serial || list[0].IssuerKeyID != live.IssuerKeyID ||
			!list[0].NotAfter.Equal(live.NotAfter) || !list[0].RevokedAt.Equal(base) || list[0].Reason != pki.ReasonSuperseded {
			t.Fatalf("ListRevoked: %+v; want only the unexpired revoked one", list)
		}
		// NotAfter exactly at activeAt is expired (strictly after).
		if list, _ := r.ListRevoked(ctx, live.NotAfter); len(list) != 0 {
			t.Fatalf("NotAfter == activeAt listed: %+v", list)
		}
	})

	t.Run("CRLNumber", func(t *testing.T) {
		r := newReg(t)
		var mu sync.Mutex
		seen := map[int64]bool{}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				last := int64(0)
				for range 10 {
					n, err := r.NextCRLNumber(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					if n < 1 || n <= last {
						t.Errorf("CRL number %d after %d", n, last)
					}
					last = n
					mu.Lock()
					if seen[n] {
						t.Errorf("CRL number %d returned twice", n)
					}
					seen[n] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	})

	// Join tokens are consumed by the enrollment that records a
	// certificate: RecordIssued with IssueBasis.JoinToken.
	enroll := func(r pki.Registry, i int, h pki.TokenHash, vehicle string, now time.Time) error {
		return r.RecordIssued(ctx, cert(i, principal.Vehicle, vehicle, base), pki.IssueBasis{JoinToken: &h, Now: now})
	}

	t.Run("JoinTokens", func(t *testing.T) {
		r := newReg(t)
		h := pki.TokenHash(sha256.Sum256([]byte("one")))
		rec := pki.JoinTokenRecord{Hash: h, VehicleID: "truck-1", Carrier: "acme-freight", CreatedAt: base, ExpiresAt: base.Add(10 * time.Minute), UsedAt: base}
		if err := r.CreateJoinToken(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if err := r.CreateJoinToken(ctx, rec); !errors.Is(err, pki.ErrConflict) {
			t.Fatalf("duplicate hash: %v", err)
		}
		got, err := r.GetJoinToken(ctx, h)
		if err != nil || got.VehicleID != "truck-1" || got.Carrier != "acme-freight" || !got.ExpiresAt.Equal(rec.ExpiresAt) || !got.UsedAt.IsZero() {
			t.Fatalf("GetJoinToken: %+v %v (UsedAt must be ignored on create)", got, err)
		}
		if err := enroll(r, 1, h, "truck-1", rec.ExpiresAt); !errors.Is(err, pki.ErrTokenExpired) {
			t.Fatalf("at ExpiresAt: %v, want ErrTokenExpired", err)
		}
		now := base.Add(time.Minute)
		if err := enroll(r, 2, h, "truck-1", now); err != nil {
			t.Fatalf("consume: %v", err)
		}
		if got, err := r.GetJoinToken(ctx, h); err != nil || !got.UsedAt.Equal(now) || got.VehicleID != "truck-1" || got.Carrier != "acme-freight" {
			t.Fatalf("consumed token: %+v %v", got, err)
		}
		if err := enroll(r, 3, h, "truck-1", now); !errors.Is(err, pki.ErrTokenUsed) {
			t.Fatalf("second consume: %v", err)
		}
		if err := enroll(r, 4, h, "truck-1", rec.ExpiresAt.Add(time.Hour)); !errors.Is(err, pki.ErrTokenUsed) {
			t.Fatalf("used and expired: %v, want ErrTokenUsed (checked first)", err)
		}
		if got, _ := r.GetJoinToken(ctx, h); !got.UsedAt.Equal(now) {
			t.Fatal("GetJoinToken does not show the use")
		}
		missing := pki.TokenHash(sha256.Sum256([]byte("none")))
		if _, err := r.GetJoinToken(ctx, missing); !errors.Is(err, pki.ErrNotFound) {
			t.Fatalf("GetJoinToken missing: %v", err)
		}
		if err := enroll(r, 5, missing, "truck-1", now); !errors.Is(err, pki.ErrNotFound) {
			t.Fatalf("enrollment with a missing token: %v", err)
		}
		// An expired token is not marked used.
		h2 := pki.TokenHash(sha256.Sum256([]byte("two")))
		_ = r.CreateJoinToken(ctx, pki.JoinTokenRecord{Hash: h2, VehicleID: "truck-2", CreatedAt: base, ExpiresAt: base.Add(time.Minute)})
		_ = enroll(r, 6, h2, "truck-2", base.Add(time.Hour))
		if got, _ := r.GetJoinToken(ctx, h2); !got.UsedAt.IsZero() {
			t.Fatal("refused consume changed the token")
		}
		// Only the one accepted enrollment recorded a certificate.
		if all, _ := r.ListIssued(ctx, pki.IssuedFilter{}); !serials(all, []string{cert(2, "", "", base).Serial}) {
			t.Fatalf("refused enrollments recorded certificates: %v", serialList(all))
		}
	})

	t.Run("JoinTokenConcurrent", func(t *testing.T) {
		r := newReg(t)
		h := pki.TokenHash(sha256.Sum256([]byte("race")))
		_ = r.CreateJoinToken(ctx, pki.JoinTokenRecord{Hash: h, VehicleID: "truck-1", CreatedAt: base, ExpiresAt: base.Add(time.Hour)})
		var mu sync.Mutex
		ok, used := 0, 0
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				err := enroll(r, 100+i, h, "truck-1", base.Add(time.Minute))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, pki.ErrTokenUsed):
					used++
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if ok != 1 || used != 15 {
			t.Fatalf("%d consumed, %d refused as used; want 1 and 15", ok, used)
		}
		if all, _ := r.ListIssued(ctx, pki.IssuedFilter{}); len(all) != 1 {
			t.Fatalf("%d certificates recorded with one token, want 1", len(all))
		}
	})

	runPrincipalRevocation(t, newReg, cert, base)
}

func sameCert(a, b pki.IssuedCert) bool {
	return a.Serial == b.Serial && a.Kind == b.Kind && a.ID == b.ID && a.Profile == b.Profile &&
		a.NotBefore.Equal(b.NotBefore) && a.NotAfter.Equal(b.NotAfter) && a.IssuerKeyID == b.IssuerKeyID &&
		string(a.DER) == string(b.DER) && a.RevokedAt.Equal(b.RevokedAt) && a.Reason == b.Reason
}

func serialList(cs []pki.IssuedCert) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Serial
	}
	return out
}

func serials(cs []pki.IssuedCert, want []string) bool {
	got := serialList(cs)
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
