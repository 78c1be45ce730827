package pkitest

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// runPrincipalRevocation checks RevokePrincipal and the issuance checks of
// RecordIssued that it is serialized with.
func runPrincipalRevocation(t *testing.T, newReg func(t *testing.T) pki.Registry,
	cert func(i int, kind principal.Kind, id string, nb time.Time) pki.IssuedCert, base time.Time) {
	ctx := context.Background()
	truck := principal.Principal{Kind: principal.Vehicle, ID: "truck-1"}
	vcert := func(i int) pki.IssuedCert { return cert(i, principal.Vehicle, "truck-1", base) }
	renewal := func(parent pki.IssuedCert) pki.IssueBasis { return pki.IssueBasis{RenewedFrom: parent.Serial} }
	record := func(t *testing.T, r pki.Registry, c pki.IssuedCert, b pki.IssueBasis) {
		t.Helper()
		if err := r.RecordIssued(ctx, c, b); err != nil {
			t.Fatalf("record %s: %v", c.Serial, err)
		}
	}
	token := func(t *testing.T, r pki.Registry, name, vehicle string) pki.TokenHash {
		t.Helper()
		h := pki.TokenHash(sha256.Sum256([]byte(name)))
		if err := r.CreateJoinToken(ctx, pki.JoinTokenRecord{Hash: h, VehicleID: vehicle, CreatedAt: base, ExpiresAt: base.Add(24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		return h
	}

	t.Run("RevokePrincipalRevokesAll", func(t *testing.T) {
		r := newReg(t)
		live := vcert(1)
		renewed := vcert(2)
		expired := cert(3, principal.Vehicle, "truck-1", base.Add(-48*time.Hour))
		byserial := vcert(4)
		other := cert(5, principal.Vehicle, "truck-2", base)
		sameID := cert(6, principal.Client, "truck-1", base) // another kind, same id
		record(t, r, live, pki.IssueBasis{})
		record(t, r, renewed, renewal(live))
		for _, c := range []pki.IssuedCert{expired, byserial, other, sameID} {
			record(t, r, c, pki.IssueBasis{})
		}
		first := base.Add(time.Minute)
		if _, _, err := r.Revoke(ctx, byserial.Serial, pki.ReasonSuperseded, first); err != nil {
			t.Fatal(err)
		}
		t1, t2 := token(t, r, "t1", "truck-1"), token(t, r, "t2", "truck-1")
		t3 := token(t, r, "t3", "truck-2")
		v0, _ := r.RevocationVersion(ctx)

		at := base.Add(time.Hour)
		res, err := r.RevokePrincipal(ctx, truck, pki.ReasonKeyCompromise, at)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{expired.Serial, live.Serial, renewed.Serial}; !serials(res.Revoked, want) {
			t.Fatalf("revoked %v, want every unrevoked certificate of the principal, expired included, in ListIssued order %v",
				serialList(res.Revoked), want)
		}
		for _, c := range res.Revoked {
			if !c.RevokedAt.Equal(at) || c.Reason != pki.ReasonKeyCompromise {
				t.Fatalf("returned row %+v", c)
			}
		}
		for _, c := range []pki.IssuedCert{live, renewed, expired} {
			if got, _ := r.GetIssued(ctx, c.Serial); !got.RevokedAt.Equal(at) || got.Reason != pki.ReasonKeyCompromise {
				t.Fatalf("stored %+v: not revoked by the principal revocation", got)
			}
		}
		if got, _ := r.GetIssued(ctx, byserial.Serial); !got.RevokedAt.Equal(first) || got.Reason != pki.ReasonSuperseded {
			t.Fatalf("an earlier revocation must keep its time and reason: %+v", got)
		}
		for _, c := range []pki.IssuedCert{other, sameID} {
			if got, _ := r.GetIssued(ctx, c.Serial); got.Revoked() {
				t.Fatalf("another principal's certificate %s was revoked", c.Serial)
			}
		}
		if v1, _ := r.RevocationVersion(ctx); v1 <= v0 {
			t.Fatalf("version %d → %d: must increase", v0, v1)
		}
		if res.TokensSpent != 2 {
			t.Fatalf("%d join tokens spent, want the vehicle's 2 unused ones", res.TokensSpent)
		}
		for _, h := range []pki.TokenHash{t1, t2} {
			if got, _ := r.GetJoinToken(ctx, h); !got.UsedAt.Equal(at) {
				t.Fatalf("token of the revoked vehicle not spent: %+v", got)
			}
		}
		if got, _ := r.GetJoinToken(ctx, t3); !got.UsedAt.IsZero() {
			t.Fatal("another vehicle's token was spent")
		}
		if l, _ := r.ListRevoked(ctx, base); len(l) != 3 { // live, renewed, byserial (expired is not listed)
			t.Fatalf("ListRevoked: %+v", l)
		}

		// Again: nothing left, nothing changes.
		v1, _ := r.RevocationVersion(ctx)
		res, err = r.RevokePrincipal(ctx, truck, pki.ReasonSuperseded, at.Add(time.Hour))
		if err != nil || len(res.Revoked) != 0 || res.TokensSpent != 0 {
			t.Fatalf("second revocation: %+v %v", res, err)
		}
		if v2, _ := r.RevocationVersion(ctx); v2 != v1 {
			t.Fatalf("version moved on a revocation that revoked nothing: %d → %d", v1, v2)
		}
		if got, _ := r.GetIssued(ctx, live.Serial); !got.RevokedAt.Equal(at) || got.Reason != pki.ReasonKeyCompromise {
			t.Fatalf("the first revocation's time and reason must stand: %+v", got)
		}
		// A principal never issued anything can be revoked (its record is
		// then the fact that stops what is in flight).
		if res, err := r.RevokePrincipal(ctx, principal.Principal{Kind: principal.Operator, ID: "nobody"}, pki.ReasonUnspecified, at); err != nil || len(res.Revoked) != 0 {
			t.Fatalf("revoking an unknown principal: %+v %v", res, err)
		}
	})

	t.Run("IssuanceAfterPrincipalRevocation", func(t *testing.T) {
		r := newReg(t)
		p := vcert(1)
		record(t, r, p, pki.IssueBasis{})
		stale := token(t, r, "stale", "truck-1")
		if _, err := r.RevokePrincipal(ctx, truck, pki.ReasonKeyCompromise, base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		refused := func(name string, c pki.IssuedCert, b pki.IssueBasis, want error) {
			t.Helper()
			v0, _ := r.RevocationVersion(ctx)
			if err := r.RecordIssued(ctx, c, b); !errors.Is(err, want) {
				t.Fatalf("%s: %v, want %v", name, err, want)
			}
			if _, err := r.GetIssued(ctx, c.Serial); !errors.Is(err, pki.ErrNotFound) {
				t.Fatalf("%s: the refused certificate was recorded (%v)", name, err)
			}
			if v1, _ := r.RevocationVersion(ctx); v1 != v0 {
				t.Fatalf("%s: the refusal changed the revocation version", name)
			}
		}
		// The attack: renewing a certificate issued before the revocation.
		refused("renewal of a certificate issued before the principal's revocation", vcert(2), renewal(p), pki.ErrRevoked)
		// A join token created before the revocation was spent by it.
		refused("enrollment with a token from before the revocation", vcert(3),
			pki.IssueBasis{JoinToken: &stale, Now: base.Add(2 * time.Hour)}, pki.ErrTokenUsed)
		if got, _ := r.GetJoinToken(ctx, stale); !got.UsedAt.Equal(base.Add(time.Hour)) {
			t.Fatalf("the refused enrollment changed the spent token: %+v", got)
		}
		refused("renewal of an unknown serial", vcert(4), pki.IssueBasis{RenewedFrom: cert(99, "", "", base).Serial}, pki.ErrNotFound)
		other := cert(5, principal.Vehicle, "truck-2", base)
		record(t, r, other, pki.IssueBasis{})
		refused("renewal of another principal's certificate", vcert(6), renewal(other), pki.ErrNotFound)

		// Re-provisioning: an operator's issue and an enrollment with a
		// token created after the revocation both stand, and renew.
		fresh := vcert(7)
		record(t, r, fresh, pki.IssueBasis{})
		newTok := token(t, r, "fresh", "truck-1")
		enrolled := vcert(8)
		record(t, r, enrolled, pki.IssueBasis{JoinToken: &newTok, Now: base.Add(2 * time.Hour)})
		child := vcert(9)
		record(t, r, child, renewal(fresh))
		for _, c := range []pki.IssuedCert{fresh, enrolled, child} {
			if got, _ := r.GetIssued(ctx, c.Serial); got.Revoked() {
				t.Fatalf("%s, issued after the revocation, is revoked", c.Serial)
			}
		}
		// A certificate revoked by serial cannot be renewed either.
		if _, _, err := r.Revoke(ctx, child.Serial, pki.ReasonSuperseded, base.Add(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
		refused("renewal of a certificate revoked by serial", vcert(10), renewal(child), pki.ErrRevoked)
		// Revoking again takes the re-provisioned certificates too.
		res, err := r.RevokePrincipal(ctx, truck, pki.ReasonKeyCompromise, base.Add(4*time.Hour))
		if err != nil || !serials(res.Revoked, []string{fresh.Serial, enrolled.Serial}) {
			t.Fatalf("second principal revocation: %v %v", serialList(res.Revoked), err)
		}
		refused("renewal of a re-provisioned certificate after a second revocation", vcert(11), renewal(enrolled), pki.ErrRevoked)
	})

	// The attack of issue 15: renewers chain renewals (each new certificate
	// presented for the next) while the principal is revoked. When
	// RevokePrincipal returns, every certificate of the principal is
	// revoked, and every later renewal is refused.
	t.Run("IssuanceRacingPrincipalRevocation", func(t *testing.T) {
		r := newReg(t)
		const workers = 4
		const before = 20 // renewals recorded before the revocation starts
		// Bounds, so the test stops by itself whatever happens: each
		// renewer stops at its first refusal, at maxChain, or at deadline.
		const maxChain = 100_000
		deadline := time.Now().Add(30 * time.Second)
		heads := make([]pki.IssuedCert, workers)
		for w := range heads {
			heads[w] = vcert(maxChain * (w + 1))
			record(t, r, heads[w], pki.IssueBasis{})
		}
		var recorded atomic.Int64
		var revoked atomic.Bool
		var afterRevoke atomic.Int64 // renewals that started after RevokePrincipal returned and succeeded
		lastErr := make([]error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				cur := heads[w]
				for i := 1; i < maxChain && time.Now().Before(deadline); i++ {
					started := revoked.Load()
					next := vcert(maxChain*(w+1) + i)
					err := r.RecordIssued(ctx, next, renewal(cur))
					if err != nil {
						lastErr[w] = err
						return
					}
					recorded.Add(1)
					if started {
						afterRevoke.Add(1)
					}
					cur = next
				}
				lastErr[w] = errors.New("the renewer was never refused")
			})
		}
		for recorded.Load() < before && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if _, err := r.RevokePrincipal(ctx, truck, pki.ReasonKeyCompromise, base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		revoked.Store(true)
		wg.Wait()
		for w, err := range lastErr {
			if !errors.Is(err, pki.ErrRevoked) {
				t.Errorf("renewer %d stopped with %v, want ErrRevoked", w, err)
			}
		}
		if n := afterRevoke.Load(); n != 0 {
			t.Errorf("%d renewals that started after RevokePrincipal returned were recorded", n)
		}
		all, err := r.ListIssued(ctx, pki.IssuedFilter{Kind: principal.Vehicle, ID: "truck-1"})
		if err != nil {
			t.Fatal(err)
		}
		survivors := 0
		for _, c := range all {
			if !c.Revoked() {
				survivors++
			}
		}
		t.Logf("%d certificates recorded (%d by racing renewals); %d survive the revocation", len(all), recorded.Load(), survivors)
		if survivors != 0 {
			t.Fatalf("%d of %d certificates of the revoked principal are not revoked", survivors, len(all))
		}
	})
}
