package tmsapi

import (
	"errors"
	"fmt"
	"github.com/fifthwheel/fifthwheel/frame"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Route is a planned route.
type Route struct {
	Waypoints []Waypoint `json:"waypoints"`
}

// Waypoint is one point of a planned route; Handoff marks a point where
// the load changes hands.
type Waypoint struct {
	Seq     *int64   `json:"seq"`
	Lat     *float64 `json:"lat"`
	Lon     *float64 `json:"lon"`
	Name    string   `json:"name,omitempty"`
	Handoff bool     `json:"handoff,omitempty"`
}

// DispatchRequest assigns an accepted tender to a vehicle.
type DispatchRequest struct {
	TenderID  string    `json:"tender_id"`
	VehicleID string    `json:"vehicle_id"`
	Route     *Route    `json:"route"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// RouteUpdateRequest replaces a vehicle's route. TenderID, when set, is a
// second precondition beside If-Match: the load whose route the caller
// means. Revisions count per load (every dispatch is revision 1), so a
// TMS that re-routes a load while the truck may have been dispatched
// another one names the load, and gets 412 rather than re-routing the
// other.
type RouteUpdateRequest struct {
	TenderID  string    `json:"tender_id,omitempty"`
	Route     *Route    `json:"route"`
	Reason    string    `json:"reason"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Payload is a command's payload as stored and as the vehicle gets it
// (package frame's command payload members).
type Payload struct {
	TenderID  string         `json:"tender_id"`
	Revision  int64          `json:"revision,omitzero"`
	Stops     []PayloadStop  `json:"stops"`
	Waypoints []PayloadPoint `json:"waypoints"`
	Reason    string         `json:"reason,omitempty"`
}

// PayloadStop is a stop as the vehicle gets it.
type PayloadStop struct {
	Seq         int64    `json:"seq"`
	Type        string   `json:"type"`
	Facility    string   `json:"facility"`
	Lat         float64  `json:"lat"`
	Lon         float64  `json:"lon"`
	TZ          string   `json:"tz"`
	WindowStart wireTime `json:"window_start"`
	WindowEnd   wireTime `json:"window_end"`
}

// wireTime is a time in the one form frames accept (frame.TSLayout: UTC,
// exactly milliseconds), so the stored payload signs and parses as the
// vehicle will read it; finer precision is truncated.
type wireTime time.Time

func (t wireTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Truncate(time.Millisecond).Format(frame.TSLayout) + `"`), nil
}

func (t *wireTime) UnmarshalJSON(b []byte) error {
	var v time.Time
	if err := v.UnmarshalJSON(b); err != nil {
		return err
	}
	*t = wireTime(v)
	return nil
}

// PayloadPoint is a waypoint as the vehicle gets it.
type PayloadPoint struct {
	Seq     int64   `json:"seq"`
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
	Name    string  `json:"name,omitempty"`
	Handoff bool    `json:"handoff"` // required on the wire (package frame)
}

var reasonRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// check says what is malformed in a route, or "".
func (rt *Route) check() string {
	if rt == nil || len(rt.Waypoints) == 0 || len(rt.Waypoints) > MaxWaypoints {
		return fmt.Sprintf("route.waypoints must have 1 to %d entries", MaxWaypoints)
	}
	for i, w := range rt.Waypoints {
		at := fmt.Sprintf("route.waypoints[%d]", i)
		switch {
		case w.Seq == nil || *w.Seq < 0:
			return at + ".seq must be a non-negative integer"
		case i > 0 && *w.Seq <= *rt.Waypoints[i-1].Seq:
			return at + ".seq must increase"
		case w.Lat == nil || !(*w.Lat >= -90 && *w.Lat <= 90):
			return at + ".lat must be -90 to 90"
		case w.Lon == nil || !(*w.Lon >= -180 && *w.Lon <= 180):
			return at + ".lon must be -180 to 180"
		case !text(w.Name, MaxNameLen, true):
			return fmt.Sprintf("%s.name must be at most %d bytes without control characters", at, MaxNameLen)
		}
	}
	return ""
}

// handoffs counts the route's handoff points: each is a handover, which
// the risk policy weighs (command.Risk.Handoffs).
func (rt *Route) handoffs() int {
	n := 0
	for _, w := range rt.Waypoints {
		if w.Handoff {
			n++
		}
	}
	return n
}

func (rt *Route) points() []PayloadPoint {
	out := make([]PayloadPoint, len(rt.Waypoints))
	for i, w := range rt.Waypoints {
		out[i] = PayloadPoint{Seq: *w.Seq, Lat: *w.Lat, Lon: *w.Lon, Name: w.Name, Handoff: w.Handoff}
	}
	return out
}

func stopsOf(t *Tender) []PayloadStop {
	out := make([]PayloadStop, len(t.Stops))
	for i, s := range t.Stops {
		out[i] = PayloadStop{Seq: *s.Sequence, Type: s.Type, Facility: s.Facility.Name, Lat: *s.Facility.Lat, Lon: *s.Facility.Lon,
			TZ: s.Facility.TZ, WindowStart: wireTime(s.Window.Start), WindowEnd: wireTime(s.Window.End)}
	}
	return out
}

// vehicle returns the vehicle id names if the caller may see it; a
// vehicle of another carrier is not found, exactly as an unknown one.
func (a *API) vehicle(q *req, id string) (store.Vehicle, *problem.Error) {
	if !principal.ValidID(id) {
		return store.Vehicle{}, notFound("no such vehicle")
	}
	v, err := a.d.Store.GetVehicle(q.r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Vehicle{}, notFound("no such vehicle")
	case err != nil:
		return store.Vehicle{}, unavailable(err)
	case !q.caller.MaySee(v.Carrier):
		return store.Vehicle{}, notFound("no such vehicle")
	}
	return v, nil
}

// ttl is the command lifetime a request's expires_at asks for (0: the
// policy's default); the domain bounds it.
func (a *API) ttl(expires time.Time) time.Duration {
	if expires.IsZero() {
		return 0
	}
	d := expires.Sub(a.d.Now())
	if d <= 0 {
		return -1 // refused by the domain as out of range
	}
	return d
}

// dispatch serves POST /v1/dispatches.
func (a *API) dispatch(q *req) answer {
	var d DispatchRequest
	if err := q.decode(&d); err != nil {
		return answer{err: err}
	}
	if why := d.Route.check(); why != "" {
		return answer{err: problem.New(http.StatusBadRequest, codes.CommandInvalid, why)}
	}
	if !principal.ValidID(d.TenderID) || len(d.TenderID) > MaxIDLen {
		return answer{err: problem.New(http.StatusBadRequest, codes.CommandInvalid, "tender_id is malformed")}
	}
	v, perr := a.vehicle(q, d.VehicleID)
	if perr != nil {
		return answer{err: perr}
	}
	ctx := q.r.Context()
	t, err := a.d.Store.GetTender(ctx, q.client(), d.TenderID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return answer{err: notFound("no such tender")}
	case err != nil:
		return answer{err: unavailable(err)}
	case !t.Cancelled.IsZero():
		return answer{err: problem.New(http.StatusConflict, codes.TenderNotAccepted, "the tender was cancelled: only an accepted tender is dispatched")}
	case t.Answer != AnswerAccept:
		return answer{err: problem.New(http.StatusConflict, codes.TenderNotAccepted, "the tender was declined: only an accepted tender is dispatched")}
	case t.Carrier != v.Carrier:
		return answer{err: problem.New(http.StatusBadRequest, codes.CommandInvalid, "the vehicle is not of the tender's carrier")}
	}
	var tender Tender
	if err := json.Unmarshal(t.Body, &tender); err != nil || tender.Weights == nil || tender.Weights.GrossKg == nil {
		return answer{err: unavailable(fmt.Errorf("stored tender %s does not decode: %v", t.ID, err))}
	}
	p := Payload{TenderID: t.ID, Stops: stopsOf(&tender), Waypoints: d.Route.points()}
	return a.create(q, command.Request{Vehicle: v.ID, Carrier: v.Carrier, RequestedBy: q.caller.Principal, Type: command.TypeDispatch,
		TenderID: t.ID, TenderRevision: t.Revision, HazmatLines: len(tender.Hazmat), GrossKg: *tender.Weights.GrossKg, Handoffs: d.Route.handoffs(),
		RiskScore: q.caller.Risk, TTL: a.ttl(d.ExpiresAt)},
		p, 1)
}

// create asks the domain for the command and answers 202 with the command
// as created; the response is stored with the command (one transaction).
func (a *API) create(q *req, r command.Request, p Payload, revision int64) answer {
	payload, err := json.Marshal(p, json.Deterministic(true))
	if err != nil {
		return answer{err: err}
	}
	r.Payload = payload
	// stored is the body kept under the Idempotency-Key, which the first
	// answer is too: byte for byte what a retry gets (the command as Create
	// returns it may have been re-read from the store, its times cut to
	// the store's precision).
	var stored []byte
	r.Idempotency = &command.Idempotency{Key: q.key, RequestSHA256: q.sha,
		Response: func(c store.Command) (int, []byte, error) {
			b, err := encode(createdView(c))
			stored = b
			return http.StatusAccepted, b, err
		}}
	d, err := a.d.Commands.Create(q.r.Context(), r)
	if errors.Is(err, command.ErrDuplicateRequest) { // a retry racing the original
		rec, gerr := a.d.Store.GetIdempotency(q.r.Context(), q.client(), q.key, q.sha)
		if gerr != nil {
			return answer{err: unavailable(gerr)}
		}
		return replayAnswer(rec)
	}
	if err != nil {
		return a.fromDomain(d, err)
	}
	b := stored
	if b == nil { // Create stored no record (it always does when asked)
		if b, err = encode(createdView(withCreated(d.Command))); err != nil {
			return answer{err: err, events: d.Events}
		}
	}
	return answer{status: http.StatusAccepted, body: b, stored: true, events: d.Events, header: http.Header{
		"Location": {"/v1/commands/" + d.Command.ID}, "ETag": {etag(revision)}}}
}

// withCreated is c as Create stored it (before queueing moved it on), so
// the first response is byte for byte the one a retry gets.
func withCreated(c store.Command) store.Command {
	if c.State != command.PendingApproval {
		c.State = command.Approved
	}
	c.CmdSeq, c.Nonce, c.IssuedAt, c.UpdatedAt = 0, nil, time.Time{}, c.CreatedAt
	return c
}

func etag(rev int64) string { return `"` + strconv.FormatInt(rev, 10) + `"` }

// parseIfMatch reads If-Match as one strong entity tag holding a revision.
func parseIfMatch(h []string) (int64, bool) {
	if len(h) != 1 {
		return 0, false
	}
	v := strings.TrimSpace(h[0])
	if len(v) < 3 || v[0] != '"' || v[len(v)-1] != '"' {
		return 0, false
	}
	n, err := strconv.ParseInt(v[1:len(v)-1], 10, 64)
	if err != nil || n < 1 || strconv.FormatInt(n, 10) != v[1:len(v)-1] {
		return 0, false
	}
	return n, true
}

// routeOf is a vehicle's current route: of its dispatches and route
// updates not cancelled, expired or rejected, the latest created (a
// route update created in the same instant as the route it replaces is
// later by its revision), with its payload; ok false if it has none.
func (a *API) routeOf(q *req, vehicle string) (store.Command, Payload, bool, error) {
	var (
		cur  store.Command
		curP Payload
	)
	after := ""
	for scanned := 0; ; {
		page, err := a.d.Store.ListCommands(q.r.Context(), store.CommandFilter{Scope: store.AllCarriers(), Vehicle: vehicle, After: after, Limit: store.MaxPage})
		if err != nil {
			return store.Command{}, Payload{}, false, err
		}
		for _, c := range page {
			if (c.Type != string(command.TypeDispatch) && c.Type != string(command.TypeRouteUpdate)) ||
				c.State == command.Cancelled || c.State == command.Expired || c.State == command.Rejected {
				continue
			}
			var p Payload
			if err := json.Unmarshal(c.Payload, &p); err != nil {
				return store.Command{}, Payload{}, false, fmt.Errorf("command %s payload: %v", c.ID, err)
			}
			if p.Revision == 0 {
				p.Revision = 1 // a dispatch
			}
			if cur.ID == "" || c.CreatedAt.After(cur.CreatedAt) || (c.CreatedAt.Equal(cur.CreatedAt) && p.Revision > curP.Revision) {
				cur, curP = c, p
			}
		}
		scanned += len(page)
		if len(page) < store.MaxPage {
			break
		}
		if scanned >= MaxRouteScan {
			return store.Command{}, Payload{}, false, fmt.Errorf("vehicle %s has over %d commands", vehicle, MaxRouteScan)
		}
		after = page[len(page)-1].ID
	}
	return cur, curP, cur.ID != "", nil
}

// routeUpdate serves POST /v1/vehicles/{id}/route.
func (a *API) routeUpdate(q *req) answer {
	v, perr := a.vehicle(q, q.r.PathValue("id"))
	if perr != nil {
		return answer{err: perr}
	}
	want, ok := parseIfMatch(q.r.Header.Values("If-Match"))
	if !ok {
		return answer{err: problem.New(http.StatusPreconditionRequired, codes.RouteRevisionRequired,
			`a route update names the revision it replaces: If-Match: "<revision>"`)}
	}
	var u RouteUpdateRequest
	if err := q.decode(&u); err != nil {
		return answer{err: err}
	}
	if why := u.Route.check(); why != "" {
		return answer{err: problem.New(http.StatusBadRequest, codes.CommandInvalid, why)}
	}
	if len(u.Reason) > MaxReasonLen || !reasonRE.MatchString(u.Reason) {
		return answer{err: problem.New(http.StatusBadRequest, codes.CommandInvalid,
			fmt.Sprintf("reason must be a code of 1 to %d characters of [A-Za-z0-9._-]", MaxReasonLen))}
	}
	cur, p, ok, err := a.routeOf(q, v.ID)
	switch {
	case err != nil:
		return answer{err: unavailable(err)}
	case !ok || p.Revision != want:
		return answer{err: problem.New(http.StatusPreconditionFailed, codes.RouteRevisionMismatch, "If-Match is not the vehicle's current route revision")}
	case u.TenderID != "" && u.TenderID != cur.TenderID:
		return answer{err: problem.New(http.StatusPreconditionFailed, codes.RouteRevisionMismatch, "the vehicle's current route is another load's (tender_id)")}
	}
	hazmat, gross, err := a.loadOf(q, v.ID, cur.TenderID)
	if err != nil {
		return answer{err: unavailable(err)}
	}
	next := Payload{TenderID: p.TenderID, Revision: p.Revision + 1, Stops: p.Stops, Waypoints: u.Route.points(), Reason: u.Reason}
	return a.create(q, command.Request{Vehicle: v.ID, Carrier: v.Carrier, RequestedBy: q.caller.Principal, Type: command.TypeRouteUpdate,
		TenderID: cur.TenderID, HazmatLines: hazmat, GrossKg: gross, Handoffs: u.Route.handoffs(), RiskScore: q.caller.Risk, TTL: a.ttl(u.ExpiresAt)},
		next, next.Revision)
}

// loadOf is what the risk policy weighs of the load a vehicle carries:
// the hazmat lines and gross weight of tender, as stored with the client
// that dispatched it to the vehicle. A re-route of a hazmat load needs
// what its dispatch needed. A load it cannot find counts as heavy (NaN:
// the policy's fail-closed case).
func (a *API) loadOf(q *req, vehicle, tender string) (int, float64, error) {
	var client string
	after := ""
	for scanned := 0; scanned < MaxRouteScan; {
		page, err := a.d.Store.ListCommands(q.r.Context(), store.CommandFilter{Scope: store.AllCarriers(), Vehicle: vehicle, After: after, Limit: store.MaxPage})
		if err != nil {
			return 0, 0, err
		}
		for _, c := range page {
			if c.Type == string(command.TypeDispatch) && c.TenderID == tender {
				client = c.RequestedBy
			}
		}
		scanned += len(page)
		if len(page) < store.MaxPage {
			break
		}
		after = page[len(page)-1].ID
	}
	t, err := a.d.Store.GetTender(q.r.Context(), client, tender)
	if errors.Is(err, store.ErrNotFound) {
		return 0, math.NaN(), nil
	}
	if err != nil {
		return 0, 0, err
	}
	var body Tender
	if err := json.Unmarshal(t.Body, &body); err != nil || body.Weights == nil || body.Weights.GrossKg == nil {
		return 0, math.NaN(), nil
	}
	return len(body.Hazmat), *body.Weights.GrossKg, nil
}
