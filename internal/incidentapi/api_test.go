package incidentapi_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/detect"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/incident"
	"github.com/fifthwheel/fifthwheel/internal/incidentapi"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

var ctx = context.Background()

// The callers: an operator security admin, an operator auditor, a TMS
// client given the auditor and security-admin roles anyway (of carrier
// acme), and a client without the scope.
var (
	admin   = principal.Principal{Kind: principal.Operator, ID: "sec"}
	auditor = principal.Principal{Kind: principal.Operator, ID: "aud"}
	client  = principal.Principal{Kind: principal.Client, ID: "acme-tms"}
	planner = principal.Principal{Kind: principal.Client, ID: "plan-tms"}
)

// tokens: the scopes each caller's token carries (what the token endpoint
// would grant its roles), and each caller's live roles.
var callers = map[principal.Principal]struct {
	scopes []authz.Scope
	roles  []authz.Role
	carr   string
}{
	admin:   {[]authz.Scope{authz.IncidentsRead, authz.IncidentsWrite}, []authz.Role{authz.SecurityAdmin}, ""},
	auditor: {[]authz.Scope{authz.IncidentsRead}, []authz.Role{authz.Auditor}, ""},
	client:  {[]authz.Scope{authz.IncidentsRead, authz.IncidentsWrite}, []authz.Role{authz.SecurityAdmin, authz.Auditor}, "acme"},
	planner: {[]authz.Scope{authz.FleetRead}, []authz.Role{authz.Planner}, "acme"},
}

type verifier struct{}

func (verifier) Verify(_ context.Context, raw string, _ *x509.Certificate) (authz.Claims, error) {
	kind, id, _ := strings.Cut(strings.TrimPrefix(raw, "tok."), ".")
	p, err := principal.New(principal.Kind(kind), id)
	c, ok := callers[p]
	if err != nil || !ok {
		return authz.Claims{}, &authz.Error{Code: codes.AccessTokenBadSignature, Detail: "unknown token"}
	}
	return authz.Claims{Subject: p.String(), Scopes: c.scopes, Carrier: c.carr, ID: "jti-" + p.ID}, nil
}

type directory struct{}

func (directory) Account(_ context.Context, p principal.Principal) (authz.Account, error) {
	c, ok := callers[p]
	if !ok {
		return authz.Account{}, authz.ErrUnknownPrincipal
	}
	return authz.Account{Principal: p, Active: true, Carrier: c.carr, Roles: c.roles}, nil
}

type fixture struct {
	st  store.Store
	m   *incident.Manager
	mux *http.ServeMux
	evs *event.MemorySink
	id  string
}

func newFixture(t *testing.T, e storetest.Engine) *fixture {
	t.Helper()
	st := e.Open(t)
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	if err := st.CreateVehicle(ctx, store.Vehicle{ID: "T1", Status: store.VehicleActive, Carrier: "other", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	evs := &event.MemorySink{}
	bus := event.NewBus(nil, nil, evs)
	m, err := incident.New(incident.Config{}, incident.Deps{Store: st, Events: bus})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Report(ctx, detect.Finding{ID: "f1", RuleID: "replay", Title: "a replayed frame", Severity: codes.SeverityHigh, Safety: true,
		SubjectKind: "vehicle", Subject: "T1", At: t0, Count: 1, Runbook: "Check the truck's clock; revoke if replays continue."}); err != nil {
		t.Fatal(err)
	}
	l, _ := m.List(ctx, "", "", 0)
	g, err := authz.NewGuard(authz.GuardConfig{}, authz.GuardDeps{
		Peer: func(r *http.Request) (principal.Principal, *x509.Certificate, bool) {
			p, err := principal.ParseURI(r.Header.Get("X-Test-Peer"))
			return p, &x509.Certificate{Raw: []byte(p.String())}, err == nil
		},
		Verifier: verifier{}, Directory: directory{}, CertRevoked: func(*x509.Certificate) bool { return false },
		VehicleCarrier: func(context.Context, string) (string, error) { return "", authz.ErrUnknownVehicle },
		Events:         bus,
	})
	if err != nil {
		t.Fatal(err)
	}
	api := &incidentapi.API{Incidents: m, Idempotency: st}
	routes, err := authz.GuardRoutes(g, api.Routes())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for p, h := range routes {
		mux.Handle(p, h)
	}
	return &fixture{st: st, m: m, mux: mux, evs: evs, id: l[0].ID}
}

func (f *fixture) do(t *testing.T, as principal.Principal, method, path, key, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = "192.0.2.1:1234"
	r.Header.Set("X-Test-Peer", as.String())
	r.Header.Set("Authorization", "Bearer tok."+string(as.Kind)+"."+as.ID)
	if method == http.MethodPost {
		r.Header.Set("Content-Type", "application/json")
		if key != "" {
			r.Header.Set("Idempotency-Key", key)
		}
	}
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, r)
	return w
}

func problemCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var p struct{ Code string }
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("not a problem: %d %s", w.Code, w.Body)
	}
	return p.Code
}

