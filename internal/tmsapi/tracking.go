package tmsapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/tracking"
)

// ShipmentEventView is one shipment status event as the TMS reads it.
type ShipmentEventView struct {
	// Code is the EDI 214 shipment status code (package tracking's
	// mapping); Status the vehicle's stop event status it came from.
	Code       string    `json:"code"`
	Status     string    `json:"status"`
	StopSeq    int64     `json:"stop_seq"`
	At         time.Time `json:"at"`
	Lat        float64   `json:"lat"`
	Lon        float64   `json:"lon"`
	VehicleID  string    `json:"vehicle_id"`
	ReceivedAt time.Time `json:"received_at"`
}

// ETAView is a vehicle's latest estimate of its arrival at a stop.
type ETAView struct {
	VehicleID  string    `json:"vehicle_id"`
	StopSeq    int64     `json:"stop_seq"`
	At         time.Time `json:"at"`
	ReportedAt time.Time `json:"reported_at"`
}

// TenderEvents is the answer of GET /v1/tenders/{id}/events.
type TenderEvents struct {
	TenderID string              `json:"tender_id"`
	Events   []ShipmentEventView `json:"events"`
	ETA      *ETAView            `json:"eta,omitempty"`
}

// tenderEvents serves GET /v1/tenders/{id}/events: the shipment status
// events of the caller's own tender, oldest first, and the latest ETA of
// the vehicle it was last dispatched to. A tender is its client's
// (tender ids are per client): another client's, of this carrier or
// another, is 404 exactly as an unknown id.
func (a *API) tenderEvents(q *req) answer {
	id := q.r.PathValue("id")
	if !principal.ValidID(id) || len(id) > MaxIDLen {
		return answer{err: notFound("no such tender")}
	}
	ctx := q.r.Context()
	_, err := a.d.Store.GetTender(ctx, q.client(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return answer{err: notFound("no such tender")}
	case err != nil:
		return answer{err: unavailable(err)}
	}
	evs, err := a.d.Store.ShipmentEvents(ctx, q.client(), id, tracking.MaxEventsRead)
	if err != nil {
		return answer{err: unavailable(err)}
	}
	out := TenderEvents{TenderID: id, Events: make([]ShipmentEventView, len(evs))}
	for i, e := range evs {
		out.Events[i] = ShipmentEventView{Code: e.Code, Status: e.Status, StopSeq: e.StopSeq, At: e.At.UTC(), Lat: e.Lat, Lon: e.Lon,
			VehicleID: e.Vehicle, ReceivedAt: e.ReceivedAt.UTC()}
	}
	vehicles, err := a.d.Store.TenderVehicles(ctx, q.client(), id)
	if err != nil {
		return answer{err: unavailable(err)}
	}
	if len(vehicles) > 0 {
		// The vehicle the tender was last dispatched to: an ETA of an
		// earlier one is history.
		eta, err := a.d.Store.GetETA(ctx, vehicles[0], id)
		switch {
		case err == nil:
			out.ETA = &ETAView{VehicleID: eta.Vehicle, StopSeq: eta.StopSeq, At: eta.At.UTC(), ReportedAt: eta.ReportedAt.UTC()}
		case !errors.Is(err, store.ErrNotFound):
			return answer{err: unavailable(err)}
		}
	}
	return jsonAnswer(http.StatusOK, out, nil)
}
