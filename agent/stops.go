package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
)

// StopEvent is what the AV stack reports at a stop of a load it was
// dispatched: at stop StopSeq (the seq of one of the dispatch command's
// stops) of load TenderID, Status happened at At, at Lat, Lon.
type StopEvent struct {
	TenderID string
	StopSeq  uint64
	Status   frame.StopStatus
	At       time.Time
	Lat, Lon float64
}

// ErrStopQueueFull: MaxPendingStops stop events wait for an answer
// already; nothing was queued.
var ErrStopQueueFull = errors.New("agent: too many stop events wait for the gateway")

// StopRefusedError is the gateway's refusal of a stop event: Code is its
// reason code (stop_event_not_dispatched, stop_event_unknown_stop,
// stop_event_status_mismatch, or a frame refusal). Sending the same
// report again gets the same answer.
type StopRefusedError struct{ Code string }

func (e *StopRefusedError) Error() string { return "agent: stop event refused: " + e.Code }

// pendingStop is a stop event waiting for the gateway's answer.
type pendingStop struct {
	body *frame.StopEvent
	// epoch and seq of the frame that carries it now; sent is false until
	// it is written on a session (again after a session ends or a
	// transient refusal: a new frame, which the gateway records once).
	epoch, seq uint64
	sent       bool
	done       chan error // buffered 1: the answer, nil when recorded
}

// ReportStop sends a signed stop_event and waits for the gateway's answer:
// nil once the gateway has recorded it as a shipment status (or had
// before: a report is recorded once, so the AV stack may report again
// after a restart), a *StopRefusedError when the gateway refuses it
// (errors.As; the load or the stop is not one this vehicle was
// dispatched), or ctx's error. While offline the report waits and goes out
// on the next session; a transient refusal (store_unavailable,
// rate_limited) and a session that ends before the answer send it again.
// An invalid report is refused at once, unsent.
func (a *Agent) ReportStop(ctx context.Context, e StopEvent) error {
	body := &frame.StopEvent{TenderID: e.TenderID, StopSeq: e.StopSeq, Status: e.Status,
		At: e.At.UTC().Truncate(time.Millisecond), Lat: e.Lat, Lon: e.Lon}
	if err := body.StaticValidate(); err != nil {
		return fmt.Errorf("agent: stop event: %w", err)
	}
	p := &pendingStop{body: body, done: make(chan error, 1)}
	a.mu.Lock()
	if len(a.stops) >= MaxPendingStops {
		a.mu.Unlock()
		return ErrStopQueueFull
	}
	a.stops = append(a.stops, p)
	s := a.sess
	a.mu.Unlock()
	if s != nil {
		s.poke()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		a.mu.Lock()
		a.dropStopLocked(p)
		a.mu.Unlock()
		return ctx.Err()
	}
}

// SetETA sets the estimate carried in every telemetry frame from now on
// (frame.Telemetry's ETA): the arrival at stop stopSeq of load tender at
// at. ClearETA removes it.
func (a *Agent) SetETA(tender string, stopSeq uint64, at time.Time) error {
	eta := &frame.ETA{TenderID: tender, StopSeq: stopSeq, At: at.UTC().Truncate(time.Millisecond)}
	f := &frame.Frame{VehicleID: a.vehicle, TS: eta.At, Body: &frame.Telemetry{State: frame.StateDriving, GNSS: frame.GNSS{Fix: frame.FixNone},
		Health: frame.Health{Faults: []string{}}, ETA: eta}}
	if err := f.StaticValidate(); err != nil {
		return fmt.Errorf("agent: eta: %w", err)
	}
	a.mu.Lock()
	a.eta = eta
	a.mu.Unlock()
	return nil
}

// ClearETA stops carrying an ETA in telemetry (the load is delivered).
func (a *Agent) ClearETA() {
	a.mu.Lock()
	a.eta = nil
	a.mu.Unlock()
}

// dropStopLocked removes p from the pending stops. a.mu is held.
func (a *Agent) dropStopLocked(p *pendingStop) {
	for i, q := range a.stops {
		if q == p {
			a.stops = append(a.stops[:i], a.stops[i+1:]...)
			return
		}
	}
}

// stopsSessionEndedLocked marks the stops sent on the session that ended
// as unsent: their answer may never come, so they go out again on the
// next session. a.mu is held.
func (a *Agent) stopsSessionEndedLocked() {
	for _, p := range a.stops {
		p.sent = false
	}
}

// stopAnswered settles the pending stop carried by frame (epoch, seq), if
// one is, with the gateway's answer (code "" for an ack), and reports
// whether it was one.
func (a *Agent) stopAnswered(s *session, epoch, seq uint64, code string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range a.stops {
		if !p.sent || p.epoch != epoch || p.seq != seq {
			continue
		}
		switch {
		case code == "":
			p.done <- nil
		case codes.Retryable(code):
			p.sent = false // sent again, as a new frame
			s.backoffLocked(a.now())
			s.poke()
			return true
		default:
			p.done <- &StopRefusedError{Code: code}
		}
		a.dropStopLocked(p)
		return true
	}
	return false
}

// writeStop signs and sends the oldest unsent stop event, if any.
func (s *session) writeStop(ctx context.Context) (bool, error) {
	a := s.a
	if s.waitTelemetry(a.now()) > 0 {
		return false, nil // the gateway asked to wait (a transient refusal)
	}
	a.mu.Lock()
	var p *pendingStop
	for _, q := range a.stops {
		if !q.sent {
			p = q
			break
		}
	}
	if p == nil {
		a.mu.Unlock()
		return false, nil
	}
	p.sent = true
	a.mu.Unlock()
	_, err := s.send(ctx, p.body, func(epoch, seq uint64) {
		a.mu.Lock()
		p.epoch, p.seq = epoch, seq
		a.mu.Unlock()
	})
	return true, err
}
