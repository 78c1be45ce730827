package authz

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// The fakes: a token verifier that checks the RFC 8705 binding the way the
// real one must (thumbprint of the leaf), a registry with a version
// counter, an event recorder.

func thumbprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(s[:])
}

type fakeVerifier struct {
	mu     sync.Mutex
	tokens map[string]Claims
	errs   map[string]error // a token that fails with this error
}

func (v *fakeVerifier) Verify(_ context.Context, raw string, leaf *x509.Certificate) (Claims, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err, ok := v.errs[raw]; ok {
		return Claims{}, err
	}
	c, ok := v.tokens[raw]
	if !ok {
		return Claims{}, &Error{Code: codes.AccessTokenBadSignature, Detail: "unknown token"}
	}
	if leaf == nil {
		return Claims{}, &Error{Code: codes.AccessTokenUnbound, Detail: "no certificate"}
	}
	if c.Thumbprint != thumbprint(leaf) {
		return Claims{}, &Error{Code: codes.AccessTokenBindingMismatch, Detail: "cnf mismatch"}
	}
	return c, nil
}

type fakeDirectory struct {
	mu       sync.Mutex
	accounts map[principal.Principal]Account
	version  int64
	verErr   error
	calls    int
}

func (d *fakeDirectory) Account(_ context.Context, p principal.Principal) (Account, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	a, ok := d.accounts[p]
	if !ok {
		return Account{}, ErrUnknownPrincipal
	}
	return cloneAccount(a), nil
}

func (d *fakeDirectory) Version(context.Context) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.version, d.verErr
}

// change edits p's account and moves the version, as the store does in
// the transaction of any change of authority.
func (d *fakeDirectory) change(p principal.Principal, f func(*Account)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a := d.accounts[p]
	f(&a)
	d.accounts[p] = a
	d.version++
}

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

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.evs)
}

func (r *recorder) since(n int) []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.evs[n:]...)
}

// identity is a principal with its certificate.
type identity struct {
	p    principal.Principal
	leaf *x509.Certificate
}

func newIdentity(t *testing.T, kind principal.Kind, id string) identity {
	t.Helper()
	p, err := principal.New(kind, id)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 64)
	_, _ = rand.Read(raw)
	u, _ := url.Parse(p.String())
	return identity{p: p, leaf: &x509.Certificate{Raw: raw, URIs: []*url.URL{u}}}
}

// peerOf is the test's Peer: the principal named by the leaf of the
// verified chain, as pki.Peer does.
func peerOf(r *http.Request) (principal.Principal, *x509.Certificate, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return principal.Principal{}, nil, false
	}
	leaf := r.TLS.VerifiedChains[0][0]
	if len(leaf.URIs) != 1 {
		return principal.Principal{}, nil, false
	}
	p, err := principal.ParseURI(leaf.URIs[0].String())
	if err != nil {
		return principal.Principal{}, nil, false
	}
	return p, leaf, true
}

// world is a guarded TMS API: every Policy route behind GuardRoutes, the
// guard reading accounts through a CachedDirectory over a fake registry.
type world struct {
	t        *testing.T
	dir      *fakeDirectory
	cache    *CachedDirectory
	ver      *fakeVerifier
	events   *recorder
	mux      *http.ServeMux
	guard    *Guard
	now      time.Time
	mu       sync.Mutex
	vehicles map[string]string // id → carrier
	revoked  map[*x509.Certificate]bool
	reached  int // requests that reached a handler
	ids      map[string]identity
	n        int
}

type worldOpt func(*GuardConfig)

func newWorld(t *testing.T, opts ...worldOpt) *world {
	t.Helper()
	w := &world{t: t, dir: &fakeDirectory{accounts: map[principal.Principal]Account{}}, ver: &fakeVerifier{tokens: map[string]Claims{}, errs: map[string]error{}},
		events: &recorder{}, now: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC),
		vehicles: map[string]string{"truck-a1": "acme", "truck-a2": "acme", "truck-b1": "bolt", "truck-x": ""},
		revoked:  map[*x509.Certificate]bool{}, ids: map[string]identity{}}
	add := func(kind principal.Kind, id, carrier string, roles ...Role) {
		idn := newIdentity(t, kind, id)
		w.ids[id] = idn
		w.dir.accounts[idn.p] = Account{Principal: idn.p, Active: true, Carrier: carrier, Roles: roles}
	}
	add(principal.Client, "acme-dispatch", "acme", Dispatcher)
	add(principal.Client, "acme-planner", "acme", Planner)
	add(principal.Client, "bolt-dispatch", "bolt", Dispatcher)
	add(principal.Client, "nocarrier", "", Dispatcher)
	add(principal.Operator, "ops", "", Approver, FleetAdmin)
	w.ids["truck"] = newIdentity(t, principal.Vehicle, "truck-a1")

	var err error
	w.cache, err = NewCachedDirectory(CachedDirectoryConfig{}, CachedDirectoryDeps{Directory: w.dir, Version: w.dir.Version,
		Now: w.clock})
	if err != nil {
		t.Fatal(err)
	}
	w.refresh()
	cfg := GuardConfig{RatePerSecond: 1000, RateBurst: 1000}
	for _, o := range opts {
		o(&cfg)
	}
	w.guard, err = NewGuard(cfg, GuardDeps{Peer: peerOf, Verifier: w.ver, Directory: w.cache,
		CertRevoked: func(c *x509.Certificate) bool {
			w.mu.Lock()
			defer w.mu.Unlock()
			return w.revoked[c]
		},
		VehicleCarrier: func(_ context.Context, id string) (string, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			c, ok := w.vehicles[id]
			if !ok {
				return "", ErrUnknownVehicle
			}
			return c, nil
		},
		Events: w.events, Now: w.clock})
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]http.Handler{}
	for pattern := range Policy {
		routes[pattern] = http.HandlerFunc(w.handler)
	}
	for pattern := range Anonymous {
		routes[pattern] = http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusTeapot) })
	}
	guarded, err := GuardRoutes(w.guard, routes)
	if err != nil {
		t.Fatal(err)
	}
	w.mux = http.NewServeMux()
	for p, h := range guarded {
		w.mux.Handle(p, h)
	}
	return w
}

