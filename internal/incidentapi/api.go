package incidentapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/httpapi"
	"github.com/fifthwheel/fifthwheel/internal/incident"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// The routes, as authz.Policy names them.
const (
	RouteList          = "GET /v1/incidents"
	RouteGet           = "GET /v1/incidents/{id}"
	RouteAck           = "POST /v1/incidents/{id}/ack"
	RouteContain       = "POST /v1/incidents/{id}/contain"
	RouteResolve       = "POST /v1/incidents/{id}/resolve"
	RouteNotes         = "POST /v1/incidents/{id}/notes"
	RouteNotifications = "POST /v1/incidents/{id}/notifications"
)

// Idempotency is where POST answers are kept under their Idempotency-Key
// (store.CommandStore's records).
type Idempotency interface {
	PutIdempotency(ctx context.Context, r store.IdempotencyRecord) error
	GetIdempotency(ctx context.Context, client, key string, requestSHA256 []byte) (store.IdempotencyRecord, error)
}

// API serves the incident routes.
type API struct {
	Incidents   *incident.Manager
	Idempotency Idempotency
	Log         *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// Routes returns the handlers by ServeMux pattern (keys of authz.Policy);
// the caller puts authz's guard in front of each.
func (a *API) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		RouteList:          a.guarded(a.list),
		RouteGet:           a.guarded(a.get),
		RouteAck:           a.guarded(a.post(a.ack)),
		RouteContain:       a.guarded(a.post(a.contain)),
		RouteResolve:       a.guarded(a.post(a.resolve)),
		RouteNotes:         a.guarded(a.post(a.note)),
		RouteNotifications: a.guarded(a.post(a.notify)),
	}
}

type handler func(w http.ResponseWriter, r *http.Request, c authz.Caller)

// guarded refuses a request that did not pass the access guard, a caller
// that is not an operator, a malformed {id} and an oversized query.
func (a *API) guarded(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := authz.CallerFrom(r.Context())
		switch {
		case !ok:
			problem.Write(w, r, problem.New(http.StatusForbidden, codes.Forbidden, "the request did not pass the access guard"))
		case c.Principal.Kind != principal.Operator:
			problem.Write(w, r, problem.New(http.StatusForbidden, codes.Forbidden, "incidents are for operators"))
		case len(r.URL.RawQuery) > MaxQueryBytes:
			problem.Write(w, r, problem.New(http.StatusBadRequest, codes.BadQuery, "the query is too long"))
		case r.PathValue("id") != "" && !principal.ValidID(r.PathValue("id")):
			problem.Write(w, r, problem.New(http.StatusNotFound, codes.NotFound, "no such incident"))
		default:
			h(w, r, c)
		}
	})
}

// domainError turns a manager's error into a problem.
func domainError(err error) error {
	var ie *incident.Error
	switch {
	case errors.As(err, &ie):
		status := http.StatusConflict
		if e, ok := codes.Lookup(ie.Code); ok && e.Status != 0 {
			status = e.Status
		}
		return problem.New(status, ie.Code, ie.Detail)
	case errors.Is(err, incident.ErrNotFound):
		return problem.New(http.StatusNotFound, codes.NotFound, "no such incident")
	}
	return problem.Wrap(err, http.StatusServiceUnavailable, codes.StoreUnavailable, "the request could not be decided now; send it again")
}