// TestIncidentAPI: a security admin reads, acknowledges, contains (a
// hold), notes, notifies and resolves; an auditor reads.
func TestIncidentAPI(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		f := newFixture(t, e)
		w := f.do(t, auditor, "GET", "/v1/incidents?state=open", "", "")
		var list incidentapi.List
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &list) != nil || len(list.Incidents) != 1 || list.Incidents[0].ID != f.id {
			t.Fatalf("list: %d %s", w.Code, w.Body)
		}
		w = f.do(t, auditor, "GET", "/v1/incidents/"+f.id, "", "")
		var d incident.Detail
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &d) != nil || len(d.Runbooks) != 1 || len(d.Clocks) != 4 || d.Clocks[0].Status != "pending" {
			t.Fatalf("get: %d %s", w.Code, w.Body)
		}
		for _, step := range []struct{ path, key, body, state string }{
			{"ack", "k1", `{"note":"mine"}`, "acknowledged"},
			{"notes", "k2", `{"text":"called the carrier"}`, "acknowledged"},
			{"notifications", "k3", `{"clock":"customer","channel":"email","recipient":"ops@other.example","reference":"T-1"}`, "acknowledged"},
			{"contain", "k4", `{"action":"hold_commands"}`, "contained"},
			{"resolve", "k5", `{"reason":"truck re-enrolled"}`, "resolved"},
		} {
			w := f.do(t, admin, "POST", "/v1/incidents/"+f.id+"/"+step.path, step.key, step.body)
			if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &d) != nil || d.State != step.state {
				t.Fatalf("%s: %d %s", step.path, w.Code, w.Body)
			}
		}
		// A retry with the same key and body gets the stored answer; the
		// key with another body is refused.
		first := f.do(t, admin, "POST", "/v1/incidents/"+f.id+"/ack", "k1", `{"note":"mine"}`)
		if first.Code != 200 || first.Result().Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry: %d %s", first.Code, first.Body)
		}
		if w := f.do(t, admin, "POST", "/v1/incidents/"+f.id+"/ack", "k1", `{"note":"other"}`); w.Code != 409 || problemCode(t, w) != codes.IdempotencyKeyReused {
			t.Fatalf("key reused: %d %s", w.Code, w.Body)
		}
		if w := f.do(t, admin, "POST", "/v1/incidents/"+f.id+"/ack", "k9", `{}`); w.Code != 409 || problemCode(t, w) != codes.IncidentStateConflict {
			t.Fatalf("ack of a resolved incident: %d %s", w.Code, w.Body)
		}
		if d.Transitions[1].Actor != admin.String() || d.Containment[0].Actor != admin.String() {
			t.Fatalf("actors: %+v %+v", d.Transitions, d.Containment)
		}
		// Pages: a full page carries next_cursor; the next page follows it.
		if err := f.m.Report(ctx, detect.Finding{ID: "f2", RuleID: "replay", SubjectKind: "vehicle", Subject: "T2", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		var p1, p2 incidentapi.List
		if w := f.do(t, auditor, "GET", "/v1/incidents?limit=1", "", ""); w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &p1) != nil ||
			len(p1.Incidents) != 1 || p1.Incidents[0].ID != f.id || p1.NextCursor != f.id {
			t.Fatalf("page 1: %d %s", w.Code, w.Body)
		}
		if w := f.do(t, auditor, "GET", "/v1/incidents?limit=1&cursor="+p1.NextCursor, "", ""); w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &p2) != nil ||
			len(p2.Incidents) != 1 || p2.Incidents[0].Subject != "T2" {
			t.Fatalf("page 2: %d %s", w.Code, w.Body)
		}
	})
}

