package tmsapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
	"github.com/fifthwheel/fifthwheel/internal/tmsapi"
)

const openapiPath = "../../api/openapi.yaml"

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

// spec loads api/openapi.yaml once, validates it as a document, and
// returns a router over it.
func spec(t *testing.T) routers.Router {
	t.Helper()
	specOnce.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromFile(openapiPath)
		if err != nil {
			specErr = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			specErr = fmt.Errorf("api/openapi.yaml is not a valid document: %v", err)
			return
		}
		doc.Servers = nil // match paths on any host
		specRouter, specErr = legacy.NewRouter(doc)
	})
	if specErr != nil {
		t.Fatal(specErr)
	}
	return specRouter
}

// The principals of the tests.
var (
	acmeDispatcher = authz.Caller{Principal: principal.Principal{Kind: principal.Client, ID: "acme-tms"}, Carrier: "acme",
		Roles: []authz.Role{authz.Dispatcher, authz.Planner}, Scopes: []authz.Scope{authz.TendersWrite, authz.DispatchWrite, authz.CommandsRead, authz.CommandsCancel}}
	acmeApprover1 = authz.Caller{Principal: principal.Principal{Kind: principal.Client, ID: "acme-ops-1"}, Carrier: "acme",
		Roles: []authz.Role{authz.Approver}, Scopes: []authz.Scope{authz.CommandsApprove, authz.CommandsRead}}
	acmeApprover2 = authz.Caller{Principal: principal.Principal{Kind: principal.Operator, ID: "ann"},
		Roles: []authz.Role{authz.Approver}, Scopes: []authz.Scope{authz.CommandsApprove, authz.CommandsRead}}
	// acmeNoRole has the scope in its token but no longer the role.
	acmeNoRole = authz.Caller{Principal: principal.Principal{Kind: principal.Client, ID: "acme-ops-2"}, Carrier: "acme",
		Scopes: []authz.Scope{authz.CommandsApprove}}
	globexDispatcher = authz.Caller{Principal: principal.Principal{Kind: principal.Client, ID: "globex-tms"}, Carrier: "globex",
		Roles: []authz.Role{authz.Dispatcher, authz.Approver}, Scopes: []authz.Scope{authz.TendersWrite, authz.DispatchWrite,
			authz.CommandsRead, authz.CommandsCancel, authz.CommandsApprove}}
)

// roles is the approver directory: who holds approver now.
type roles struct {
	mu sync.Mutex
	m  map[principal.Principal]bool
}

func (r *roles) HoldsApprover(_ context.Context, p principal.Principal) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[p], nil
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// env is the API over a fresh store of one engine.
type env struct {
	t      *testing.T
	st     store.Store
	svc    *command.Service
	mux    *http.ServeMux
	clk    *clock
	events *event.MemorySink
	bus    *event.Bus
}

