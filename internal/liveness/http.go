package liveness

import (
	"net/http"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/httpapi"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
)

// ReadAPI serves the fleet state on the TMS listener:
//
//	GET /v1/fleet/state                 every known vehicle's state
//	GET /v1/vehicles/{id}/state         one vehicle's state
//
// Callers must be TMS clients or operators. The state is this replica's
// view (a vehicle's session lives on one replica).
type ReadAPI struct {
	Monitor *Monitor
	Peer    func(*http.Request) (principal.Principal, bool)
}

// Routes returns the handlers by ServeMux pattern.
func (a *ReadAPI) Routes() map[string]http.Handler {
	return map[string]http.Handler{
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

func (a *ReadAPI) fleet(w http.ResponseWriter, r *http.Request) {
	snap := a.Monitor.Snapshot()
	views := make([]StateView, len(snap))
	for i, v := range snap {
		views[i] = view(v)
	}
	counts := map[string]int{}
	for st, n := range a.Monitor.Counts() {
		counts[st.String()] = n
	}
	httpapi.WriteJSON(w, r, http.StatusOK, struct {
		Counts   map[string]int `json:"counts"`
		Vehicles []StateView    `json:"vehicles"`
	}{counts, views})
}

func (a *ReadAPI) vehicle(w http.ResponseWriter, r *http.Request) {
	st, ok := a.Monitor.State(r.PathValue("id")) // a valid id (TMSRead)
	if !ok {
		problem.Write(w, r, problem.New(http.StatusNotFound, codes.NotFound, "no state for this vehicle on this gateway"))
		return
	}
	httpapi.WriteJSON(w, r, http.StatusOK, view(st))
}
