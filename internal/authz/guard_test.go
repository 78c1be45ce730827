package authz

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

func TestGuardAdmitsAndSetsCaller(t *testing.T) {
	w := newWorld(t)
	tok := w.token("acme-dispatch")
	v := w.allowed(req("GET", "/v1/vehicles/truck-a1/state", w.as("acme-dispatch"), tok))
	if v.Principal != "urn:fifthwheel:client:acme-dispatch" || v.Carrier != "acme" || v.TokenID == "" {
		t.Fatalf("caller %+v", v)
	}
	w.allowed(req("POST", "/v1/dispatches", w.as("acme-dispatch"), tok))
	// An operator sees every carrier.
	w.allowed(req("GET", "/v1/vehicles/truck-b1/state", w.as("ops"), w.token("ops")))
	w.allowed(req("POST", "/v1/commands/c-1/approvals", w.as("ops"), w.token("ops")))
	// The anonymous routes are not guarded.
	if rec := w.serve(req("GET", "/.well-known/jwks.json", nil, "")); rec.Code != http.StatusTeapot {
		t.Fatalf("jwks: %d", rec.Code)
	}
	if n := w.events.len(); n != 0 {
		t.Fatalf("%d events for admitted requests", n)
	}
}

func TestAttackTokenWithoutMTLS(t *testing.T) {
	w := newWorld(t)
	tok := w.token("acme-dispatch")
	_, ev := w.refused(req("GET", "/v1/fleet/state", nil, tok), http.StatusForbidden,
		codes.ClientCertificateRequired, codes.ClientCertificateRequired)
	if ev.Source != "10.1.2.3" || !ev.Actor.IsZero() {
		t.Fatalf("event of a peer that proved nothing: source %q actor %v (want aggregated by source)", ev.Source, ev.Actor)
	}
}

func TestAttackVehicleCertificateOnTMSRoute(t *testing.T) {
	w := newWorld(t)
	w.refused(req("GET", "/v1/fleet/state", w.as("truck"), "x"), http.StatusForbidden, codes.Forbidden, codes.Forbidden)
}

func TestAttackTokenOfAnotherClient(t *testing.T) {
	w := newWorld(t)
	tokA := w.token("acme-dispatch")
	rec, ev := w.refused(req("GET", "/v1/fleet/state", w.as("bolt-dispatch"), tokA), http.StatusUnauthorized,
		codes.AccessTokenInvalid, codes.AccessTokenBindingMismatch)
	if ev.Actor != w.ids["bolt-dispatch"].p {
		t.Fatalf("event actor %v, want the certificate's principal", ev.Actor)
	}
	if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
		t.Fatalf("WWW-Authenticate %q", got)
	}
}

// A token that verifies (bound to this certificate) but names another
// principal: the guard's own check that sub is the certificate's.
func TestAttackTokenSubjectNotCertificatePrincipal(t *testing.T) {
	w := newWorld(t)
	tok := w.token("acme-planner")
	c := w.ver.tokens[tok]
	c.Subject = w.ids["acme-dispatch"].p.String()
	w.ver.tokens[tok] = c
	w.refused(req("POST", "/v1/dispatches", w.as("acme-planner"), tok), http.StatusUnauthorized,
		codes.AccessTokenInvalid, codes.AccessTokenBindingMismatch)
}

