package liveness

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/httpapi"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
)

// ReadAPI serves the fleet state on the TMS listener:
//
//	GET /v1/vehicles                    the registered vehicles the caller may see, with their state (cursor pages)
//	GET /v1/fleet/state                 the state of every vehicle the caller may see
//	GET /v1/vehicles/{id}/state         one vehicle's state
//
// Callers must be TMS clients or operators (httpapi.TMSRead), and see only
// what Registry shows them: a client its carrier's vehicles (package authz
// decides; the routes are guarded there too). A registered vehicle this
// gateway has not seen since it started is never_connected, so a client can
// tell an unknown id (404) from a silent truck. The state is this replica's
// view (a vehicle's session lives on one replica).
type ReadAPI struct {
	Monitor  *Monitor
	Peer     func(*http.Request) (principal.Principal, bool)
	Registry Registry
}

// Registry is the vehicle registry as the caller of a request may see it.
type Registry interface {
	// Vehicles returns the registered vehicles r's caller may see with
	// id > after, ordered by id, at most limit.
	Vehicles(r *http.Request, after string, limit int) ([]RegisteredVehicle, error)
	// Vehicle returns vehicle id if it is registered and r's caller may
	// see it; ok is false otherwise (the two are not told apart).
	Vehicle(r *http.Request, id string) (v RegisteredVehicle, ok bool, err error)
}

// RegisteredVehicle is a registry entry as the read API shows it.
type RegisteredVehicle struct {
	ID      string `json:"id"`
	Carrier string `json:"carrier"`
	Status  string `json:"status"`
}

// Routes returns the handlers by ServeMux pattern.
func (a *ReadAPI) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /v1/vehicles":            httpapi.TMSRead(a.Peer, a.list),
		"GET /v1/fleet/state":         httpapi.TMSRead(a.Peer, a.fleet),
		"GET /v1/vehicles/{id}/state": httpapi.TMSRead(a.Peer, a.vehicle),
	}
}

// StateView is a VehicleState as the API shows it.
type StateView struct {
	VehicleID     string  `json:"vehicle_id"`
	State         State   `json:"state"`
	Since         string  `json:"since"`
	LastHeartbeat string  `json:"last_heartbeat,omitempty"`
	Deadline      string  `json:"deadline,omitempty"`
	Phi           float64 `json:"phi"`
	Reported      string  `json:"reported_state,omitempty"`
}

func view(v VehicleState) StateView {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	return StateView{VehicleID: v.VehicleID, State: v.State, Since: ts(v.Since), LastHeartbeat: ts(v.LastHeartbeat),
		Deadline: ts(v.Deadline), Phi: v.Phi, Reported: v.Reported}
}

// state returns id's state on this gateway, never_connected if it has none.
func (a *ReadAPI) state(id string) StateView {
	if st, ok := a.Monitor.State(id); ok {
		return view(st)
	}
	return StateView{VehicleID: id, State: NeverConnected}
}

func (a *ReadAPI) fleet(w http.ResponseWriter, r *http.Request) {
	var views []StateView
	counts := map[string]int{}
	after := ""
	for {
		page, err := a.Registry.Vehicles(r, after, MaxVehiclePage)
		if err != nil {
			problem.Write(w, r, problem.New(http.StatusServiceUnavailable, codes.StoreUnavailable, "the vehicle registry cannot be read now"))
			return
		}
		for _, v := range page {
			sv := a.state(v.ID)
			views = append(views, sv)
			counts[sv.State.String()]++
		}
		if len(page) < MaxVehiclePage || len(views) >= MaxFleetVehicles {
			break
		}
		after = page[len(page)-1].ID
	}
	if views == nil {
		views = []StateView{}
	}
	httpapi.WriteJSON(w, r, http.StatusOK, struct {
		Counts   map[string]int `json:"counts"`
		Vehicles []StateView    `json:"vehicles"`
	}{counts, views})
}

func (a *ReadAPI) vehicle(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id") // a valid id (TMSRead)
	_, ok, err := a.Registry.Vehicle(r, id)
	switch {
	case err != nil:
		problem.Write(w, r, problem.New(http.StatusServiceUnavailable, codes.StoreUnavailable, "the vehicle registry cannot be read now"))
	case !ok:
		problem.Write(w, r, problem.New(http.StatusNotFound, codes.NotFound, "no such vehicle"))
	default:
		httpapi.WriteJSON(w, r, http.StatusOK, a.state(id))
	}
}

// VehicleView is a registered vehicle with its state, as GET /v1/vehicles
// lists it.
type VehicleView struct {
	RegisteredVehicle
	State StateView `json:"state"`
}

// list answers GET /v1/vehicles?limit=N&cursor=C: a page of the vehicles
// the caller may see, ordered by id, and next_cursor while more may follow.
// The cursor is opaque to clients (the last id of the page, base64url).
func (a *ReadAPI) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := DefaultVehiclePage
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxVehiclePage {
			problem.Write(w, r, problem.New(http.StatusBadRequest, codes.BadQuery, fmt.Sprintf("limit must be between 1 and %d", MaxVehiclePage)))
			return
		}
		limit = n
	}
	after := ""
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.Strict().DecodeString(c)
		if err != nil || !principal.ValidID(string(b)) {
			problem.Write(w, r, problem.New(http.StatusBadRequest, codes.BadQuery, "cursor is not one this API returned"))
			return
		}
		after = string(b)
	}
	page, err := a.Registry.Vehicles(r, after, limit)
	if err != nil {
		problem.Write(w, r, problem.New(http.StatusServiceUnavailable, codes.StoreUnavailable, "the vehicle registry cannot be read now"))
		return
	}
	out := struct {
		Vehicles   []VehicleView `json:"vehicles"`
		NextCursor string        `json:"next_cursor,omitempty"`
	}{Vehicles: make([]VehicleView, len(page))}
	for i, v := range page {
		out.Vehicles[i] = VehicleView{RegisteredVehicle: v, State: a.state(v.ID)}
	}
	if len(page) == limit {
		out.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].ID))
	}
	httpapi.WriteJSON(w, r, http.StatusOK, out)
}
