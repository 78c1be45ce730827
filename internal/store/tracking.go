package store

import (
	"context"
	"time"
)

// TrackingStore holds what trucks report back about their loads (issue 20,
// "Tracking back to the TMS"): shipment status events, in the spirit of an
// EDI 214, each from a vehicle's signed stop_event that package tracking
// checked against the vehicle's accepted dispatch, and each vehicle's
// latest ETA per load from its telemetry. The store keeps rows and
// decides duplicates; which stop events are admitted and what 214 code a
// status maps to are package tracking's.
//
// Storage is bounded per vehicle: a shipment event's key is (vehicle,
// client, tender, stop, status), and the gateway records one only for a
// stop of an accepted dispatch (at most frame.MaxStops stops and three
// statuses per stop); a vehicle keeps at most MaxETAsPerVehicle ETAs, the
// most recently reported.
type TrackingStore interface {
	// AcceptedLoadCommands returns vehicle's accepted dispatch and
	// route_update commands for tender (by the commands' tender_id),
	// ordered by id, at most MaxLoadCommands: what the vehicle was told to
	// carry, and the stops it was given.
	AcceptedLoadCommands(ctx context.Context, vehicle, tender string) ([]Command, error)
	// TenderVehicles returns the vehicles that accepted a dispatch of
	// client's tender (client is the dispatch's requester), the latest
	// dispatch first, at most MaxLoadCommands: whose ETA the TMS reads.
	TenderVehicles(ctx context.Context, client, tender string) ([]string, error)
	// RecordShipmentEvent stores e unless an event with the same (Vehicle,
	// Client, TenderID, StopSeq, Status) is stored, and returns the stored
	// event (e with its ID, or the earlier one) and whether it is new. A
	// duplicate changes nothing. e.ID is ignored.
	RecordShipmentEvent(ctx context.Context, e ShipmentEvent) (ShipmentEvent, bool, error)
	// ShipmentEvents returns the events of a client's tender, oldest At
	// first (then in the order they were stored), at most limit (0:
	// DefaultPage; bounded by MaxPage).
	ShipmentEvents(ctx context.Context, client, tender string, limit int) ([]ShipmentEvent, error)
	// PutETAs records each ETA as its vehicle's latest for its tender,
	// unless one reported later (ReportedAt) is stored; then it keeps only
	// the vehicle's MaxETAsPerVehicle most recently reported. In one
	// transaction.
	PutETAs(ctx context.Context, etas []ETA) error
	// GetETA returns vehicle's latest ETA for tender, or ErrNotFound.
	GetETA(ctx context.Context, vehicle, tender string) (ETA, error)
}

// ShipmentEvent is one shipment status event.
type ShipmentEvent struct {
	ID       int64
	Client   string // the TMS client whose tender it is (principal URI)
	TenderID string
	Vehicle  string
	StopSeq  int64
	// Status is the vehicle's stop_event status (arrived, loaded, ...);
	// Code the EDI 214 shipment status code it maps to (package tracking).
	Status string
	Code   string
	// At is when it happened, by the vehicle; Lat and Lon where.
	At       time.Time
	Lat, Lon float64
	// Epoch and Seq name the signed stop_event frame (its frame row).
	Epoch, Seq int64
	ReceivedAt time.Time
}

// ETA is a vehicle's estimate of its arrival at a stop of a load.
type ETA struct {
	Vehicle  string
	TenderID string
	StopSeq  int64
	At       time.Time // the estimated arrival
	// ReportedAt is the ts of the telemetry frame that carried it: a later
	// report replaces an earlier one, never the reverse (backfill).
	ReportedAt time.Time
}