// Every token failure gets the same answer, byte for byte; only the event
// says which check failed.
func TestAttackTokenFailuresLookAlike(t *testing.T) {
	w := newWorld(t)
	idn := w.as("acme-dispatch")
	good := w.token("acme-dispatch")
	failing := []string{codes.AccessTokenMalformed, codes.AccessTokenTooLarge, codes.AccessTokenAlgNotAllowed,
		codes.AccessTokenUnknownKID, codes.AccessTokenBadSignature, codes.AccessTokenExpired, codes.AccessTokenNotYetValid,
		codes.AccessTokenWrongIssuer, codes.AccessTokenWrongAudience, codes.AccessTokenClaimsInvalid, codes.AccessTokenUnbound,
		codes.AccessTokenBindingMismatch}
	type tc struct {
		name   string
		r      *http.Request
		evCode string
	}
	var cases []tc
	for _, c := range failing {
		raw := "bad." + c
		w.ver.errs[raw] = &Error{Code: c, Detail: "the verifier's detail for " + c}
		cases = append(cases, tc{"verifier_" + c, req("GET", "/v1/fleet/state", idn, raw), c})
	}
	inQuery := req("GET", "/v1/fleet/state?access_token="+good, idn, good)
	onlyQuery := req("GET", "/v1/fleet/state?access_token="+good, idn, "")
	formBody := req("POST", "/v1/dispatches", idn, good)
	formBody.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	formBody.URL.Path = "/v1/fleet/state"
	formBody.Method = "GET"
	twoHeaders := req("GET", "/v1/fleet/state", idn, good)
	twoHeaders.Header.Add("Authorization", "Bearer "+good)
	syntax := req("GET", "/v1/fleet/state", idn, "")
	syntax.Header.Set("Authorization", "Bearer a b")
	huge := req("GET", "/v1/fleet/state", idn, strings.Repeat(".", 10_000))
	cases = append(cases,
		tc{"token_in_query_and_header", inQuery, codes.AccessTokenMalformed},
		tc{"token_in_query_only", onlyQuery, codes.AccessTokenMalformed},
		tc{"form_body", formBody, codes.AccessTokenMalformed},
		tc{"two_authorization_headers", twoHeaders, codes.AccessTokenMalformed},
		tc{"not_b64token", syntax, codes.AccessTokenMalformed},
		tc{"ten_thousand_dots", huge, codes.AccessTokenTooLarge},
	)
	var first []byte
	var firstHdr http.Header
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, _ := w.refused(c.r, http.StatusUnauthorized, codes.AccessTokenInvalid, c.evCode)
			if strings.Contains(rec.Body.String(), c.evCode) || strings.Contains(rec.Body.String(), "verifier") {
				t.Fatalf("the answer leaks the reason: %s", rec.Body)
			}
			body := bytes.ReplaceAll(rec.Body.Bytes(), []byte(c.r.URL.Path), []byte("PATH"))
			if first == nil {
				first, firstHdr = body, rec.Header()
				return
			}
			if !bytes.Equal(body, first) {
				t.Fatalf("body %s differs from %s", body, first)
			}
			if !equalHeaders(rec.Header(), firstHdr) {
				t.Fatalf("headers %v differ from %v", rec.Header(), firstHdr)
			}
		})
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestMissingTokenAnswer(t *testing.T) {
	w := newWorld(t)
	rec, _ := w.refused(req("GET", "/v1/fleet/state", w.as("acme-dispatch"), ""), http.StatusUnauthorized,
		codes.AccessTokenMissing, codes.AccessTokenMissing)
	if got := rec.Header().Get("WWW-Authenticate"); got != "Bearer" {
		t.Fatalf("WWW-Authenticate %q: RFC 6750 §3.1 wants no error code without credentials", got)
	}
	basic := req("GET", "/v1/fleet/state", w.as("acme-dispatch"), "")
	basic.Header.Set("Authorization", "Basic YTpi")
	w.refused(basic, http.StatusUnauthorized, codes.AccessTokenMissing, codes.AccessTokenMissing)
}

func TestVerifierUnavailableIs503(t *testing.T) {
	w := newWorld(t)
	w.ver.errs["k"] = &Error{Code: codes.TokenKeyUnavailable, Detail: "no key"}
	rec, _ := w.refused(req("GET", "/v1/fleet/state", w.as("acme-dispatch"), "k"), http.StatusServiceUnavailable,
		codes.TokenKeyUnavailable, codes.TokenKeyUnavailable)
	if rec.Header().Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	w.ver.errs["x"] = errors.New("a verifier bug")
	w.refused(req("GET", "/v1/fleet/state", w.as("acme-dispatch"), "x"), http.StatusInternalServerError,
		codes.Internal, codes.Internal)
}

// A suspended client's unexpired token stops working at the first poll
// after the store's authority version moves (the suspension's
// transaction moves it), not at the token's expiry.
func TestAttackSuspendedClientUnexpiredToken(t *testing.T) {
	w := newWorld(t)
	tok := w.token("acme-dispatch")
	r := func() *http.Request { return req("GET", "/v1/fleet/state", w.as("acme-dispatch"), tok) }
	w.allowed(r())
	w.dir.change(w.ids["acme-dispatch"].p, func(a *Account) { a.Active = false })
	w.refresh() // one poll
	w.refused(r(), http.StatusUnauthorized, codes.AccessTokenPrincipalInactive, codes.AccessTokenPrincipalInactive)
	// Resumed: works again after the next poll.
	w.dir.change(w.ids["acme-dispatch"].p, func(a *Account) { a.Active = true })
	w.refresh()
	w.allowed(r())
}