func (w *world) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *world) advance(d time.Duration) {
	w.mu.Lock()
	w.now = w.now.Add(d)
	w.mu.Unlock()
}

// refresh is one poll of the directory.
func (w *world) refresh() {
	w.t.Helper()
	if err := w.cache.Refresh(context.Background()); err != nil {
		w.t.Fatal(err)
	}
}

// callerView is what the test handler answers: the Caller it was given.
type callerView struct {
	Principal string   `json:"principal"`
	Carrier   string   `json:"carrier"`
	Risk      int      `json:"risk"`
	Factors   []string `json:"factors"`
	TokenID   string   `json:"jti"`
}

func (w *world) handler(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	w.reached++
	w.mu.Unlock()
	c, ok := CallerFrom(r.Context())
	if !ok {
		rw.WriteHeader(http.StatusInternalServerError)
		return
	}
	_ = json.NewEncoder(rw).Encode(callerView{Principal: c.Principal.String(), Carrier: c.Carrier, Risk: c.Risk,
		Factors: c.RiskFactors, TokenID: c.TokenID})
}

func (w *world) reachedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reached
}

// token issues a token to id bound to its certificate, with scopes (every
// scope its roles grant when none are given).
func (w *world) token(id string, scopes ...Scope) string {
	w.t.Helper()
	idn, ok := w.ids[id]
	if !ok {
		w.t.Fatalf("no identity %q", id)
	}
	if len(scopes) == 0 {
		acc := w.dir.accounts[idn.p]
		for _, s := range Scopes {
			if Grants(acc.Roles, s) {
				scopes = append(scopes, s)
			}
		}
	}
	w.ver.mu.Lock()
	defer w.ver.mu.Unlock()
	w.n++
	raw := fmt.Sprintf("tok.%s.%d", id, w.n)
	now := w.clock()
	w.ver.tokens[raw] = Claims{Subject: idn.p.String(), ID: fmt.Sprintf("jti-%d", w.n), Scopes: scopes,
		IssuedAt: now, NotBefore: now, Expiry: now.Add(5 * time.Minute), Thumbprint: thumbprint(idn.leaf)}
	return raw
}

// req builds a request from who (nil: no client certificate) with token
// (as a Bearer header when not "").
func req(method, target string, who *identity, token string) *http.Request {
	var body *strings.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{}`)
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = "10.1.2.3:40000"
	if method == http.MethodPost {
		r.Header.Set("Content-Type", "application/json")
	}
	if who != nil {
		r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{who.leaf}}}
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

func (w *world) serve(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	w.mux.ServeHTTP(rec, r)
	return rec
}

// refused serves r and checks that it was refused with status and answer
// code, without reaching a handler, with exactly one event of evCode.
func (w *world) refused(r *http.Request, status int, code, evCode string) (*httptest.ResponseRecorder, event.Event) {
	w.t.Helper()
	before, reached := w.events.len(), w.reachedCount()
	rec := w.serve(r)
	if rec.Code != status {
		w.t.Fatalf("%s %s: status %d, want %d; body %s", r.Method, r.URL, rec.Code, status, rec.Body)
	}
	var b struct{ Code string }
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Code != code {
		w.t.Fatalf("%s %s: answer code %q (%v), want %q", r.Method, r.URL, b.Code, err, code)
	}
	if w.reachedCount() != reached {
		w.t.Fatalf("%s %s: the handler ran", r.Method, r.URL)
	}
	evs := w.events.since(before)
	if len(evs) != 1 {
		w.t.Fatalf("%s %s: %d events, want 1: %+v", r.Method, r.URL, len(evs), evs)
	}
	if evs[0].Code != evCode || evs[0].Verdict != event.Reject {
		w.t.Fatalf("%s %s: event %+v, want code %q, verdict reject", r.Method, r.URL, evs[0], evCode)
	}
	return rec, evs[0]
}

// allowed serves r and checks that it reached the handler.
func (w *world) allowed(r *http.Request) callerView {
	w.t.Helper()
	rec := w.serve(r)
	if rec.Code != http.StatusOK {
		w.t.Fatalf("%s %s: status %d, want 200; body %s", r.Method, r.URL, rec.Code, rec.Body)
	}
	var v callerView
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		w.t.Fatal(err)
	}
	return v
}

func (w *world) as(id string) *identity {
	idn := w.ids[id]
	return &idn
}
