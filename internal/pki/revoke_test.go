package pki

import (
	"context"
	"crypto/x509"
	"sync"
	"testing"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// interleave is a Registry that runs hook once, right after the first read
// that matches, and before returning that read's (now stale) answer: a
// revocation landing between a check the CA makes and the write that
// follows it, deterministically.
type interleave struct {
	Registry
	mu     sync.Mutex
	serial string    // GetIssued of this serial triggers hook
	token  TokenHash // or GetJoinToken of this hash
	hook   func()
}

func (r *interleave) fire(match bool) {
	r.mu.Lock()
	h := r.hook
	if match {
		r.hook = nil
	}
	r.mu.Unlock()
	if match && h != nil {
		h()
	}
}

func (r *interleave) GetIssued(ctx context.Context, serial string) (IssuedCert, error) {
	c, err := r.Registry.GetIssued(ctx, serial)
	r.fire(serial == r.serial)
	return c, err
}

func (r *interleave) GetJoinToken(ctx context.Context, hash TokenHash) (JoinTokenRecord, error) {
	t, err := r.Registry.GetJoinToken(ctx, hash)
	r.fire(hash == r.token)
	return t, err
}

// revokeOnMatch makes the hook revoke p (key compromise) through ca as
// actor: a revocation racing the CA's check.
func (r *interleave) revokeOnMatch(t *testing.T, ca *CA, p, actor principal.Principal) {
	r.hook = func() {
		if _, err := ca.RevokePrincipal(context.Background(), p, ReasonKeyCompromise, actor); err != nil {
			t.Error(err)
		}
	}
}

// checkFired fails the test unless the hook ran.
func (r *interleave) checkFired(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hook != nil {
		t.Fatal("the revocation never ran between the check and the record")
	}
}

// registries gives each test a fresh Registry of every implementation.
func registries(t *testing.T, f func(t *testing.T, reg Registry)) {
	t.Run("memory", func(t *testing.T) { f(t, NewMemRegistry()) })
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) { f(t, NewStoreRegistry(eng.Open(t))) })
	}
}

