package authz

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
	"github.com/fifthwheel/fifthwheel/internal/ratelimit"
)

// TokenVerifier verifies an access token presented on a connection whose
// verified client certificate is leaf. Its error is an *Error with an
// access_token_* code (or token_key_unavailable when it cannot decide).
type TokenVerifier interface {
	Verify(ctx context.Context, raw string, leaf *x509.Certificate) (Claims, error)
}

// ErrUnknownVehicle is what a VehicleCarrier returns for a vehicle the
// registry does not hold.
var ErrUnknownVehicle = errors.New("authz: unknown vehicle")

// GuardConfig sets the guard's front door; zero fields take the defaults
// of guard_limits.go. Data only.
type GuardConfig struct {
	// RatePerSecond and RateBurst are each client's token bucket;
	// RateMaxKeys bounds the buckets held.
	RatePerSecond float64
	RateBurst     int
	RateMaxKeys   int
	// Risk sets the risk score and its threshold.
	Risk RiskConfig
}

// GuardDeps are the guard's collaborators. All are required but
// RequestID, Now and Log.
type GuardDeps struct {
	// Peer returns the principal and the leaf of the request's verified
	// client certificate chain (VerifiedChains[0][0]), or false.
	Peer func(*http.Request) (principal.Principal, *x509.Certificate, bool)
	// Verifier verifies access tokens and their certificate binding.
	Verifier TokenVerifier
	// Directory reads live accounts; normally a *CachedDirectory.
	Directory Directory
	// CertRevoked reports whether a certificate is revoked. It must answer
	// true when it cannot tell (revocation data too old): fail closed.
	CertRevoked func(*x509.Certificate) bool
	// VehicleCarrier returns the carrier of a registered vehicle ("" when
	// it has none), ErrUnknownVehicle for one the registry does not hold,
	// or another error (503, fail closed).
	VehicleCarrier func(ctx context.Context, id string) (carrier string, err error)
	// Events records one event per refusal.
	Events event.Emitter
	// RequestID returns the request's correlation id for events; nil: none.
	RequestID func(context.Context) string
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
	// Log receives event write failures; nil is slog.Default().
	Log *slog.Logger
}

// Guard is the TMS API's access decision, in front of every route; see the
// security model above.
type Guard struct {
	deps    GuardDeps
	limiter *ratelimit.Limiter
	risk    *Risk
}

