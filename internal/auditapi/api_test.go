package auditapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/auditapi"
	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/sealtest"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

type fixture struct {
	st  store.Store
	key *audit.LogKey
	h   http.Handler
}

// newFixture stores three events, each sequenced as its own leaf, and one
// more pending; it serves the API on a mux as the gateway does.
func newFixture(t *testing.T, e storetest.Engine) *fixture {
	return newFixtureOn(t, e.New(t))
}

func newFixtureOn(t *testing.T, cfg store.Config) *fixture {
	ctx := context.Background()
	st := storetest.OpenConfig(t, cfg)
	key, err := audit.LoadOrCreateKey(ctx, st, sealtest.New(t), "test.invalid/audit", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	seq, err := audit.NewSequencer(audit.SequencerDeps{Store: st, Key: key}, audit.SequencerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ev-0", "ev-1", "ev-2", "ev-pending"} {
		if err := st.AppendEvents(ctx, []store.EventRow{{ID: id, Time: time.Now(), Class: "system", Verdict: "info", Code: "x",
			Subject: "s", Body: []byte(`{"id":"` + id + `"}`)}}); err != nil {
			t.Fatal(err)
		}
		if id != "ev-pending" {
			if _, err := seq.Step(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	mux := http.NewServeMux()
	for p, h := range (&auditapi.API{Store: st, Verifier: key.Verifier()}).Routes() {
		mux.Handle(p, h)
	}
	return &fixture{st: st, key: key, h: mux}
}

func (f *fixture) get(t *testing.T, target string, guarded bool) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if guarded {
		r = r.WithContext(authz.WithCaller(r.Context(), authz.Caller{Principal: principal.Principal{Kind: principal.Client, ID: "auditor-1"},
			Roles: []authz.Role{authz.Auditor}, Scopes: []authz.Scope{authz.AuditRead}}))
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// TestAuditAPI: on both engines, the checkpoint, an event's inclusion
// proof (checked with our verifier and the item's own hash) and a
// consistency proof (checked with the upstream merkle verifier against a
// root the auditor saved), and the refusals with their codes.
func TestAuditAPI(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		f := newFixture(t, e)
		w := f.get(t, "/v1/audit/checkpoint", true)
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
			t.Fatalf("checkpoint: %d %s", w.Code, w.Body)
		}
		cp, err := audit.OpenCheckpoint(w.Body.Bytes(), f.key.Verifier())
		if err != nil || cp.Size != 3 {
			t.Fatalf("checkpoint: %+v, %v", cp, err)
		}

		w = f.get(t, "/v1/audit/proof/inclusion?kind=event&ref=ev-1", true)
		if w.Code != 200 {
			t.Fatalf("inclusion: %d %s", w.Code, w.Body)
		}
		it := audit.NewItem(audit.KindEvent, "ev-1", []byte(`{"id":"ev-1"}`))
		if pcp, leaf, pos, err := audit.VerifyItemProof(w.Body.Bytes(), it, f.key.Verifier()); err != nil || leaf != 1 || pos != 0 || pcp.Size != 3 {
			t.Fatalf("the served proof: leaf %d pos %d %+v, %v", leaf, pos, pcp, err)
		}
		other := audit.NewItem(audit.KindEvent, "ev-1", []byte(`{"id":"forged"}`))
		if _, _, _, err := audit.VerifyItemProof(w.Body.Bytes(), other, f.key.Verifier()); err == nil {
			t.Fatal("the proof verified another item")
		}

		old, err := f.st.AuditCheckpointAt(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		w = f.get(t, "/v1/audit/proof/consistency?old=1", true)
		var v auditapi.ConsistencyView
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &v) != nil || v.OldSize != 1 || v.NewSize != 3 {
			t.Fatalf("consistency: %d %s", w.Code, w.Body)
		}
		var hs [][]byte
		for _, s := range v.Hashes {
			h, _ := base64.StdEncoding.DecodeString(s)
			hs = append(hs, h)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, 1, 3, hs, old.Root, cp.Hash); err != nil {
			t.Fatalf("upstream VerifyConsistency: %v", err)
		}
		if v.OldCheckpoint != string(old.Note) {
			t.Fatalf("old_checkpoint %q, want the stored checkpoint of size 1 %q", v.OldCheckpoint, old.Note)
		}

		for _, c := range []struct {
			target string
			status int
			code   string
		}{
			{"/v1/audit/proof/inclusion?kind=event&ref=ev-pending", 404, "audit_item_pending"},
			{"/v1/audit/proof/inclusion?kind=event&ref=nope", 404, "not_found"},
			{"/v1/audit/proof/inclusion?kind=bogus&ref=x", 400, "bad_query"},
			{"/v1/audit/proof/inclusion?kind=event&ref=" + strings.Repeat("x", 600), 400, "bad_query"},
			{"/v1/audit/proof/inclusion?kind=event&ref=" + url.QueryEscape(strings.Repeat("x", 3000)), 400, "bad_query"},
			{"/v1/audit/proof/consistency?old=4", 400, "bad_query"},
			{"/v1/audit/proof/consistency?old=-1", 400, "bad_query"},
		} {
			w := f.get(t, c.target, true)
			if w.Code != c.status || !strings.Contains(w.Body.String(), `"code":"`+c.code+`"`) {
				t.Errorf("%.80s: %d %s, want %d %s", c.target, w.Code, w.Body, c.status, c.code)
			}
		}
	})
}

// TestAttackAuditAPIWithoutGuard: a handler reached without a verified
// caller (wired without the access guard) refuses with 403.
func TestAttackAuditAPIWithoutGuard(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0])
	for _, p := range []string{"/v1/audit/checkpoint", "/v1/audit/proof/inclusion?kind=event&ref=ev-1", "/v1/audit/proof/consistency?old=1"} {
		if w := f.get(t, p, false); w.Code != 403 {
			t.Errorf("%s without a caller: %d %s", p, w.Code, w.Body)
		}
	}
}