// loadOn loads e's CA again on reg.
func (e *env) loadOn(t *testing.T, reg Registry) *CA {
	t.Helper()
	ca, err := Load(context.Background(), e.dir, Config{}, Deps{KEK: e.kek, Registry: reg, Events: e.bus, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestAttackRenewalRacesRevocation (issue 15): Renew checks that the
// presented certificate is unrevoked, signs, then records. A revocation of
// the vehicle landing between the check and the record must still win: the
// renewal is refused (renew_cert_revoked, one event) and nothing is
// recorded, on every Registry. Before the fix the check ran outside the
// recording transaction and the new certificate survived the revocation.
func TestAttackRenewalRacesRevocation(t *testing.T) {
	registries(t, func(t *testing.T, base Registry) {
		e := newEnv(t, ECDSAP256)
		ctx := context.Background()
		reg := &interleave{Registry: base}
		ca := e.loadOn(t, reg)
		truck := principal.Principal{Kind: principal.Vehicle, ID: "truck-1"}
		stolen, _, err := ca.IssueWithNewKey(ctx, IssueRequest{Subject: truck}, ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		reg.serial = stolen.Record.Serial
		reg.revokeOnMatch(t, ca, truck, principal.Principal{Kind: principal.Operator, ID: "alice"})
		chains := [][]*x509.Certificate{{stolen.Certificate, ca.state.Load().issuing.cert}}
		renewedBefore := e.countCode(codes.CertRenewed)
		is, err := ca.Renew(ctx, chains, newCSR(t, mustKey(t, ECDSAP256), "truck-1", truckURI))
		reg.checkFired(t)
		if err == nil {
			t.Fatalf("renewal racing the vehicle's revocation issued %s", is.Record.Serial)
		}
		if CodeOf(err) != codes.RenewCertRevoked {
			t.Fatalf("code %q (%v), want %s", CodeOf(err), err, codes.RenewCertRevoked)
		}
		if n := len(e.sink.ByCode(codes.RenewCertRevoked)); n != 1 {
			t.Fatalf("%d renew_cert_revoked events, want 1", n)
		}
		if e.countCode(codes.CertRenewed) != renewedBefore {
			t.Fatal("a cert_renewed event for a refused renewal")
		}
		certs, err := base.ListIssued(ctx, IssuedFilter{Kind: principal.Vehicle, ID: "truck-1"})
		if err != nil {
			t.Fatal(err)
		}
		if len(certs) != 1 || certs[0].Serial != stolen.Record.Serial || !certs[0].Revoked() {
			t.Fatalf("the vehicle's certificates: %+v; want only the stolen one, revoked", certs)
		}
	})
}

// TestAttackEnrollmentRacesRevocation: a join token checked by Enroll, then
// the vehicle revoked (which spends its unused tokens), then the record: the
// enrollment is refused (token_used) and nothing is recorded.
func TestAttackEnrollmentRacesRevocation(t *testing.T) {
	registries(t, func(t *testing.T, base Registry) {
		e := newEnv(t, ECDSAP256)
		ctx := context.Background()
		reg := &interleave{Registry: base}
		ca := e.loadOn(t, reg)
		truck := principal.Principal{Kind: principal.Vehicle, ID: "truck-1"}
		tok, err := ca.CreateJoinToken(ctx, "truck-1", 0, principal.Principal{})
		if err != nil {
			t.Fatal(err)
		}
		reg.token, _ = HashJoinToken(tok.Secret)
		reg.revokeOnMatch(t, ca, truck, principal.Principal{})
		is, err := ca.Enroll(ctx, tok.Secret, newCSR(t, mustKey(t, ECDSAP256), "truck-1", truckURI), "")
		reg.checkFired(t)
		if err == nil {
			t.Fatalf("enrollment racing the vehicle's revocation issued %s", is.Record.Serial)
		}
		if CodeOf(err) != codes.TokenUsed || len(e.sink.ByCode(codes.TokenUsed)) != 1 {
			t.Fatalf("code %q (%v), %d token_used events; want token_used and one event", CodeOf(err), err, len(e.sink.ByCode(codes.TokenUsed)))
		}
		if certs, _ := base.ListIssued(ctx, IssuedFilter{Kind: principal.Vehicle}); len(certs) != 0 {
			t.Fatalf("recorded %+v", certs)
		}
	})
}

// TestRevokePrincipal: events, refusals, and re-provisioning after it.
func TestRevokePrincipal(t *testing.T) {
	e := newEnv(t, ECDSAP256)
	ctx := context.Background()
	a, _ := e.issue(principal.Vehicle, "truck-1")
	b, _ := e.issue(principal.Vehicle, "truck-1")
	if _, err := e.ca.CreateJoinToken(ctx, "truck-1", 0, principal.Principal{}); err != nil {
		t.Fatal(err)
	}
	alice := principal.Principal{Kind: principal.Operator, ID: "alice"}
	truck := principal.Principal{Kind: principal.Vehicle, ID: "truck-1"}
	res, err := e.ca.RevokePrincipal(ctx, truck, ReasonKeyCompromise, alice)
	if err != nil || len(res.Revoked) != 2 || res.TokensSpent != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	got := map[string]bool{}
	for _, ev := range e.sink.ByCode(codes.CertRevoked) {
		if ev.Actor != alice || ev.Resource != truck.String() || ev.Severity != event.SeverityHigh {
			t.Fatalf("cert_revoked event %+v", ev)
		}
		got[ev.Attrs["serial"].(string)] = true
	}
	if len(got) != 2 || !got[a.Record.Serial] || !got[b.Record.Serial] {
		t.Fatalf("cert_revoked events for %v", got)
	}
	evs := e.sink.ByCode(codes.PrincipalRevoked)
	if len(evs) != 1 || evs[0].Actor != alice || evs[0].Resource != truck.String() || evs[0].Attrs["certificates"] != 2 ||
		evs[0].Attrs["join_spent"] != 1 || evs[0].Attrs["reason"] != "key_compromise" {
		t.Fatalf("principal_revoked events %+v", evs)
	}
	// Re-provisioning: an operator's issue stands.
	fresh, _ := e.issue(principal.Vehicle, "truck-1")
	if rec, _ := e.reg.GetIssued(ctx, fresh.Record.Serial); rec.Revoked() {
		t.Fatal("a certificate issued after the revocation is revoked")
	}
	for _, tc := range []struct {
		name string
		p    principal.Principal
		r    RevocationReason
	}{
		{"gateway", principal.Principal{Kind: principal.Gateway, ID: "gw-1"}, ReasonUnspecified},
		{"malformed id", principal.Principal{Kind: principal.Vehicle, ID: "../x"}, ReasonUnspecified},
		{"certificateHold", truck, RevocationReason(6)},
	} {
		if _, err := e.ca.RevokePrincipal(ctx, tc.p, tc.r, alice); CodeOf(err) != codes.IssueInvalid {
			t.Errorf("%s: %v, want %s", tc.name, err, codes.IssueInvalid)
		}
	}
	if n := len(e.sink.ByCode(codes.PrincipalRevoked)); n != 1 {
		t.Fatalf("refused revocations emitted principal_revoked (%d)", n)
	}
}