// NewGuard validates cfg and deps and returns a Guard.
func NewGuard(cfg GuardConfig, deps GuardDeps) (*Guard, error) {
	if deps.Peer == nil || deps.Verifier == nil || deps.Directory == nil || deps.CertRevoked == nil ||
		deps.VehicleCarrier == nil || deps.Events == nil {
		return nil, errors.New("authz: a Guard needs Peer, Verifier, Directory, CertRevoked, VehicleCarrier and Events")
	}
	if cfg.RatePerSecond == 0 {
		cfg.RatePerSecond = DefaultClientRatePerSecond
	}
	if cfg.RateBurst == 0 {
		cfg.RateBurst = DefaultClientRateBurst
	}
	if cfg.RateMaxKeys == 0 {
		cfg.RateMaxKeys = DefaultClientRateMaxKeys
	}
	if cfg.RatePerSecond < 0 || cfg.RateBurst < 1 || cfg.RateMaxKeys < 1 {
		return nil, errors.New("authz: the client rate, burst and max keys must be positive (the rate limit cannot be turned off)")
	}
	risk, err := NewRisk(cfg.Risk)
	if err != nil {
		return nil, err
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	return &Guard{deps: deps, risk: risk,
		limiter: ratelimit.New(ratelimit.Config{PerSecond: cfg.RatePerSecond, Burst: cfg.RateBurst, MaxKeys: cfg.RateMaxKeys})}, nil
}

// Caller is who a guarded request acts as, as the guard decided it.
type Caller struct {
	Principal principal.Principal
	// Carrier is the account's live carrier: "" for an operator (every
	// carrier) or for a client without one (none).
	Carrier string
	// Roles are the roles held now; Scopes the token's.
	Roles  []Role
	Scopes []Scope
	// TokenID is the token's jti, for the handler's events.
	TokenID string
	// Risk is the request's risk score (0-100) and RiskFactors what made it.
	Risk        int
	RiskFactors []string
}

// MaySee reports whether the caller may see a vehicle of carrier: an
// operator without a carrier sees every carrier; anyone else sees only
// their own carrier's, so a client without a carrier sees none.
func (c Caller) MaySee(carrier string) bool {
	if c.Carrier == "" {
		return c.Principal.Kind == principal.Operator
	}
	return carrier == c.Carrier
}

// May reports whether the caller may act with scope s: its token carries
// s and a role it holds now grants it (the guard's own test, for handlers
// that decide on more than the route, such as a command kind).
func (c Caller) May(s Scope) bool {
	return slices.Contains(c.Scopes, s) && Grants(c.Roles, s)
}

type callerKey struct{}

// WithCaller returns ctx carrying c (the guard's, and tests of handlers).
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the Caller the guard put in ctx, or false outside a
// guarded route: a handler refuses then (fail closed).
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// Wrap guards h, served at pattern, a key of Policy. A pattern without an
// entry gets a handler that refuses every request (500 internal, logged):
// GuardRoutes catches that at start-up.
func (g *Guard) Wrap(pattern string, h http.Handler) http.Handler {
	rt, ok := Policy[pattern]
	if !ok {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := &request{pattern: pattern, r: r}
			g.deps.Log.Error("authz: a route without a policy entry was called; refused", slog.String("route", pattern))
			g.refuse(w, q, problem.New(http.StatusInternalServerError, codes.Internal, ""), codes.Internal,
				"the route has no policy entry", event.ClassAuthorization, false)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.serve(w, r, pattern, rt, h) })
}

// request is what the guard knows of a request so far, for its event.
type request struct {
	pattern  string
	r        *http.Request
	now      time.Time
	p        principal.Principal // zero until the certificate is verified
	resource string
	jti      string
	risk     *RiskScore
	wwwAuth  string
}

// Answers. The token answers are fixed: a caller learns nothing of which
// check refused its token.
var (
	answerInvalidToken = problem.New(http.StatusUnauthorized, codes.AccessTokenInvalid,
		"the access token was refused; obtain a new one with this client certificate")
	answerNotFound = problem.New(http.StatusNotFound, codes.NotFound, "no such vehicle")
)

const (
	wwwAuthBare         = `Bearer`
	wwwAuthInvalidToken = `Bearer error="invalid_token"`
)

