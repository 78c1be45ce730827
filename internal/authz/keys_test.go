package authz

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/pki/pkitest"
)

func TestEnsureKeyCreatesTheFirstKeyOnce(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	if len(e.store.recs) != 1 || e.store.recs[0].Alg != AlgEdDSA || !e.store.recs[0].RetiredAt.IsZero() {
		t.Fatalf("store = %+v", e.store.recs)
	}
	if got := e.events.codes(); len(got) != 1 || got[0] != codes.TokenKeyRotated {
		t.Fatalf("events = %v", got)
	}
	// A second replica (and a restart) finds it and adds none.
	if err := e.newKeySet(t, e.sealer, AlgEdDSA).EnsureKey(ctx); err != nil {
		t.Fatal(err)
	}
	if len(e.store.recs) != 1 {
		t.Fatalf("%d keys after a second EnsureKey", len(e.store.recs))
	}
}

func TestEnsureKeyRaceSettlesOnOneKey(t *testing.T) {
	e := &env{store: &memKeyStore{}, events: &memEvents{}, clock: &clock{t: time.Now()}, sealer: pkitest.NewKEK(t)}
	// Another replica inserts its key between our read and our insert,
	// and the store refuses ours (as a unique "first key" constraint would).
	other := e.newKeySet(t, e.sealer, AlgEdDSA)
	e.store.beforeAdd = func(s *memKeyStore) error {
		s.beforeAdd = nil
		s.mu.Unlock()
		defer s.mu.Lock()
		if err := other.EnsureKey(ctx); err != nil {
			t.Error(err)
		}
		return errConflict
	}
	ks := e.newKeySet(t, e.sealer, AlgEdDSA)
	if err := ks.EnsureKey(ctx); err != nil {
		t.Fatalf("EnsureKey after losing the race: %v", err)
	}
	a, _ := ks.signer(e.clock.Now())
	b, _ := other.signer(e.clock.Now())
	if a == nil || b == nil || a.kid != b.kid || len(e.store.recs) != 1 {
		t.Fatalf("replicas sign with %v and %v; store holds %d keys", a, b, len(e.store.recs))
	}

	// Concurrent starts with no refusal from the store: whoever inserts
	// last is active, and both replicas converge on it after a reload.
	e2 := &env{store: &memKeyStore{}, events: &memEvents{}, clock: &clock{t: time.Now()}, sealer: e.sealer}
	sets := []*KeySet{e2.newKeySet(t, e.sealer, AlgEdDSA), e2.newKeySet(t, e.sealer, AlgEdDSA), e2.newKeySet(t, e.sealer, AlgEdDSA)}
	var wg sync.WaitGroup
	for _, s := range sets {
		wg.Go(func() {
			if err := s.EnsureKey(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	active := 0
	for _, r := range e2.store.recs {
		if r.RetiredAt.IsZero() {
			active++
		}
	}
	if active != 1 {
		t.Fatalf("%d active keys", active)
	}
	var kids []string
	for _, s := range sets {
		if err := s.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		sk, _ := s.signer(e2.clock.Now())
		kids = append(kids, sk.kid)
	}
	if kids[0] != kids[1] || kids[1] != kids[2] {
		t.Fatalf("replicas sign with %v", kids)
	}
}

func TestRotationOverlap(t *testing.T) {
	for _, alg := range []string{AlgEdDSA, AlgES256} {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, AlgEdDSA)
			acct, leaf, _ := e.account(t, "acme", Planner)
			oldKID := activeKID(t, e)
			old := e.issue(t, acct, leaf, 0, FleetRead)
			// Another replica, loaded before the rotation.
			replica := e.newKeySet(t, e.sealer, AlgEdDSA)
			if err := replica.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			rv, _ := NewVerifier(replica, TokenConfig{Issuer: testIssuer, Audience: testAudience})

			newKID, err := e.keys.Rotate(ctx, alg)
			if err != nil {
				t.Fatal(err)
			}
			if newKID == oldKID || activeKID(t, e) != newKID {
				t.Fatalf("active kid %s after rotating to %s", activeKID(t, e), newKID)
			}
			if got := e.events.last(); got.Code != codes.TokenKeyRotated || got.Attrs["kid"] != newKID {
				t.Fatalf("event = %+v", got)
			}
			fresh := e.issue(t, acct, leaf, 0, FleetRead)
			if !strings.Contains(string(mustHeader(t, fresh)), newKID) {
				t.Fatal("the new token is not signed by the new key")
			}
			// The replica has not reloaded: the new kid makes it reload once.
			if _, err := rv.Verify(ctx, fresh, leaf); err != nil {
				t.Fatalf("replica on a new kid: %v", err)
			}
			// The old key still verifies its tokens and is published.
			e.clock.Advance(ReadTokenLifetime)
			for _, ks := range []*KeySet{e.keys, replica} {
				if err := ks.Refresh(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := e.verifier.Verify(ctx, old, leaf); err != nil {
				t.Fatalf("old token during the overlap: %v", err)
			}
			set, _ := e.keys.JWKS()
			if len(set.Keys) != 2 || set.Keys[0].KeyID != newKID || set.Keys[1].KeyID != oldKID {
				t.Fatalf("JWKS during overlap = %v", set.Keys)
			}
			// At the end of its publication it is gone: unknown kid, not
			// merely expired, and out of the JWKS. The replica, loaded a
			// second before the end, drops it by itself.
			e.clock.Advance(KeyPublishMargin - ReadTokenLifetime - time.Second)
			if err := replica.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Second)
			if err := e.keys.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			_, err = e.verifier.Verify(ctx, old, leaf)
			wantCode(t, err, codes.AccessTokenUnknownKID)
			set, _ = e.keys.JWKS()
			if len(set.Keys) != 1 || set.Keys[0].KeyID != newKID {
				t.Fatalf("JWKS after overlap = %v", set.Keys)
			}
			_, err = rv.Verify(ctx, old, leaf)
			wantCode(t, err, codes.AccessTokenUnknownKID)
		})
	}
}

func mustHeader(t *testing.T, raw string) []byte {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestKeyMissReloadIsBounded(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	acct, leaf, _ := e.account(t, "acme", Planner)
	before := e.store.listCount()
	for i := range 100 {
		hdr := `{"alg":"EdDSA","kid":"unknown-` + string(rune('a'+i%26)) + `","typ":"at+jwt"}`
		_, err := e.verifier.Verify(ctx, e.rawEd25519(t, hdr, goodClaims(acct, leaf, e.clock.Now())), leaf)
		wantCode(t, err, codes.AccessTokenUnknownKID)
	}
	if n := e.store.listCount() - before; n != 1 {
		t.Fatalf("100 unknown kids in one second made %d reloads; want 1", n)
	}
	e.clock.Advance(KeyMissRefreshInterval)
	hdr := `{"alg":"EdDSA","kid":"unknown","typ":"at+jwt"}`
	_, _ = e.verifier.Verify(ctx, e.rawEd25519(t, hdr, goodClaims(acct, leaf, e.clock.Now())), leaf)
	if n := e.store.listCount() - before; n != 2 {
		t.Fatalf("%d reloads a second later; want 2", n)
	}
}

func TestKeySealing(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	acct, leaf, _ := e.account(t, "acme", Planner)
	rec := e.store.recs[0]
	der, err := e.sealer.Decrypt(rec.Sealed, sealAAD(rec.KID))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	seed := priv.(interface{ Seed() []byte }).Seed()
	if bytes.Contains(rec.Sealed, der) || bytes.Contains(rec.Sealed, seed) {
		t.Fatal("the store holds the private key in the clear")
	}
	raw := e.issue(t, acct, leaf, 0, FleetRead)

	// A replica with another secrets key: no key opens, so it issues
	// nothing, and EnsureKey does not paper over it with a new key.
	wrong := e.newKeySet(t, pkitest.NewKEK(t), AlgEdDSA)
	if err := wrong.EnsureKey(ctx); !errors.Is(err, ErrNoTokenKey) {
		t.Fatalf("EnsureKey under a wrong sealer: %v", err)
	}
	if len(e.store.recs) != 1 {
		t.Fatalf("EnsureKey under a wrong sealer added a key (%d)", len(e.store.recs))
	}
	wi, _ := NewIssuer(wrong, TokenConfig{Issuer: testIssuer, Audience: testAudience})
	_, _, err = wi.Issue(acct, leaf, []Scope{FleetRead}, e.clock.Now())
	wantCode(t, err, codes.TokenKeyUnavailable)
	// Verification needs only the public key.
	wv, _ := NewVerifier(wrong, TokenConfig{Issuer: testIssuer, Audience: testAudience})
	if _, err := wv.Verify(ctx, raw, leaf); err != nil {
		t.Fatalf("verify with a wrong sealer: %v", err)
	}

	// A sealed key moved to another row (another kid) does not open.
	if _, err := e.keys.Rotate(ctx, AlgEdDSA); err != nil {
		t.Fatal(err)
	}
	e.store.mu.Lock()
	e.store.recs[1].Sealed = e.store.recs[0].Sealed
	e.store.mu.Unlock()
	if err := e.keys.Refresh(ctx); !errors.Is(err, ErrNoTokenKey) {
		t.Fatalf("refresh with a swapped sealed key: %v", err)
	}
	_, _, err = e.issuer.Issue(acct, leaf, []Scope{FleetRead}, e.clock.Now())
	wantCode(t, err, codes.TokenKeyUnavailable)
}

func TestKeyRecordsThatDoNotCheckOut(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	acct, leaf, _ := e.account(t, "acme", Planner)
	raw := e.issue(t, acct, leaf, 0, FleetRead)
	for name, bend := range map[string]func(r *TokenKeyRecord){
		"alg relabelled": func(r *TokenKeyRecord) { r.Alg = AlgES256 },
		"alg HS256":      func(r *TokenKeyRecord) { r.Alg = "HS256" },
		"kid renamed":    func(r *TokenKeyRecord) { r.KID = "chosen" },
		"public swapped": func(r *TokenKeyRecord) {
			other := newEnv(t, AlgEdDSA)
			r.Public = other.store.recs[0].Public
		},
	} {
		t.Run(name, func(t *testing.T) {
			st := &memKeyStore{recs: []TokenKeyRecord{e.store.recs[0]}}
			bend(&st.recs[0])
			ks, _ := NewKeySet(KeySetDeps{Store: st, Sealer: e.sealer, Events: e.events, Now: e.clock.Now, Log: quiet}, KeySetConfig{})
			if err := ks.Refresh(ctx); !errors.Is(err, ErrNoTokenKey) {
				t.Fatalf("refresh: %v", err)
			}
			v, _ := NewVerifier(ks, TokenConfig{Issuer: testIssuer, Audience: testAudience})
			_, err := v.Verify(ctx, raw, leaf)
			wantCode(t, err, codes.AccessTokenUnknownKID)
		})
	}
}

func TestKeySetFailsClosed(t *testing.T) {
	// Nothing in the store.
	e := &env{store: &memKeyStore{}, events: &memEvents{}, clock: &clock{t: time.Now()}, sealer: pkitest.NewKEK(t)}
	ks := e.newKeySet(t, e.sealer, AlgEdDSA)
	if err := ks.Refresh(ctx); !errors.Is(err, ErrNoTokenKey) {
		t.Fatalf("empty store: %v", err)
	}
	if _, err := ks.JWKS(); CodeOf(err) != codes.TokenKeyUnavailable {
		t.Fatalf("JWKS of an empty store: %v", err)
	}

	// Only a retired key, still published: it verifies, it never signs.
	g0 := newEnv(t, AlgEdDSA)
	g0.store.recs[0].RetiredAt, g0.store.recs[0].PublishUntil = g0.clock.Now(), g0.clock.Now().Add(time.Hour)
	if err := g0.keys.Refresh(ctx); !errors.Is(err, ErrNoTokenKey) {
		t.Fatalf("only a retired key: %v", err)
	}
	a0, l0, _ := g0.account(t, "acme", Planner)
	_, _, err := g0.issuer.Issue(a0, l0, []Scope{FleetRead}, g0.clock.Now())
	wantCode(t, err, codes.TokenKeyUnavailable)

	// A store that cannot be read: the last keys serve until they are
	// MaxKeySetStaleness old, then nothing issues or verifies.
	g := newEnv(t, AlgEdDSA)
	acct, leaf, _ := g.account(t, "acme", Planner)
	raw := g.issue(t, acct, leaf, 0, FleetRead)
	g.store.listErr = errors.New("store down")
	g.clock.Advance(MaxKeySetStaleness / 2)
	if err := g.keys.Refresh(ctx); err == nil {
		t.Fatal("refresh succeeded with the store down")
	}
	if _, err := g.verifier.Verify(ctx, raw, leaf); err != nil {
		t.Fatalf("within staleness: %v", err)
	}
	g.clock.Advance(MaxKeySetStaleness/2 + time.Second)
	_, err = g.verifier.Verify(ctx, raw, leaf)
	wantCode(t, err, codes.TokenKeyUnavailable)
	_, _, err = g.issuer.Issue(acct, leaf, []Scope{FleetRead}, g.clock.Now())
	wantCode(t, err, codes.TokenKeyUnavailable)
	if _, err := g.keys.JWKS(); CodeOf(err) != codes.TokenKeyUnavailable {
		t.Fatalf("stale JWKS: %v", err)
	}
	// The store is back: so are the keys.
	g.store.listErr = nil
	if err := g.keys.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := g.verifier.Verify(ctx, raw, leaf); err != nil {
		t.Fatal(err)
	}
}

func TestRunReloadsAnotherReplicasRotation(t *testing.T) {
	e := newEnv(t, AlgEdDSA)
	replica := e.newKeySet(t, e.sealer, AlgEdDSA)
	if err := replica.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { replica.Run(rctx, time.Millisecond); close(done) }()
	kid, err := e.keys.Rotate(ctx, AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second) // generous: this asserts reloading, not its speed
	for {
		if sk, err := replica.signer(e.clock.Now()); err == nil && sk.kid == kid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica never signs with the rotated key")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
}
