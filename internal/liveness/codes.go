package liveness

import (
	"errors"
	"fmt"
	"math"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// ActivityTransition is the activity of every transition event: each
// transition emits exactly one event (class liveness) whose code (package
// codes) names the state entered.
const ActivityTransition = "transition"

// Sentinel errors, matched with errors.Is.
var (
	// ErrInvalidVehicle: the vehicle id is not a valid principal id.
	ErrInvalidVehicle = errors.New("liveness: invalid vehicle id")
	// ErrVehicleLimit: the Monitor tracks MaxVehicles vehicles already; the
	// session must be refused.
	ErrVehicleLimit = errors.New("liveness: vehicle limit reached")
	// ErrInvalidState: a reported state other than driving, stopping,
	// safe_state or parked. Nothing changed.
	ErrInvalidState = errors.New("liveness: invalid reported state")

	// ErrSessionEnded: the Session is no longer the vehicle's live session;
	// the session layer closes its connection. The errors below wrap it and
	// say why.
	ErrSessionEnded = errors.New("liveness: session ended")
	// ErrCommLost: comm_lost was declared; only a new handshake
	// (Connected) brings the vehicle back.
	ErrCommLost = fmt.Errorf("%w: comm lost", ErrSessionEnded)
	// ErrSuperseded: a newer session of the same vehicle took over.
	ErrSuperseded = fmt.Errorf("%w: superseded by a newer session", ErrSessionEnded)
	// ErrDisconnected: Disconnected was called on this session.
	ErrDisconnected = fmt.Errorf("%w: disconnected", ErrSessionEnded)
	// ErrForgotten: the vehicle was removed with Forget.
	ErrForgotten = fmt.Errorf("%w: vehicle forgotten", ErrSessionEnded)
)

// monitorActor is the principal of every liveness event: the gateway's
// monitor declares the states; the vehicle is the resource.
var monitorActor = principal.Principal{Kind: principal.System, ID: "liveness"}

var stateCodes = [numStates]string{
	Online: codes.VehicleOnline, Suspect: codes.VehicleSuspect, CommLost: codes.CommLost,
	SafeState: codes.VehicleSafeState, Offline: codes.VehicleOffline,
}

var stateSeverities = [numStates]event.Severity{
	Online: event.SeverityInfo, Suspect: event.SeverityLow, CommLost: event.SeverityHigh,
	SafeState: event.SeverityMedium, Offline: event.SeverityInfo,
}

// eventOf returns the event recording tr.
func eventOf(tr *Transition) event.Event {
	attrs := map[string]any{
		"from":  tr.From.String(),
		"to":    tr.To.String(),
		"cause": tr.Cause.String(),
		"phi":   math.Round(tr.Phi*100) / 100,
	}
	if !tr.LastHeartbeat.IsZero() {
		attrs["last_heartbeat"] = tr.LastHeartbeat
	}
	if !tr.Deadline.IsZero() {
		attrs["deadline"] = tr.Deadline
	}
	if tr.To == Suspect || tr.To == CommLost {
		attrs["detection_latency_ms"] = tr.Latency.Milliseconds()
	}
	if tr.Reported != "" {
		attrs["reported_state"] = tr.Reported
	}
	return event.Event{
		Time:     tr.At,
		Class:    event.ClassLiveness,
		Activity: ActivityTransition,
		Severity: stateSeverities[tr.To],
		Actor:    monitorActor,
		Resource: principal.Principal{Kind: principal.Vehicle, ID: tr.VehicleID}.String(),
		Verdict:  event.Info,
		Code:     stateCodes[tr.To],
		Attrs:    attrs,
	}
}