func (g *Guard) serve(w http.ResponseWriter, r *http.Request, pattern string, rt Route, h http.Handler) {
	ctx := r.Context()
	q := &request{pattern: pattern, r: r, now: g.deps.Now()}
	authn, authz := event.ClassAuthentication, event.ClassAuthorization

	// 1. The verified client certificate.
	p, leaf, ok := g.deps.Peer(r)
	if !ok || leaf == nil {
		g.refuse(w, q, problem.New(http.StatusForbidden, codes.ClientCertificateRequired,
			"a TMS client or operator certificate is required"), "", "no verified client certificate", authn, false)
		return
	}
	q.p, q.resource = p, p.String()
	if p.Kind != principal.Client && p.Kind != principal.Operator {
		g.refuse(w, q, problem.New(http.StatusForbidden, codes.Forbidden,
			"a TMS client or operator certificate is required"), "", "certificate of kind "+string(p.Kind), authn, true)
		return
	}

	// 2. The bearer token.
	raw, code, detail := bearer(r)
	if code == codes.AccessTokenMissing {
		q.wwwAuth = wwwAuthBare // RFC 6750 §3.1: no error code without credentials
		g.refuse(w, q, problem.New(http.StatusUnauthorized, codes.AccessTokenMissing,
			"an `Authorization: Bearer` access token is required"), "", detail, authn, true)
		return
	}
	if code != "" {
		q.wwwAuth = wwwAuthInvalidToken
		g.refuse(w, q, answerInvalidToken, code, detail, authn, true)
		return
	}

	// 3. The token and its binding.
	claims, err := g.deps.Verifier.Verify(ctx, raw, leaf)
	if err == nil && claims.Subject != p.String() {
		err = &Error{Code: codes.AccessTokenBindingMismatch, Detail: "the token's sub is not the certificate's principal"}
	}
	if err != nil {
		var ae *Error
		switch {
		case !errors.As(err, &ae):
			g.deps.Log.Error("authz: the token verifier failed without a reason code", slog.Any("err", err))
			g.refuse(w, q, problem.New(http.StatusInternalServerError, codes.Internal, ""), codes.Internal,
				"token verifier error", authn, false)
		case statusOf(ae.Code) == http.StatusServiceUnavailable:
			g.refuse(w, q, &problem.Error{Status: http.StatusServiceUnavailable, Code: ae.Code,
				Detail: "access tokens cannot be verified now", RetryAfter: 1}, "", ae.Detail, authn, false)
		default:
			q.wwwAuth = wwwAuthInvalidToken
			g.refuse(w, q, answerInvalidToken, ae.Code, ae.Detail, authn, true)
		}
		return
	}
	q.jti = claims.ID

	// 4. The live account.
	acc, err := g.deps.Directory.Account(ctx, p)
	switch {
	case errors.Is(err, ErrUnknownPrincipal):
		g.inactive(w, q, "the principal is not registered")
		return
	case err != nil:
		g.refuse(w, q, &problem.Error{Status: http.StatusServiceUnavailable, Code: codes.StoreUnavailable,
			Detail: "the gateway cannot check the caller's account now", RetryAfter: 1, Cause: err}, "",
			"directory: "+err.Error(), authz, false)
		return
	case !acc.Active:
		g.inactive(w, q, "the principal is suspended")
		return
	case g.deps.CertRevoked(leaf):
		g.inactive(w, q, "the client certificate is revoked")
		return
	}
	score := g.risk.Observe(p, event.SourceOf(r.RemoteAddr), acc.Hours, q.now)
	q.risk = &score

	// 5. The source.
	if !sourceAllowed(acc.AllowedSources, r.RemoteAddr) {
		g.refuse(w, q, problem.New(http.StatusForbidden, codes.AccessSourceNotAllowed,
			"requests from this address are not allowed for this client"), "", "", authz, true)
		return
	}

	// 6. The client's token bucket.
	if ok, wait := g.limiter.AllowN(p.String(), 1); !ok {
		g.refuse(w, q, &problem.Error{Status: http.StatusTooManyRequests, Code: codes.AccessRateLimited,
			Detail: "too many requests; retry after the Retry-After seconds", RetryAfter: ratelimit.RetryAfterSeconds(wait)},
			"", "", event.ClassAPI, false)
		return
	}

	// 7. The scope in the token.
	if !slices.Contains(claims.Scopes, rt.Scope) {
		q.wwwAuth = fmt.Sprintf(`Bearer error="insufficient_scope", scope="%s"`, rt.Scope)
		g.refuse(w, q, problem.New(http.StatusForbidden, codes.AccessScopeRequired,
			"the access token lacks the scope "+string(rt.Scope)), "", "", authz, true)
		return
	}

	// 8. A role held now.
	if !Grants(acc.Roles, rt.Scope) {
		g.refuse(w, q, problem.New(http.StatusForbidden, codes.AccessRoleRequired,
			"the caller holds no role that grants "+string(rt.Scope)), "", "", authz, true)
		return
	}

	c := Caller{Principal: p, Carrier: acc.Carrier, Roles: slices.Clone(acc.Roles), Scopes: slices.Clone(claims.Scopes),
		TokenID: claims.ID, Risk: score.Score, RiskFactors: score.Factors}

	// 9. The carrier of the {id} vehicle.
	if rt.CarrierScoped {
		id := r.PathValue("id")
		if !principal.ValidID(id) {
			g.refuse(w, q, problem.New(http.StatusBadRequest, codes.BadVehicleID, "the vehicle id is malformed"),
				"", "", authz, true)
			return
		}
		q.resource = principal.Principal{Kind: principal.Vehicle, ID: id}.String()
		carrier, err := g.deps.VehicleCarrier(ctx, id)
		switch {
		case errors.Is(err, ErrUnknownVehicle):
			g.refuse(w, q, answerNotFound, "", "unknown vehicle", authz, true)
			return
		case err != nil:
			g.refuse(w, q, &problem.Error{Status: http.StatusServiceUnavailable, Code: codes.StoreUnavailable,
				Detail: "the gateway cannot check the vehicle now", RetryAfter: 1, Cause: err}, "",
				"vehicle carrier: "+err.Error(), authz, false)
			return
		case !c.MaySee(carrier):
			g.refuse(w, q, answerNotFound, codes.AccessOtherCarrier, "", authz, true)
			return
		}
	}

	// 10. The risk score, on control routes.
	if rt.Scope.Control() && score.Score > g.risk.Threshold() {
		g.refuse(w, q, problem.New(http.StatusForbidden, codes.AccessRiskTooHigh,
			"the request's risk score is too high for a control action now"), "", "", authz, false)
		return
	}

	h.ServeHTTP(w, r.WithContext(WithCaller(ctx, c)))
}

