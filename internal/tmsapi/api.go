package tmsapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/httpapi"
	"github.com/fifthwheel/fifthwheel/internal/problem"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Store is what the API reads and writes itself; commands change only
// through package command.
type Store interface {
	CreateTender(ctx context.Context, t store.Tender, idem *store.IdempotencyRecord) error
	GetTender(ctx context.Context, client, id string) (store.Tender, error)
	ReviseTender(ctx context.Context, t store.Tender, idem *store.IdempotencyRecord) error
	CancelTender(ctx context.Context, client, id, by string, at time.Time) (store.Tender, bool, error)
	TenderCommands(ctx context.Context, client, id, after string, limit int) ([]store.Command, error)
	GetVehicle(ctx context.Context, id string) (store.Vehicle, error)
	ListCommands(ctx context.Context, f store.CommandFilter) ([]store.Command, error)
	CommandTransitions(ctx context.Context, id string) ([]store.CommandTransition, error)
	ListApprovals(ctx context.Context, command string) ([]store.Approval, error)
	PutIdempotency(ctx context.Context, r store.IdempotencyRecord) error
	GetIdempotency(ctx context.Context, client, key string, requestSHA256 []byte) (store.IdempotencyRecord, error)
	// Tracking reads (store.TrackingStore).
	ShipmentEvents(ctx context.Context, client, tender string, limit int) ([]store.ShipmentEvent, error)
	TenderVehicles(ctx context.Context, client, tender string) ([]string, error)
	GetETA(ctx context.Context, vehicle, tender string) (store.ETA, error)
}

// Deps are the API's live dependencies.
type Deps struct {
	Store    Store
	Commands *command.Service
	Events   event.Emitter
	Log      *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// API serves the TMS command routes.
type API struct {
	d Deps
}

// New returns the API.
func New(d Deps) (*API, error) {
	if d.Store == nil || d.Commands == nil || d.Events == nil {
		return nil, errors.New("tmsapi: a store, a command service and an event emitter are required")
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &API{d: d}, nil
}

// The routes, as authz.Policy names them.
const (
	RouteTenders      = "POST /v1/tenders"
	RouteDispatches   = "POST /v1/dispatches"
	RouteVehicleRoute = "POST /v1/vehicles/{id}/route"
	RouteCommands     = "GET /v1/commands"
	RouteCommand      = "GET /v1/commands/{id}"
	RouteApprovals    = "POST /v1/commands/{id}/approvals"
	RouteCancel       = "POST /v1/commands/{id}/cancel"
	RouteTenderEvents = "GET /v1/tenders/{id}/events"
)

// Routes returns the handlers by ServeMux pattern (keys of authz.Policy);
// the caller puts authz's guard in front of each.
func (a *API) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		RouteTenders:      a.post(a.tender),
		RouteDispatches:   a.post(a.dispatch),
		RouteVehicleRoute: a.post(a.routeUpdate),
		RouteApprovals:    a.post(a.approve),
		RouteCancel:       a.post(a.cancel),
		RouteCommands:     a.get(a.list),
		RouteCommand:      a.get(a.getCommand),
		RouteTenderEvents: a.get(a.tenderEvents),
	}
}

// req is one request as the handlers see it.
type req struct {
	r      *http.Request
	caller authz.Caller
	key    string // Idempotency-Key (POST)
	body   []byte // POST
	sha    []byte // the request's SHA-256 (POST)
}

// answer is a handler's outcome: a JSON response, or a refusal.
type answer struct {
	status int
	body   []byte
	header http.Header
	err    error
	// events are the domain's events of the decision, emitted whatever the
	// outcome; a refusal without any gets one of this package's.
	events []event.Event
	// stored: the response was stored under the Idempotency-Key already
	// (in the domain's transaction); otherwise a 2xx is stored after.
	stored bool
	// replayed: the response is a stored one.
	replayed bool
}