// A client guessing at tokens, then suspended: each refusal's event
// carries the score of what came before it (the partial score of
// Risk.Peek, marked risk_partial: these refusals come before the full
// score, which needs a verified token and an active account).
func TestAttackTokenGuessingScoredOnEachRefusal(t *testing.T) {
	w := newWorld(t)
	idn := w.as("acme-dispatch")
	tok := w.token("acme-dispatch")
	w.allowed(req("GET", "/v1/fleet/state", idn, tok))
	for i := range 3 {
		_, ev := w.refused(req("GET", "/v1/fleet/state", idn, "forged"), http.StatusUnauthorized, codes.AccessTokenInvalid,
			codes.AccessTokenBadSignature)
		if want := min(i*DefaultRiskFailureWeight, DefaultRiskFailureCap); ev.Attrs["risk"] != want || ev.Attrs["risk_partial"] != true {
			t.Fatalf("forged token %d: event attrs %v, want risk %d, partial", i+1, ev.Attrs, want)
		}
	}
	w.dir.change(idn.p, func(a *Account) { a.Active = false })
	w.refresh()
	_, ev := w.refused(req("GET", "/v1/fleet/state", idn, tok), http.StatusUnauthorized, codes.AccessTokenPrincipalInactive,
		codes.AccessTokenPrincipalInactive)
	if factors, _ := ev.Attrs["risk_factors"].([]string); ev.Attrs["risk"] != 3*DefaultRiskFailureWeight ||
		!slices.Contains(factors, RiskFactorFailures) {
		t.Fatalf("suspended: event attrs %v, want the three failures' risk", ev.Attrs)
	}
}

// The cache is what the version protects: without a version move, the
// cached account answers (so the test above fails if the version check
// is taken out).
func TestDirectoryServesCacheWhileVersionStands(t *testing.T) {
	w := newWorld(t)
	tok := w.token("acme-dispatch")
	w.allowed(req("GET", "/v1/fleet/state", w.as("acme-dispatch"), tok))
	w.dir.mu.Lock()
	a := w.dir.accounts[w.ids["acme-dispatch"].p]
	a.Active = false
	w.dir.accounts[w.ids["acme-dispatch"].p] = a // no version move
	calls := w.dir.calls
	w.dir.mu.Unlock()
	w.refresh()
	w.allowed(req("GET", "/v1/fleet/state", w.as("acme-dispatch"), tok))
	if w.dir.calls != calls {
		t.Fatalf("the registry was read %d more times with the version standing", w.dir.calls-calls)
	}
}

