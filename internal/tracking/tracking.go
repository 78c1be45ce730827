package tracking

import (
	"context"
	"errors"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Store is what the service reads and writes (store.TrackingStore).
type Store interface {
	AcceptedLoadCommands(ctx context.Context, vehicle, tender string) ([]store.Command, error)
	RecordShipmentEvent(ctx context.Context, e store.ShipmentEvent) (store.ShipmentEvent, bool, error)
}

// Service decides stop events.
type Service struct {
	st  Store
	now func() time.Time
}

// New returns a Service; now defaults to time.Now.
func New(st Store, now func() time.Time) (*Service, error) {
	if st == nil {
		return nil, errors.New("tracking: a store is required")
	}
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, now: now}, nil
}

// Decision is the outcome of one stop event.
type Decision struct {
	// Code is "" when the stop event is recorded (now, or before: a
	// resend), otherwise the refusal's reason code.
	Code string
	// Event is the shipment status event as stored (zero when refused);
	// Created says whether this stop event stored it.
	Event   store.ShipmentEvent
	Created bool
	// Events are the events to record: one refusal, or one
	// shipment_status_recorded for a new shipment event, none for a
	// resend.
	Events []event.Event
}

// Code214 returns the EDI 214 shipment status code of status at a stop of
// type typ, or "" if the pair is not one a load goes through.
func Code214(typ frame.StopType, status frame.StopStatus) string {
	switch typ {
	case frame.StopPickup:
		switch status {
		case frame.StopArrived:
			return "X3"
		case frame.StopLoaded:
			return "CP"
		case frame.StopDeparted:
			return "AF"
		}
	case frame.StopDelivery:
		switch status {
		case frame.StopArrived:
			return "X1"
		case frame.StopDeparted:
			return "CD"
		case frame.StopDelivered:
			return "D1"
		}
	}
	return ""
}

// Report decides vehicle's stop event f, which the caller has verified
// (the ingest pipeline accepted it, or answered it as a duplicate). It
// returns an error only when the store could not decide: nothing is
// recorded then, and the vehicle sends it again.
func (s *Service) Report(ctx context.Context, vehicle principal.Principal, f *frame.Frame) (Decision, error) {
	se, ok := f.Body.(*frame.StopEvent)
	if !ok || vehicle.Kind != principal.Vehicle || f.VehicleID != vehicle.ID {
		return Decision{}, errors.New("tracking: not a stop event of this vehicle")
	}
	cmds, err := s.st.AcceptedLoadCommands(ctx, vehicle.ID, se.TenderID)
	if err != nil {
		return Decision{}, err
	}
	// The vehicle's latest accepted dispatch of the tender names the
	// client whose load it is; its stops and those of the accepted route
	// updates after it are the stops the vehicle was given.
	var dispatch *store.Command
	for i := range cmds {
		if cmds[i].Type == string(frame.CommandDispatch) && (dispatch == nil || !cmds[i].CreatedAt.Before(dispatch.CreatedAt)) {
			dispatch = &cmds[i]
		}
	}
	if dispatch == nil {
		return s.refuse(vehicle, f, se, codes.StopEventNotDispatched, "the vehicle has no accepted dispatch of this tender"), nil
	}
	var stop *frame.Stop
	for i := range cmds {
		c := &cmds[i]
		if c.CreatedAt.Before(dispatch.CreatedAt) {
			continue // an earlier assignment of the tender id
		}
		p, err := frame.ParseCommandPayload(c.Payload)
		if err != nil {
			continue // a payload the vehicle was never sent (commandFrame refuses it too)
		}
		for j := range p.Stops {
			if p.Stops[j].Seq == se.StopSeq {
				stop = &p.Stops[j]
			}
		}
	}
	if stop == nil {
		return s.refuse(vehicle, f, se, codes.StopEventUnknownStop, "no stop of the vehicle's dispatch of this tender has this stop_seq"), nil
	}
	code := Code214(stop.Type, se.Status)
	if code == "" {
		return s.refuse(vehicle, f, se, codes.StopEventStatusMismatch, string(se.Status)+" is not a status of a "+string(stop.Type)+" stop"), nil
	}
	rec, created, err := s.st.RecordShipmentEvent(ctx, store.ShipmentEvent{Client: dispatch.RequestedBy, TenderID: se.TenderID, Vehicle: vehicle.ID,
		StopSeq: int64(se.StopSeq), Status: string(se.Status), Code: code, At: se.At.UTC(), Lat: se.Lat, Lon: se.Lon,
		Epoch: int64(f.Epoch), Seq: int64(f.Seq), ReceivedAt: s.now().UTC()})
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Event: rec, Created: created}
	if created {
		d.Events = []event.Event{RecordedEvent(vehicle, rec)}
	}
	return d, nil
}

// RecordedEvent is the event of a new shipment status event: what the
// webhook sink turns into a shipment.status message for the tender's
// client (Attrs carry it all, so the sink needs no read).
func RecordedEvent(vehicle principal.Principal, e store.ShipmentEvent) event.Event {
	return event.Event{Class: event.ClassCommand, Activity: "shipment_status", Severity: codes.SeverityOf(codes.ShipmentStatusRecorded, event.SeverityInfo),
		Actor: vehicle, Resource: "tender:" + e.TenderID, Verdict: event.Accept, Code: codes.ShipmentStatusRecorded,
		Attrs: map[string]any{"client": e.Client, "tender_id": e.TenderID, "vehicle": e.Vehicle, "stop_seq": e.StopSeq,
			"status": e.Status, "code": e.Code, "at": e.At.UTC().Format(frame.TSLayout), "lat": e.Lat, "lon": e.Lon,
			"shipment_event": e.ID, "epoch": e.Epoch, "seq": e.Seq}}
}

// refuse is the decision and event of a refused stop event: an event
// about the vehicle, with what it claimed.
func (s *Service) refuse(vehicle principal.Principal, f *frame.Frame, se *frame.StopEvent, code, detail string) Decision {
	return Decision{Code: code, Events: []event.Event{{Class: event.ClassCommand, Activity: "stop_event",
		Severity: codes.SeverityOf(code, event.SeverityMedium), Actor: vehicle, Resource: vehicle.String(), Verdict: event.Reject, Code: code,
		Attrs: map[string]any{"tender_id": se.TenderID, "stop_seq": se.StopSeq, "status": string(se.Status),
			"epoch": f.Epoch, "seq": f.Seq, "detail": detail}}}}
}