// TestAttackAuditAPIForgedCheckpoint: a checkpoint row swapped in the
// database for one not signed by the log key is never served.
func TestAttackAuditAPIForgedCheckpoint(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		f := newFixture(t, e)
		other, err := audit.LoadOrCreateKey(context.Background(), storetest.OpenConfig(t, e.New(t)), sealtest.New(t), "test.invalid/audit", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		forged, err := other.SignCheckpoint(3, make([]byte, sha256.Size))
		if err != nil {
			t.Fatal(err)
		}
		f2 := &auditapi.API{Store: forgedStore{f.st, forged}, Verifier: f.key.Verifier()}
		mux := http.NewServeMux()
		for p, h := range f2.Routes() {
			mux.Handle(p, h)
		}
		f.h = mux
		if w := f.get(t, "/v1/audit/checkpoint", true); w.Code != 500 || strings.Contains(w.Body.String(), "test.invalid") {
			t.Fatalf("a forged checkpoint was served: %d %s", w.Code, w.Body)
		}
	})
}

// recorder records the events emitted.
type recorder struct {
	mu  sync.Mutex
	evs []event.Event
}

func (r *recorder) Emit(_ context.Context, evs ...event.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, evs...)
	return nil
}

// TestAttackAuditAPITamperedNodeConsistencyProof: a node hash edited in
// the database makes the consistency proof built from it wrong; the
// handler checks it against the log's own signed checkpoint of the old
// size and refuses to serve it (500 audit_log_inconsistent, and an event
// naming the sizes), on both engines; so is one missing a deleted node.
func TestAttackAuditAPITamperedNodeConsistencyProof(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		f := newFixtureOn(t, cfg)
		evs := &recorder{}
		a := &auditapi.API{Store: f.st, Verifier: f.key.Verifier(), Events: evs}
		mux := http.NewServeMux()
		for p, h := range a.Routes() {
			mux.Handle(p, h)
		}
		f.h = mux
		if w := f.get(t, "/v1/audit/proof/consistency?old=1", true); w.Code != 200 {
			t.Fatalf("before tampering: %d %s", w.Code, w.Body)
		}
		// The proof from 1 to 3 is leaf 1's hash, then leaf 2's.
		forged := strings.Repeat("ab", sha256.Size)
		storetest.Exec(t, cfg, `UPDATE audit_nodes SET hash=X'`+forged+`' WHERE level=0 AND idx=1`,
			`UPDATE audit_nodes SET hash='\x`+forged+`'::bytea WHERE level=0 AND idx=1`)
		w := f.get(t, "/v1/audit/proof/consistency?old=1", true)
		if w.Code != 500 || !strings.Contains(w.Body.String(), `"code":"audit_log_inconsistent"`) || strings.Contains(w.Body.String(), "hashes") {
			t.Fatalf("a proof from a tampered node: %d %s", w.Code, w.Body)
		}
		// A node of the proof deleted: the same.
		storetest.Exec(t, cfg, `DELETE FROM audit_nodes WHERE level=0 AND idx=2`, `DELETE FROM audit_nodes WHERE level=0 AND idx=2`)
		w = f.get(t, "/v1/audit/proof/consistency?old=1", true)
		if w.Code != 500 || !strings.Contains(w.Body.String(), `"code":"audit_log_inconsistent"`) {
			t.Fatalf("a proof with a deleted node: %d %s", w.Code, w.Body)
		}
		evs.mu.Lock()
		defer evs.mu.Unlock()
		if len(evs.evs) != 2 || evs.evs[0].Code != "audit_log_inconsistent" || evs.evs[0].Attrs["old_size"] != uint64(1) ||
			evs.evs[0].Actor.ID != "auditor-1" || evs.evs[1].Code != "audit_log_inconsistent" {
			t.Fatalf("events: %+v", evs.evs)
		}
	})
}

// forgedStore answers LatestAuditCheckpoint with a note it was given.
type forgedStore struct {
	store.Store
	note []byte
}

func (s forgedStore) LatestAuditCheckpoint(context.Context) (store.AuditCheckpoint, error) {
	return store.AuditCheckpoint{Size: 3, Root: make([]byte, 32), Note: s.note}, nil
}