func (a *API) get(h func(*req) answer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := authz.CallerFrom(r.Context())
		if !ok {
			a.write(w, r, &req{r: r}, answer{err: problem.New(http.StatusForbidden, codes.Forbidden, "the request did not pass the access guard")})
			return
		}
		q := &req{r: r, caller: c}
		a.write(w, r, q, h(q))
	})
}

// post reads a POST: the caller, the Idempotency-Key, the JSON body; it
// answers a retry with the stored response, and stores the handler's
// successful response under the key when the handler did not.
func (a *API) post(h func(*req) answer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := authz.CallerFrom(r.Context())
		if !ok {
			a.write(w, r, &req{r: r}, answer{err: problem.New(http.StatusForbidden, codes.Forbidden, "the request did not pass the access guard")})
			return
		}
		q := &req{r: r, caller: c}
		if err := q.read(w); err != nil {
			a.write(w, r, q, answer{err: err})
			return
		}
		if rec, ans, done := a.replay(q); done {
			if rec != nil {
				ans = replayAnswer(*rec)
			}
			a.write(w, r, q, ans)
			return
		}
		ans := h(q)
		if ans.err == nil && !ans.stored && ans.status >= 200 && ans.status < 300 {
			ans = a.store(q, ans)
		}
		a.write(w, r, q, ans)
	})
}

// read checks the Idempotency-Key and reads the body.
func (q *req) read(w http.ResponseWriter) error {
	q.key = q.r.Header.Get("Idempotency-Key")
	if len(q.r.Header.Values("Idempotency-Key")) != 1 || !validKey(q.key) {
		return problem.New(http.StatusBadRequest, codes.IdempotencyKeyRequired,
			"every POST needs one Idempotency-Key header of 1 to 128 characters of [A-Za-z0-9._:~-]")
	}
	if q.r.ContentLength > MaxBodyBytes {
		return problem.New(http.StatusRequestEntityTooLarge, codes.BodyTooLarge, "the body is over 64 KiB")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, q.r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return problem.New(http.StatusRequestEntityTooLarge, codes.BodyTooLarge, "the body is over 64 KiB")
	case err != nil:
		return problem.New(http.StatusBadRequest, codes.MalformedRequest, "the body could not be read")
	}
	if len(body) > 0 { // an empty body (an approval) needs no media type
		mt, _, err := mime.ParseMediaType(q.r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			return problem.New(http.StatusUnsupportedMediaType, codes.UnsupportedMediaType, "the body must be application/json")
		}
	}
	q.body = body
	h := sha256.New()
	for _, part := range []string{q.r.Method, q.r.URL.Path, q.r.Header.Get("If-Match")} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(body)
	q.sha = h.Sum(nil)
	return nil
}

// validKey reports whether k is a well-formed Idempotency-Key.
func validKey(k string) bool { return httpapi.ValidIdempotencyKey(k) }

// decode reads q's body strictly into v: one JSON object, no unknown or
// duplicate members, valid UTF-8.
func (q *req) decode(v any) error {
	if len(q.body) == 0 {
		return problem.New(http.StatusBadRequest, codes.MalformedRequest, "the body is empty: a JSON object is required")
	}
	if err := json.Unmarshal(q.body, v, json.RejectUnknownMembers(true)); err != nil {
		return problem.Wrap(err, http.StatusBadRequest, codes.MalformedRequest,
			"the body is not the JSON object this endpoint takes (unknown or duplicate members, wrong types)")
	}
	return nil
}

// client is the idempotency records' owner: the caller's principal.
func (q *req) client() string { return q.caller.Principal.String() }

// replay looks the request up: done with a stored record (rec) to answer
// with, or with a refusal (key reused, store down).
func (a *API) replay(q *req) (*store.IdempotencyRecord, answer, bool) {
	rec, d, err := a.d.Commands.Replay(q.r.Context(), q.caller.Principal, q.key, q.sha)
	switch {
	case err != nil:
		return nil, a.fromDomain(d, err), true
	case rec != nil:
		return rec, answer{}, true
	}
	return nil, answer{}, false
}

func replayAnswer(rec store.IdempotencyRecord) answer {
	return answer{status: rec.Status, body: rec.Body, replayed: true, stored: true}
}

