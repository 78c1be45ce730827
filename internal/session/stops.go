package session

import (
	"context"
	"errors"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/tracking"
)

// StopReporter decides a verified stop event (package tracking's
// Service): a refusal's Code, or the shipment status it recorded.
type StopReporter interface {
	Report(ctx context.Context, vehicle principal.Principal, f *frame.Frame) (tracking.Decision, error)
}

// stopEventKinds: the one kind a stop event is admitted as.
var stopEventKinds = []frame.Kind{frame.KindStopEvent}

// handleStopEvent takes a vehicle's stop event: the pipeline verifies and
// archives it like every vehicle frame (signature under the session's key,
// counter, replay; an exact resend is a duplicate), then Stops decides it
// against the vehicle's accepted dispatches. The vehicle gets ack once the
// shipment status is durable (or was, for a resend), nack with the reason
// code otherwise, as for telemetry: a refused stop event is a business
// refusal, and the session stays up. A store failure is nack
// store_unavailable, and the vehicle sends it again (answered as a
// duplicate frame, and decided again: the shipment event is recorded once).
func (c *conn) handleStopEvent(ctx context.Context, env *frame.Envelope, f *frame.Frame) {
	h := c.h
	nack := func(code string) { _ = c.send(&frame.Nack{AckEpoch: f.Epoch, AckSeq: f.Seq, Reason: code}) }
	if h.d.Limiter != nil {
		if ok, _, _ := h.d.Limiter.TakeN(c.peer.ID, 1); !ok {
			h.emit(event.Event{Class: event.ClassAPI, Activity: "session_frame", Severity: event.SeverityMedium,
				Actor: c.peer, Resource: c.peer.String(), Verdict: event.Reject, Code: codes.RateLimited,
				Attrs: map[string]any{"session": c.id, "kind": string(f.Kind()), "epoch": f.Epoch, "seq": f.Seq}})
			nack(codes.RateLimited)
			return
		}
	}
	r, err := h.d.Pipeline.ProcessParsed(ctx, c.peer, ingest.Live, stopEventKinds, env, f)
	if err != nil {
		if !errors.Is(err, ingest.ErrBusy) {
			h.log.Warn("session: stop event not processed", "vehicle", c.peer.ID, "err", err)
		}
		nack(codes.StoreUnavailable)
		return
	}
	if r.Verdict != ingest.Accepted {
		nack(r.Code)
		if r.Code == codes.VehicleSuspended {
			c.close(suspendedFrameClose())
		}
		return // the pipeline recorded the refusal
	}
	rctx, cancel := context.WithTimeout(ctx, tracking.ReportTimeout)
	d, err := h.d.Stops.Report(rctx, c.peer, f)
	cancel()
	if err != nil {
		h.log.Warn("session: stop event not decided", "vehicle", c.peer.ID, "err", err)
		nack(codes.StoreUnavailable)
		return
	}
	for i := range d.Events {
		d.Events[i].Attrs["session"] = c.id
	}
	if len(d.Events) > 0 {
		h.emit(d.Events...)
	}
	if d.Code != "" {
		nack(d.Code)
		return
	}
	_ = c.send(&frame.Ack{AckEpoch: f.Epoch, AckSeq: f.Seq})
}