// TestAttackIncidentAPIAccess: an auditor cannot change an incident; a
// client without the scope gets 403; and a TMS client given the incident
// roles anyway is refused: incidents span carriers and are operators'
// (TestAttackClientReadsAnotherCarriersIncident: the incident is about a
// vehicle of another carrier). Refusals change nothing.
func TestAttackIncidentAPIAccess(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		f := newFixture(t, e)
		for _, c := range []struct {
			name         string
			as           principal.Principal
			method, path string
			status       int
			code         string
		}{
			{"auditor acknowledges", auditor, "POST", "/v1/incidents/" + f.id + "/ack", 403, codes.AccessScopeRequired},
			{"auditor contains", auditor, "POST", "/v1/incidents/" + f.id + "/contain", 403, codes.AccessScopeRequired},
			{"client without the scope lists", planner, "GET", "/v1/incidents", 403, codes.AccessScopeRequired},
			{"client without the scope reads", planner, "GET", "/v1/incidents/" + f.id, 403, codes.AccessScopeRequired},
			{"client with the roles lists", client, "GET", "/v1/incidents", 403, codes.Forbidden},
			{"client with the roles reads another carrier's incident", client, "GET", "/v1/incidents/" + f.id, 403, codes.Forbidden},
			{"client with the roles resolves", client, "POST", "/v1/incidents/" + f.id + "/resolve", 403, codes.Forbidden},
		} {
			w := f.do(t, c.as, c.method, c.path, "k-"+c.as.ID, `{"action":"hold_commands","reason":"x"}`)
			if w.Code != c.status || problemCode(t, w) != c.code {
				t.Errorf("%s: %d %s, want %d %s", c.name, w.Code, w.Body, c.status, c.code)
			}
		}
		v, err := f.m.Get(ctx, f.id)
		if err != nil || v.Incident.State != store.IncidentOpen || len(v.Containment) != 0 || len(v.Transitions) != 1 {
			t.Fatalf("a refusal changed the incident: %+v, %v", v.Incident, err)
		}
		if _, err := f.st.GetVehicleHold(ctx, "T1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a refused contain held the vehicle: %v", err)
		}
	})
}

// TestAttackIncidentAPIBadRequests: malformed bodies, unknown members,
// missing keys, bad queries and unknown ids are refused with their codes.
func TestAttackIncidentAPIBadRequests(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		f := newFixture(t, e)
		p := "/v1/incidents/" + f.id
		for _, c := range []struct {
			name, method, path, key, body string
			status                        int
			code                          string
		}{
			{"no Idempotency-Key", "POST", p + "/ack", "", `{}`, 400, codes.IdempotencyKeyRequired},
			{"unknown member", "POST", p + "/ack", "a1", `{"note":"x","admin":true}`, 400, codes.MalformedRequest},
			{"duplicate member", "POST", p + "/resolve", "a2", `{"reason":"x","reason":"y"}`, 400, codes.MalformedRequest},
			{"unknown action", "POST", p + "/contain", "a3", `{"action":"wipe"}`, 400, codes.IncidentInvalid},
			{"no reason", "POST", p + "/resolve", "a4", `{"reason":""}`, 400, codes.IncidentInvalid},
			{"oversized body", "POST", p + "/notes", "a5", `{"text":"` + strings.Repeat("a", incidentapi.MaxBodyBytes) + `"}`, 413, codes.BodyTooLarge},
			{"unknown incident", "POST", "/v1/incidents/inc-nope/ack", "a6", `{}`, 404, codes.NotFound},
			{"malformed id", "GET", "/v1/incidents/a%20b", "", "", 404, codes.NotFound},
			{"unknown state", "GET", "/v1/incidents?state=lost", "", "", 400, codes.BadQuery},
			{"limit 0", "GET", "/v1/incidents?limit=0", "", "", 400, codes.BadQuery},
			{"unknown query", "GET", "/v1/incidents?carrier=acme", "", "", 400, codes.BadQuery},
		} {
			w := f.do(t, admin, c.method, c.path, c.key, c.body)
			if w.Code != c.status || problemCode(t, w) != c.code {
				t.Errorf("%s: %d %s, want %d %s", c.name, w.Code, bytes.TrimSpace(w.Body.Bytes())[:min(200, w.Body.Len())], c.status, c.code)
			}
		}
		if v, _ := f.m.Get(ctx, f.id); v.Incident.State != store.IncidentOpen || len(v.Notes) != 0 {
			t.Fatalf("a refusal changed the incident: %+v", v.Incident)
		}
	})
}

// TestAttackIncidentAPIWithoutGuard: a handler reached without the guard
// refuses (a route wired by mistake fails closed).
func TestAttackIncidentAPIWithoutGuard(t *testing.T) {
	api := &incidentapi.API{}
	for pattern, h := range api.Routes() {
		method, path, _ := strings.Cut(pattern, " ")
		r := httptest.NewRequest(method, strings.ReplaceAll(path, "{id}", "inc-1"), strings.NewReader("{}"))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 403 {
			t.Errorf("%s without the guard: %d", pattern, w.Code)
		}
	}
}