// List is the answer of GET /v1/incidents.
type List struct {
	Incidents  []incident.Summary `json:"incidents"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

func (a *API) list(w http.ResponseWriter, r *http.Request, _ authz.Caller) {
	qs := r.URL.Query()
	for k, vs := range qs {
		if !slices.Contains([]string{"state", "cursor", "limit"}, k) || len(vs) != 1 {
			problem.Write(w, r, problem.New(http.StatusBadRequest, codes.BadQuery, "the query takes state, cursor and limit, each at most once"))
			return
		}
	}
	limit := DefaultListPage
	if l := qs.Get("limit"); qs.Has("limit") {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxListPage || strconv.Itoa(n) != l {
			problem.Write(w, r, problem.New(http.StatusBadRequest, codes.BadQuery, fmt.Sprintf("limit must be 1 to %d", MaxListPage)))
			return
		}
		limit = n
	}
	cursor := qs.Get("cursor")
	if qs.Has("cursor") && !principal.ValidID(cursor) {
		problem.Write(w, r, problem.New(http.StatusBadRequest, codes.BadQuery, "cursor is malformed"))
		return
	}
	l, err := a.Incidents.List(r.Context(), store.IncidentState(qs.Get("state")), cursor, limit)
	var ie *incident.Error
	if errors.As(err, &ie) {
		problem.Write(w, r, problem.New(http.StatusBadRequest, codes.BadQuery, ie.Detail))
		return
	}
	if err != nil {
		problem.Write(w, r, domainError(err))
		return
	}
	out := List{Incidents: make([]incident.Summary, len(l))}
	for i, inc := range l {
		out.Incidents[i] = incident.SummaryOf(inc)
	}
	if len(l) == limit {
		out.NextCursor = l[len(l)-1].ID
	}
	httpapi.WriteJSON(w, r, http.StatusOK, out)
}

func (a *API) get(w http.ResponseWriter, r *http.Request, _ authz.Caller) {
	v, err := a.Incidents.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		problem.Write(w, r, domainError(err))
		return
	}
	httpapi.WriteJSON(w, r, http.StatusOK, incident.DetailOf(v))
}

// action is a POST's decision: it decodes body and acts as the caller.
type action func(ctx context.Context, id string, c authz.Caller, body []byte) error

// post reads a POST (Idempotency-Key, strict JSON body), answers a retry
// with the stored answer, runs act, and answers 200 with the incident as
// it now is, stored under the key.
func (a *API) post(act action) handler {
	return func(w http.ResponseWriter, r *http.Request, c authz.Caller) {
		ctx := r.Context()
		key := r.Header.Get("Idempotency-Key")
		if len(r.Header.Values("Idempotency-Key")) != 1 || !httpapi.ValidIdempotencyKey(key) {
			problem.Write(w, r, problem.New(http.StatusBadRequest, codes.IdempotencyKeyRequired,
				"every POST needs one Idempotency-Key header of 1 to 128 characters of [A-Za-z0-9._:~-]"))
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			problem.Write(w, r, problem.New(http.StatusUnsupportedMediaType, codes.UnsupportedMediaType, "the body must be application/json"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, codes.BodyTooLarge, fmt.Sprintf("the body is over %d bytes", MaxBodyBytes)))
			return
		case err != nil:
			problem.Write(w, r, problem.New(http.StatusBadRequest, codes.MalformedRequest, "the body could not be read"))
			return
		}
		h := sha256.New()
		h.Write([]byte(r.Method + "\x00" + r.URL.Path + "\x00"))
		h.Write(body)
		sha, owner := h.Sum(nil), c.Principal.String()
		rec, err := a.Idempotency.GetIdempotency(ctx, owner, key, sha)
		switch {
		case err == nil:
			w.Header().Set("Idempotent-Replayed", "true")
			httpapi.WriteJSONBytes(w, rec.Status, rec.Body)
			return
		case errors.Is(err, store.ErrIdempotencyKeyReused):
			problem.Write(w, r, problem.New(http.StatusConflict, codes.IdempotencyKeyReused, "the Idempotency-Key was used for another request"))
			return
		case !errors.Is(err, store.ErrNotFound):
			problem.Write(w, r, domainError(err))
			return
		}
		id := r.PathValue("id")
		if err := act(ctx, id, c, body); err != nil {
			problem.Write(w, r, err)
			return
		}
		v, err := a.Incidents.Get(ctx, id)
		if err != nil {
			problem.Write(w, r, domainError(err))
			return
		}
		out, err := json.Marshal(incident.DetailOf(v))
		if err != nil {
			problem.Write(w, r, err)
			return
		}
		now := time.Now
		if a.Now != nil {
			now = a.Now
		}
		err = a.Idempotency.PutIdempotency(ctx, store.IdempotencyRecord{Client: owner, Key: key, RequestSHA256: sha, Status: http.StatusOK, Body: out, Created: now().UTC()})
		if err != nil && a.Log != nil {
			// The decision stands; a retry is decided again (and refused
			// as a state conflict where it would change nothing).
			a.Log.Warn("incidentapi: the idempotency record was not stored", slog.String("key_owner", owner), slog.Any("err", err))
		}
		httpapi.WriteJSONBytes(w, http.StatusOK, out)
	}
}

// decode reads body strictly into v: one JSON object, no unknown or
// duplicate members, valid UTF-8.
func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v, json.RejectUnknownMembers(true)); err != nil {
		return problem.Wrap(err, http.StatusBadRequest, codes.MalformedRequest,
			"the body is not the JSON object this endpoint takes (unknown or duplicate members, wrong types)")
	}
	return nil
}

// AckRequest is the body of POST /v1/incidents/{id}/ack.
type AckRequest struct {
	Note string `json:"note,omitempty"`
}

// ContainRequest is the body of POST /v1/incidents/{id}/contain.
type ContainRequest struct {
	Action string `json:"action"`
	Target string `json:"target,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// ResolveRequest is the body of POST /v1/incidents/{id}/resolve.
type ResolveRequest struct {
	Reason string `json:"reason"`
}

// NoteRequest is the body of POST /v1/incidents/{id}/notes.
type NoteRequest struct {
	Text string `json:"text"`
}

// NotificationRequest is the body of POST /v1/incidents/{id}/notifications.
type NotificationRequest struct {
	Clock     string `json:"clock"`
	Channel   string `json:"channel"`
	Recipient string `json:"recipient"`
	Reference string `json:"reference,omitempty"`
}

func (a *API) ack(ctx context.Context, id string, c authz.Caller, body []byte) error {
	var q AckRequest
	if err := decode(body, &q); err != nil {
		return err
	}
	_, err := a.Incidents.Acknowledge(ctx, id, c.Principal, q.Note)
	return wrap(err)
}

func (a *API) contain(ctx context.Context, id string, c authz.Caller, body []byte) error {
	var q ContainRequest
	if err := decode(body, &q); err != nil {
		return err
	}
	_, err := a.Incidents.Contain(ctx, id, c.Principal, incident.Action{Kind: q.Action, Target: q.Target, Reason: q.Reason})
	return wrap(err)
}

func (a *API) resolve(ctx context.Context, id string, c authz.Caller, body []byte) error {
	var q ResolveRequest
	if err := decode(body, &q); err != nil {
		return err
	}
	_, err := a.Incidents.Resolve(ctx, id, c.Principal, q.Reason)
	return wrap(err)
}

func (a *API) note(ctx context.Context, id string, c authz.Caller, body []byte) error {
	var q NoteRequest
	if err := decode(body, &q); err != nil {
		return err
	}
	return wrap(a.Incidents.AddNote(ctx, id, c.Principal, q.Text))
}

func (a *API) notify(ctx context.Context, id string, c authz.Caller, body []byte) error {
	var q NotificationRequest
	if err := decode(body, &q); err != nil {
		return err
	}
	return wrap(a.Incidents.Notify(ctx, id, c.Principal, incident.Notification{Clock: store.IncidentClockKind(q.Clock), Channel: q.Channel,
		Recipient: q.Recipient, Reference: q.Reference}))
}

func wrap(err error) error {
	if err == nil {
		return nil
	}
	return domainError(err)
}