// store keeps ans under q's key. A concurrent retry stored first: answer
// with its response; the key reused meanwhile: 409.
func (a *API) store(q *req, ans answer) answer {
	err := a.d.Store.PutIdempotency(q.r.Context(), store.IdempotencyRecord{Client: q.client(), Key: q.key, RequestSHA256: q.sha,
		Status: ans.status, Body: ans.body, Created: a.d.Now().UTC()})
	switch {
	case err == nil:
		ans.stored = true
		return ans
	case errors.Is(err, store.ErrConflict):
		rec, err := a.d.Store.GetIdempotency(q.r.Context(), q.client(), q.key, q.sha)
		if err == nil {
			r := replayAnswer(rec)
			r.events = ans.events
			return r
		}
	case errors.Is(err, store.ErrIdempotencyKeyReused):
		ans.err = problem.New(http.StatusConflict, codes.IdempotencyKeyReused, "the Idempotency-Key was used for another request")
		return ans
	}
	// The decision stands (it was made and its events are emitted); the
	// client learns it with a GET. Its retry is decided again.
	a.d.Log.Warn("tmsapi: the idempotency record was not stored", slog.String("key_owner", q.client()), slog.Any("err", err))
	return ans
}

// fromDomain turns a command.Service outcome into an answer.
func (a *API) fromDomain(d command.Decision, err error) answer {
	ans := answer{events: d.Events}
	var ce *command.Error
	switch {
	case errors.As(err, &ce):
		status := http.StatusConflict
		if e, ok := codes.Lookup(ce.Code); ok && e.Status != 0 {
			status = e.Status
		}
		ans.err = problem.New(status, ce.Code, ce.Detail)
	case errors.Is(err, command.ErrNotFound):
		ans.err = notFound("no such command")
	default:
		ans.err = unavailable(err)
	}
	return ans
}

func notFound(detail string) *problem.Error {
	return problem.New(http.StatusNotFound, codes.NotFound, detail)
}

// unavailable is a store (or other dependency) failure: refused, nothing
// changed, the client may retry (fail closed).
func unavailable(err error) *problem.Error {
	return problem.Wrap(err, http.StatusServiceUnavailable, codes.StoreUnavailable, "the request could not be decided now; send it again")
}

// write emits the answer's events and writes it.
func (a *API) write(w http.ResponseWriter, r *http.Request, q *req, ans answer) {
	evs := ans.events
	if ans.err != nil && len(evs) == 0 {
		pe := problem.From(ans.err)
		if pe.Status >= 500 && pe.Cause != nil {
			a.d.Log.Error("tmsapi: request failed", slog.String("path", r.URL.Path), slog.Any("err", pe.Cause))
		}
		evs = []event.Event{{Class: event.ClassAPI, Activity: activityOf(r), Severity: codes.SeverityOf(pe.Code, event.SeverityLow),
			Actor: q.caller.Principal, Resource: r.URL.Path, Verdict: event.Reject, Code: pe.Code,
			Attrs: map[string]any{"status": pe.Status, "detail": pe.Detail}}}
	}
	if len(evs) > 0 {
		if err := a.d.Events.Emit(r.Context(), evs...); err != nil {
			a.d.Log.Error("tmsapi: events not recorded", slog.Any("err", err))
		}
	}
	if ans.err != nil {
		problem.Write(w, r, ans.err)
		return
	}
	for k, vs := range ans.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if ans.replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	httpapi.WriteJSONBytes(w, ans.status, ans.body)
}

// activityOf names a request's event activity.
func activityOf(r *http.Request) string {
	if r.Method == http.MethodGet {
		return "command_read"
	}
	return "command_request"
}

// encode marshals v deterministically (sorted maps, no HTML escaping).
func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v, json.Deterministic(true))
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// jsonAnswer is a 2xx answer with v as its body.
func jsonAnswer(status int, v any, h http.Header) answer {
	b, err := encode(v)
	if err != nil {
		return answer{err: err}
	}
	return answer{status: status, body: b, header: h}
}