// Notify (PostgreSQL NOTIFY) refreshes at once, whatever the poll.
func TestAttackSuspendedClientRefusedOnNotify(t *testing.T) {
	w := newWorld(t)
	d, err := NewCachedDirectory(CachedDirectoryConfig{Poll: 9 * time.Second, MaxAge: 10 * time.Second},
		CachedDirectoryDeps{Directory: w.dir, Version: w.dir.Version})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	p := w.ids["acme-dispatch"].p
	// Generous margin (no timing is asserted): the first read is at once.
	waitFor(t, func() bool { a, err := d.Account(ctx, p); return err == nil && a.Active })
	w.dir.change(p, func(a *Account) { a.Active = false })
	d.Notify()
	waitFor(t, func() bool { a, err := d.Account(ctx, p); return err == nil && !a.Active })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAttackRoleRemovedMidToken(t *testing.T) {
	w := newWorld(t)
	tok := w.token("acme-dispatch") // carries dispatch:write
	r := func() *http.Request { return req("POST", "/v1/dispatches", w.as("acme-dispatch"), tok) }
	w.allowed(r())
	w.dir.change(w.ids["acme-dispatch"].p, func(a *Account) { a.Roles = []Role{Planner} })
	w.refresh()
	w.refused(r(), http.StatusForbidden, codes.AccessRoleRequired, codes.AccessRoleRequired)
	// Reads its planner role grants still work with the same token.
	w.allowed(req("GET", "/v1/fleet/state", w.as("acme-dispatch"), tok))
}

func TestAttackPlannerCallsApproverRoute(t *testing.T) {
	w := newWorld(t)
	// A token with the scope (issued when it held the role, or forged
	// scope by a verifier bug): the live role decides.
	withScope := w.token("acme-planner", FleetRead, CommandsApprove)
	w.refused(req("POST", "/v1/commands/c-1/approvals", w.as("acme-planner"), withScope), http.StatusForbidden,
		codes.AccessRoleRequired, codes.AccessRoleRequired)
	// An honest planner token lacks the scope.
	rec, _ := w.refused(req("POST", "/v1/commands/c-1/approvals", w.as("acme-planner"), w.token("acme-planner")),
		http.StatusForbidden, codes.AccessScopeRequired, codes.AccessScopeRequired)
	if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer error="insufficient_scope", scope="commands:approve"` {
		t.Fatalf("WWW-Authenticate %q", got)
	}
}

// Client of carrier A reading carrier B's truck: 404, the same answer as
// an unknown id, on every carrier-scoped route; the event says why.
func TestAttackOtherCarrierVehicle(t *testing.T) {
	for pattern, rt := range Policy {
		if !rt.CarrierScoped {
			continue
		}
		t.Run(pattern, func(t *testing.T) {
			w := newWorld(t)
			method, path, _ := strings.Cut(pattern, " ")
			path = strings.NewReplacer("{id}", "truck-b1", "{epoch}", "1", "{seq}", "2").Replace(path)
			tok := w.token("acme-dispatch", Scopes...)
			w.dir.change(w.ids["acme-dispatch"].p, func(a *Account) { a.Roles = Roles })
			w.refresh()
			other, ev := w.refused(req(method, path, w.as("acme-dispatch"), tok), http.StatusNotFound, codes.NotFound,
				codes.AccessOtherCarrier)
			if ev.Resource != "urn:fifthwheel:vehicle:truck-b1" {
				t.Fatalf("event resource %q", ev.Resource)
			}
			w.mu.Lock()
			delete(w.vehicles, "truck-b1")
			w.mu.Unlock()
			unknown, _ := w.refused(req(method, path, w.as("acme-dispatch"), tok), http.StatusNotFound, codes.NotFound,
				codes.NotFound)
			if !bytes.Equal(other.Body.Bytes(), unknown.Body.Bytes()) || !equalHeaders(other.Header(), unknown.Header()) {
				t.Fatalf("another carrier's vehicle is told apart from an unknown one:\n%v %s\n%v %s",
					other.Header(), other.Body, unknown.Header(), unknown.Body)
			}
			// Its own carrier's vehicle passes.
			own := strings.Replace(path, "truck-b1", "truck-a1", 1)
			w.allowed(req(method, own, w.as("acme-dispatch"), tok))
		})
	}
}

func TestCarrierScope(t *testing.T) {
	w := newWorld(t)
	// A client without a carrier sees no vehicle, not even one without.
	tok := w.token("nocarrier")
	for _, v := range []string{"truck-a1", "truck-x"} {
		w.refused(req("GET", "/v1/vehicles/"+v+"/state", w.as("nocarrier"), tok), http.StatusNotFound, codes.NotFound,
			codes.AccessOtherCarrier)
	}
	// An operator sees every vehicle.
	for _, v := range []string{"truck-a1", "truck-b1", "truck-x"} {
		w.allowed(req("GET", "/v1/vehicles/"+v+"/state", w.as("ops"), w.token("ops")))
	}
	// A malformed id is refused before the registry is asked.
	w.refused(req("GET", "/v1/vehicles/-x/state", w.as("ops"), w.token("ops")), http.StatusBadRequest,
		codes.BadVehicleID, codes.BadVehicleID)
}

func TestCallerMaySee(t *testing.T) {
	op := principal.Principal{Kind: principal.Operator, ID: "o"}
	cl := principal.Principal{Kind: principal.Client, ID: "c"}
	for _, c := range []struct {
		caller  Caller
		carrier string
		want    bool
	}{
		{Caller{Principal: op}, "acme", true},
		{Caller{Principal: op}, "", true},
		{Caller{Principal: op, Carrier: "acme"}, "bolt", false},
		{Caller{Principal: cl, Carrier: "acme"}, "acme", true},
		{Caller{Principal: cl, Carrier: "acme"}, "bolt", false},
		{Caller{Principal: cl, Carrier: "acme"}, "", false},
		{Caller{Principal: cl}, "", false},
		{Caller{Principal: cl}, "acme", false},
		{Caller{}, "", false},
	} {
		if got := c.caller.MaySee(c.carrier); got != c.want {
			t.Errorf("%+v.MaySee(%q) = %v", c.caller, c.carrier, got)
		}
	}
}

func TestAttackRevokedCertificateUnexpiredToken(t *testing.T) {
	w := newWorld(t)
	tok := w.token("acme-dispatch")
	w.allowed(req("GET", "/v1/fleet/state", w.as("acme-dispatch"), tok))
	w.mu.Lock()
	w.revoked[w.ids["acme-dispatch"].leaf] = true
	w.mu.Unlock()
	w.refused(req("GET", "/v1/fleet/state", w.as("acme-dispatch"), tok), http.StatusUnauthorized,
		codes.AccessTokenPrincipalInactive, codes.AccessTokenPrincipalInactive)
}

func TestAttackUnknownPrincipal(t *testing.T) {
	w := newWorld(t)
	tok := w.token("acme-dispatch")
	w.dir.mu.Lock()
	delete(w.dir.accounts, w.ids["acme-dispatch"].p)
	w.dir.version++
	w.dir.mu.Unlock()
	w.refresh()
	w.refused(req("GET", "/v1/fleet/state", w.as("acme-dispatch"), tok), http.StatusUnauthorized,
		codes.AccessTokenPrincipalInactive, codes.AccessTokenPrincipalInactive)
}

func TestAttackSourceOutsideAllowList(t *testing.T) {
	w := newWorld(t)
	w.dir.change(w.ids["acme-dispatch"].p, func(a *Account) {
		a.AllowedSources = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	})
	w.refresh()
	tok := w.token("acme-dispatch")
	for _, addr := range []string{"10.1.2.3:1", "[::ffff:10.9.9.9]:2", "[2001:db8::1]:3"} {
		r := req("GET", "/v1/fleet/state", w.as("acme-dispatch"), tok)
		r.RemoteAddr = addr
		w.allowed(r)
	}
	for _, addr := range []string{"192.0.2.7:1234", "[2001:db9::1]:3", "garbage"} {
		r := req("GET", "/v1/fleet/state", w.as("acme-dispatch"), tok)
		r.RemoteAddr = addr
		r.Header.Set("X-Forwarded-For", "10.1.2.3") // never trusted
		w.refused(r, http.StatusForbidden, codes.AccessSourceNotAllowed, codes.AccessSourceNotAllowed)
	}
}

func TestAttackRateLimit(t *testing.T) {
	w := newWorld(t, func(c *GuardConfig) { c.RatePerSecond, c.RateBurst = 0.01, 2 })
	tok := w.token("acme-dispatch")
	r := func() *http.Request { return req("GET", "/v1/fleet/state", w.as("acme-dispatch"), tok) }
	w.allowed(r())
	w.allowed(r())
	rec, ev := w.refused(r(), http.StatusTooManyRequests, codes.AccessRateLimited, codes.AccessRateLimited)
	if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	if ev.Actor != w.ids["acme-dispatch"].p {
		t.Fatalf("event actor %v", ev.Actor)
	}
	// Another client's bucket is its own.
	w.allowed(req("GET", "/v1/fleet/state", w.as("bolt-dispatch"), w.token("bolt-dispatch")))
}

// A risky request may still read, but not act: failures (three refused
// tokens: 45) and a request outside the client's hours (20) make 65 > 50.
func TestAttackRiskAboveThresholdDeniesControl(t *testing.T) {
	w := newWorld(t)
	idn := w.as("acme-dispatch")
	tok := w.token("acme-dispatch")
	if v := w.allowed(req("POST", "/v1/dispatches", idn, tok)); v.Risk != 0 {
		t.Fatalf("baseline risk %d", v.Risk)
	}
	w.dir.change(idn.p, func(a *Account) { a.Hours = Hours{From: 8 * 60, To: 10 * 60} }) // now is 12:00
	w.refresh()
	v := w.allowed(req("POST", "/v1/dispatches", idn, tok))
	if v.Risk != DefaultRiskOffHoursWeight {
		t.Fatalf("outside hours alone: risk %d, want %d and allowed", v.Risk, DefaultRiskOffHoursWeight)
	}
	for range 3 {
		w.refused(req("GET", "/v1/fleet/state", idn, "forged"), http.StatusUnauthorized, codes.AccessTokenInvalid,
			codes.AccessTokenBadSignature)
	}
	_, ev := w.refused(req("POST", "/v1/dispatches", idn, tok), http.StatusForbidden, codes.AccessRiskTooHigh,
		codes.AccessRiskTooHigh)
	if ev.Attrs["risk"] != 65 {
		t.Fatalf("event risk %v, want 65", ev.Attrs["risk"])
	}
	v = w.allowed(req("GET", "/v1/vehicles/truck-a1/state", idn, tok))
	if v.Risk != 65 || !slices.Contains(v.Factors, RiskFactorFailures) || !slices.Contains(v.Factors, RiskFactorOffHours) {
		t.Fatalf("read: caller %+v, want risk 65 with its factors", v)
	}
	// The failures age out of the window; the control route opens again.
	w.advance(DefaultRiskWindow + time.Minute)
	w.refresh()
	w.allowed(req("POST", "/v1/dispatches", idn, tok))
}

func TestAttackMissingPolicyEntryRefusedAtStartup(t *testing.T) {
	w := newWorld(t)
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Fatal("reached") })
	_, err := GuardRoutes(w.guard, map[string]http.Handler{"GET /v1/fleet/state": ok, "GET /v1/secret": ok,
		"DELETE /v1/vehicles/{id}": ok})
	if !errors.Is(err, ErrNoPolicy) || !strings.Contains(err.Error(), "GET /v1/secret") ||
		!strings.Contains(err.Error(), "DELETE /v1/vehicles/{id}") {
		t.Fatalf("err %v", err)
	}
	// Wrapped anyway, it refuses every request.
	h := w.guard.Wrap("GET /v1/secret", ok)
	rec := httptestServe(h, req("GET", "/v1/secret", w.as("ops"), w.token("ops")))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.Code)
	}
}

func TestDirectoryUnavailableFailsClosed(t *testing.T) {
	w := newWorld(t)
	tok := w.token("acme-dispatch")
	r := func() *http.Request { return req("GET", "/v1/fleet/state", w.as("acme-dispatch"), tok) }
	w.allowed(r())
	w.dir.mu.Lock()
	w.dir.verErr = errors.New("store down")
	w.dir.mu.Unlock()
	if err := w.cache.Refresh(context.Background()); err == nil {
		t.Fatal("no error")
	}
	w.allowed(r()) // inside the max age
	w.advance(DefaultDirectoryMaxAge + time.Millisecond)
	rec, _ := w.refused(r(), http.StatusServiceUnavailable, codes.StoreUnavailable, codes.StoreUnavailable)
	if rec.Header().Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	// Unreadable vehicle registry: 503 as well.
	w.dir.mu.Lock()
	w.dir.verErr = nil
	w.dir.mu.Unlock()
	w.refresh()
	w.guard.deps.VehicleCarrier = func(context.Context, string) (string, error) { return "", errors.New("down") }
	w.refused(req("GET", "/v1/vehicles/truck-a1/state", w.as("acme-dispatch"), tok), http.StatusServiceUnavailable,
		codes.StoreUnavailable, codes.StoreUnavailable)
}

func TestDirectoryConfig(t *testing.T) {
	dir := &fakeDirectory{}
	deps := CachedDirectoryDeps{Directory: dir, Version: dir.Version}
	for _, c := range []CachedDirectoryConfig{{Poll: time.Hour}, {Poll: time.Millisecond}, {MaxAge: time.Minute}, {MaxEntries: -1}} {
		if _, err := NewCachedDirectory(c, deps); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := NewCachedDirectory(CachedDirectoryConfig{}, CachedDirectoryDeps{Directory: dir}); err == nil {
		t.Error("no Version accepted")
	}
}

func TestDirectoryBeforeFirstRead(t *testing.T) {
	dir := &fakeDirectory{accounts: map[principal.Principal]Account{}}
	d, err := NewCachedDirectory(CachedDirectoryConfig{}, CachedDirectoryDeps{Directory: dir, Version: dir.Version})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Account(context.Background(), principal.Principal{Kind: principal.Client, ID: "a"}); !errors.Is(err, ErrDirectoryStale) {
		t.Fatalf("err %v before any version read", err)
	}
}

func TestGuardConfigRefusesNoLimit(t *testing.T) {
	w := newWorld(t)
	deps := w.guard.deps
	if _, err := NewGuard(GuardConfig{RatePerSecond: -1}, deps); err == nil {
		t.Fatal("a negative rate was accepted")
	}
	deps.CertRevoked = nil
	if _, err := NewGuard(GuardConfig{}, deps); err == nil {
		t.Fatal("a guard without CertRevoked was built")
	}
}