func newEnv(t *testing.T, e storetest.Engine) *env {
	t.Helper()
	st := e.Open(t)
	ctx := context.Background()
	for _, v := range []store.Vehicle{{ID: "TRK-1", Carrier: "acme"}, {ID: "TRK-2", Carrier: "acme"}, {ID: "TRK-9", Carrier: "globex"}} {
		v.Status = store.VehicleActive
		v.CreatedAt = time.Now()
		if err := st.CreateVehicle(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	clk := &clock{t: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)}
	r := &roles{m: map[principal.Principal]bool{acmeApprover1.Principal: true, acmeApprover2.Principal: true,
		acmeDispatcher.Principal: true, globexDispatcher.Principal: true}}
	svc, err := command.New(command.Config{}, command.Deps{Store: st, Approvers: r, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	mem := &event.MemorySink{}
	bus := event.NewBus(nil, nil, mem)
	api, err := tmsapi.New(tmsapi.Deps{Store: st, Commands: svc, Events: bus, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for p, h := range api.Routes() {
		mux.Handle(p, h)
	}
	return &env{t: t, st: st, svc: svc, mux: mux, clk: clk, events: mem, bus: bus}
}

// call is one request of a test.
type call struct {
	caller  authz.Caller
	method  string
	path    string
	key     string // Idempotency-Key; "-" sends none
	body    string
	header  map[string]string
	invalid bool // the request breaks the contract on purpose: the validator must refuse it too
}

// resp is an answer.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

func (r resp) code(t *testing.T) string {
	t.Helper()
	c, _ := r.json(t)["code"].(string)
	return c
}

// do serves c with the caller in the context, as the guard would put it,
// and validates the request and the response against api/openapi.yaml.
func (e *env) do(c call) resp {
	t := e.t
	t.Helper()
	if c.method == "" {
		c.method = http.MethodPost
	}
	newReq := func() *http.Request {
		r := httptest.NewRequest(c.method, "https://localhost:8443"+c.path, strings.NewReader(c.body))
		if c.body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		if c.method == http.MethodPost && c.key != "-" {
			r.Header.Set("Idempotency-Key", c.key)
		}
		for k, v := range c.header {
			r.Header.Set(k, v)
		}
		return r
	}
	ctx := context.Background()
	vr := newReq()
	route, params, err := spec(t).FindRoute(vr)
	if err != nil {
		t.Fatalf("%s %s: no route in api/openapi.yaml: %v", c.method, c.path, err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route, Options: opts}
	err = openapi3filter.ValidateRequest(ctx, in)
	switch {
	case c.invalid && err == nil:
		t.Errorf("%s %s: the request should break api/openapi.yaml but validates", c.method, c.path)
	case !c.invalid && err != nil:
		t.Errorf("%s %s: the request does not validate against api/openapi.yaml: %v", c.method, c.path, err)
	}

	r := newReq().WithContext(authz.WithCaller(ctx, c.caller))
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	out := resp{status: w.Code, header: w.Header(), body: w.Body.Bytes()}

	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: out.status, Header: out.header,
		Body: io.NopCloser(bytes.NewReader(out.body)), Options: opts}
	if err := openapi3filter.ValidateResponse(ctx, rin); err != nil {
		t.Errorf("%s %s: the %d response does not validate against api/openapi.yaml: %v\n%s", c.method, c.path, out.status, err, out.body)
	}
	return out
}

// want fails the test unless r has status and, for a problem, code.
func want(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if code != "" {
		if got := r.code(t); got != code {
			t.Fatalf("code %q, want %q: %s", got, code, r.body)
		}
	}
}

// tenderBody is a valid tender of acme; hazmat adds a UN1203 line.
func tenderBody(id string, hazmat bool, grossKg float64) string {
	h := ""
	if hazmat {
		h = `,"hazmat":[{"un_number":"UN1203","class":"3","packing_group":"II","proper_shipping_name":"Gasoline"}]`
	}
	return fmt.Sprintf(`{"tender_id":%q,"purpose":"original","references":{"bill_of_lading":"BOL-1","po":"PO-7"},"carrier":{"scac":"ACME"},`+
		`"equipment":"tanker","stops":[`+
		`{"sequence":1,"type":"pickup","facility":{"name":"Refinery","address":"1 Main St, Houston TX","lat":29.7,"lon":-95.3,"tz":"America/Chicago"},"window":{"start":"2026-12-06T08:00:00Z","end":"2026-12-06T10:00:00Z"}},`+
		`{"sequence":2,"type":"delivery","facility":{"name":"Depot","address":"2 Elm St, Dallas TX","lat":32.7,"lon":-96.8,"tz":"America/Chicago"},"window":{"start":"2026-12-06T16:00:00Z","end":"2026-12-06T18:00:00Z"}}],`+
		`"weights":{"gross_kg":%v}%s,"respond_by":"2026-12-05T18:00:00Z"}`, id, grossKg, h)
}

// dispatchBody dispatches tender to vehicle on a route without a handoff
// point; handoffDispatchBody's route hands the load over at a hub.
func dispatchBody(tender, vehicle string) string {
	return fmt.Sprintf(`{"tender_id":%q,"vehicle_id":%q,"route":{"waypoints":[{"seq":1,"lat":29.7,"lon":-95.3,"name":"start"},`+
		`{"seq":2,"lat":31.0,"lon":-96.0,"name":"hub"},{"seq":3,"lat":32.7,"lon":-96.8}]}}`, tender, vehicle)
}

func handoffDispatchBody(tender, vehicle string) string {
	return fmt.Sprintf(`{"tender_id":%q,"vehicle_id":%q,"route":{"waypoints":[{"seq":1,"lat":29.7,"lon":-95.3,"name":"start"},`+
		`{"seq":2,"lat":31.0,"lon":-96.0,"name":"hub","handoff":true},{"seq":3,"lat":32.7,"lon":-96.8}]}}`, tender, vehicle)
}

// tender stores an accepted tender of acme.
func (e *env) tender(id string, hazmat bool) {
	e.t.Helper()
	r := e.do(call{caller: acmeDispatcher, path: "/v1/tenders", key: "tender-" + id, body: tenderBody(id, hazmat, 12000)})
	want(e.t, r, http.StatusCreated, "")
	if a := r.json(e.t)["answer"]; a != "accept" {
		e.t.Fatalf("tender answer %v: %s", a, r.body)
	}
}

// dispatch dispatches tender on vehicle as acme's dispatcher and returns
// the command id.
func (e *env) dispatch(tender, vehicle string) string {
	e.t.Helper()
	r := e.do(call{caller: acmeDispatcher, path: "/v1/dispatches", key: "dispatch-" + tender, body: dispatchBody(tender, vehicle)})
	want(e.t, r, http.StatusAccepted, "")
	return r.json(e.t)["id"].(string)
}

func (e *env) approve(c authz.Caller, id, key string) resp {
	return e.do(call{caller: c, path: "/v1/commands/" + id + "/approvals", key: key})
}

func (e *env) get(c authz.Caller, id string) resp {
	return e.do(call{caller: c, method: http.MethodGet, path: "/v1/commands/" + id})
}

func (e *env) state(id string) store.CommandState {
	e.t.Helper()
	c, err := e.st.GetCommand(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.State
}

// count returns how many events with code were recorded.
func (e *env) count(code string) int {
	n := 0
	for _, ev := range e.events.Events() {
		if ev.Code == code {
			n++
		}
	}
	return n
}