// inactive refuses a principal that is unknown, suspended or revoked.
func (g *Guard) inactive(w http.ResponseWriter, q *request, detail string) {
	q.wwwAuth = wwwAuthInvalidToken
	g.refuse(w, q, problem.New(http.StatusUnauthorized, codes.AccessTokenPrincipalInactive,
		"the caller is suspended, unknown or revoked"), "", detail, event.ClassAuthentication, true)
}

// refuse answers pe and records the one event of this decision, with
// evCode (pe.Code when "") and evDetail (bounded; never sent to the
// caller). fail counts the refusal in the principal's risk.
func (g *Guard) refuse(w http.ResponseWriter, q *request, pe *problem.Error, evCode, evDetail string, class event.Class, fail bool) {
	if evCode == "" {
		evCode = pe.Code
	}
	attrs := map[string]any{"route": q.pattern, "remote": event.SourceOf(q.r.RemoteAddr)}
	if evDetail != "" {
		attrs["detail"] = event.BoundString(evDetail)
	}
	if q.jti != "" {
		attrs["jti"] = event.BoundString(q.jti)
	}
	score := q.risk
	if score == nil && !q.p.IsZero() {
		// Refused before the full score (the token, or the account that
		// is inactive): the partial score of Risk.Peek, marked so.
		partial := g.risk.Peek(q.p, event.SourceOf(q.r.RemoteAddr), q.now)
		score = &partial
		attrs["risk_partial"] = true
	}
	if score != nil {
		attrs["risk"] = score.Score
		if len(score.Factors) > 0 {
			attrs["risk_factors"] = score.Factors
		}
	}
	ev := event.Event{Class: class, Activity: "tms_access", Severity: codes.SeverityOf(evCode, event.SeverityLow),
		Verdict: event.Reject, Code: evCode, Actor: q.p, Resource: q.resource, Attrs: attrs}
	if q.p.IsZero() {
		ev.Source = event.SourceOf(q.r.RemoteAddr) // proved nothing: aggregated
	}
	if g.deps.RequestID != nil {
		ev.CorrelationID = g.deps.RequestID(q.r.Context())
	}
	if fail && !q.p.IsZero() {
		g.risk.Fail(q.p, q.now)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(q.r.Context()), EventTimeout)
	defer cancel()
	if err := g.deps.Events.Emit(ctx, ev); err != nil {
		g.deps.Log.Warn("authz: recording a refusal's event failed", slog.String("code", evCode), slog.Any("err", err))
	}
	if q.wwwAuth != "" {
		w.Header().Set("WWW-Authenticate", q.wwwAuth)
	}
	problem.Write(w, q.r, pe)
}

// statusOf is the catalogue's HTTP status of code, or 0.
func statusOf(code string) int {
	e, _ := codes.Lookup(code)
	return e.Status
}
