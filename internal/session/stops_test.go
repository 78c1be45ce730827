package session

import (
	"context"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// tmsClient is the TMS client that dispatches the test loads.
var tmsClient = principal.Principal{Kind: principal.Client, ID: "tms-1"}

// loadPayload is a dispatch payload of tender with a pickup (stop 1) and
// a delivery (stop 2), as the TMS API stores it.
func loadPayload(tender string) []byte {
	return []byte(`{"stops":[` +
		`{"facility":"Joliet DC 4","lat":41.525031,"lon":-88.081725,"seq":1,"type":"pickup","tz":"America/Chicago","window_end":"2026-12-06T16:00:00.000Z","window_start":"2026-12-06T14:00:00.000Z"},` +
		`{"facility":"Memphis Crossdock","lat":35.149534,"lon":-90.04898,"seq":2,"type":"delivery","tz":"America/Chicago","window_end":"2026-12-07T03:30:00.000Z","window_start":"2026-12-07T01:30:00.000Z"}],` +
		`"tender_id":"` + tender + `","waypoints":[{"handoff":false,"lat":41.525031,"lon":-88.081725,"seq":1}]}`)
}

// dispatch queues a dispatch of tender for vehicle, which r (its session)
// receives and accepts.
func (g *gw) dispatch(r *rawClient, vehicle, tender string) store.Command {
	g.t.Helper()
	d, err := g.cmds.Create(context.Background(), command.Request{Vehicle: vehicle, Carrier: "acme", RequestedBy: tmsClient,
		Type: command.TypeDispatch, TenderID: tender, Payload: loadPayload(tender)})
	if err != nil {
		g.t.Fatal(err)
	}
	if d.Command.State != command.Queued {
		g.t.Fatalf("dispatch %s", d.Command.State)
	}
	c := r.expect(frame.KindCommand).Body.(*frame.Command)
	r.send(&frame.CommandAck{CommandID: c.CommandID, CmdSeq: c.CmdSeq, Verdict: frame.VerdictAccepted})
	waitFor(g.t, 5*time.Second, "dispatch accepted", func() bool { return g.commandState(d.Command.ID) == command.Accepted })
	return d.Command
}

func stopAt(tender string, stop uint64, status frame.StopStatus) *frame.StopEvent {
	return &frame.StopEvent{TenderID: tender, StopSeq: stop, Status: status,
		At: time.Now().UTC().Truncate(time.Millisecond), Lat: 41.525, Lon: -88.0817}
}

// answer reads the gateway's answer to the vehicle frame seq: the reason
// of its nack, or "" for its ack.
func (r *rawClient) answer(seq uint64) string {
	r.t.Helper()
	f, err := r.read()
	if err != nil {
		r.t.Fatalf("no answer to seq %d: %v", seq, err)
	}
	switch b := f.Body.(type) {
	case *frame.Ack:
		if b.AckSeq == seq {
			return ""
		}
	case *frame.Nack:
		if b.AckSeq == seq {
			return b.Reason
		}
	}
	r.t.Fatalf("want the answer to seq %d, got %s %+v", seq, f.Kind(), f.Body)
	return ""
}

func (g *gw) shipmentEvents(tender string) []store.ShipmentEvent {
	g.t.Helper()
	evs, err := g.st.ShipmentEvents(context.Background(), tmsClient.String(), tender, 0)
	if err != nil {
		g.t.Fatal(err)
	}
	return evs
}

// TestAttackStopEventForLoadNotDispatched: on a real session, a vehicle
// reports stops of a load dispatched to another vehicle and of a load
// never dispatched: each is refused (nack stop_event_not_dispatched), one
// event about the vehicle is recorded, no shipment status is stored, and
// the session stays up (a business refusal, like a refused telemetry
// frame). The load's own vehicle reporting the same stop is recorded.
func TestAttackStopEventForLoadNotDispatched(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		g := newGateway(t, e.Open(t), gwOptions{cfg: fastConfig(), commands: true, stops: true})
		va, vb := g.enroll("truck-a"), g.enroll("truck-b")
		ra, rb := g.dial(va), g.dial(vb)
		ra.handshake(frame.StateDriving)
		rb.handshake(frame.StateDriving)
		g.dispatch(rb, "truck-b", "L-B")

		for _, tender := range []string{"L-B", "L-never"} {
			seq := ra.send(stopAt(tender, 1, frame.StopArrived))
			if got := ra.answer(seq); got != codes.StopEventNotDispatched {
				t.Fatalf("truck-a's stop of %s: answer %q, want %s", tender, got, codes.StopEventNotDispatched)
			}
		}
		refusals := g.sink.ByCode(codes.StopEventNotDispatched)
		if len(refusals) != 2 {
			t.Fatalf("%d %s events, want 2", len(refusals), codes.StopEventNotDispatched)
		}
		for _, ev := range refusals {
			if ev.Actor.ID != "truck-a" || ev.Resource != (principal.Principal{Kind: principal.Vehicle, ID: va.id}).String() {
				t.Fatalf("refusal event not about truck-a: %+v", ev)
			}
		}
		if evs := g.shipmentEvents("L-B"); len(evs) != 0 {
			t.Fatalf("truck-a's stop was stored: %+v", evs)
		}
		if n := g.count(codes.ShipmentStatusRecorded); n != 0 {
			t.Fatalf("%d shipment status events after refusals", n)
		}
		// The session is still up: truck-a's telemetry path answers.
		if got := ra.answer(ra.send(&frame.Heartbeat{State: frame.StateDriving})); got != "" {
			t.Fatalf("heartbeat after the refusals: %q", got)
		}
		// truck-b's own stop is recorded.
		if got := rb.answer(rb.send(stopAt("L-B", 1, frame.StopArrived))); got != "" {
			t.Fatalf("truck-b's stop: %q", got)
		}
		if evs := g.shipmentEvents("L-B"); len(evs) != 1 || evs[0].Vehicle != "truck-b" || evs[0].Code != "X3" {
			t.Fatalf("truck-b's stop: %+v", evs)
		}
	})
}

// TestStopEventUnknownStopAndStatus: a stop_seq the dispatch does not have,
// and a status the stop's type does not go through, are refused with their
// codes and store nothing.
func TestStopEventUnknownStopAndStatus(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		g := newGateway(t, e.Open(t), gwOptions{cfg: fastConfig(), commands: true, stops: true})
		v := g.enroll("truck-1")
		r := g.dial(v)
		r.handshake(frame.StateDriving)
		g.dispatch(r, "truck-1", "L1")
		for _, c := range []struct {
			name string
			body *frame.StopEvent
			code string
		}{
			{"unknown stop_seq", stopAt("L1", 9, frame.StopArrived), codes.StopEventUnknownStop},
			{"delivered at the pickup", stopAt("L1", 1, frame.StopDelivered), codes.StopEventStatusMismatch},
			{"loaded at the delivery", stopAt("L1", 2, frame.StopLoaded), codes.StopEventStatusMismatch},
		} {
			if got := r.answer(r.send(c.body)); got != c.code {
				t.Fatalf("%s: answer %q, want %s", c.name, got, c.code)
			}
		}
		if evs := g.shipmentEvents("L1"); len(evs) != 0 {
			t.Fatalf("stored: %+v", evs)
		}
		if n := g.count(codes.StopEventUnknownStop); n != 1 {
			t.Fatalf("%d unknown-stop events", n)
		}
	})
}

// TestStopEventsRecorded: a dispatched vehicle's stop events become
// shipment status events with their 214 codes, in the order they
// happened; a resend (the same frame again, or the same stop and status
// in a new frame, as an agent sends after a reconnect) is acknowledged
// and stored once.
func TestStopEventsRecorded(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		g := newGateway(t, e.Open(t), gwOptions{cfg: fastConfig(), commands: true, stops: true})
		v := g.enroll("truck-1")
		r := g.dial(v)
		r.handshake(frame.StateDriving)
		g.dispatch(r, "truck-1", "L1")
		steps := []struct {
			stop   uint64
			status frame.StopStatus
			code   string
		}{{1, frame.StopArrived, "X3"}, {1, frame.StopLoaded, "CP"}, {1, frame.StopDeparted, "AF"},
			{2, frame.StopArrived, "X1"}, {2, frame.StopDelivered, "D1"}, {2, frame.StopDeparted, "CD"}}
		t0 := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Hour)
		for i, s := range steps {
			b := stopAt("L1", s.stop, s.status)
			b.At = t0.Add(time.Duration(i) * time.Minute)
			if got := r.answer(r.send(b)); got != "" {
				t.Fatalf("step %d: %q", i, got)
			}
		}
		// A resend in a new frame, and the very same frame bytes again.
		if got := r.answer(r.send(stopAt("L1", 2, frame.StopDelivered))); got != "" {
			t.Fatalf("resent stop: %q", got)
		}
		f := r.frame(stopAt("L1", 1, frame.StopArrived))
		env := r.sign(f)
		for range 2 {
			if err := r.write(env); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 {
			if got := r.answer(f.Seq); got != "" {
				t.Fatalf("the same frame twice: %q", got)
			}
		}
		evs := g.shipmentEvents("L1")
		if len(evs) != len(steps) {
			t.Fatalf("%d events stored, want %d: %+v", len(evs), len(steps), evs)
		}
		for i, s := range steps {
			if evs[i].Code != s.code || evs[i].StopSeq != int64(s.stop) || evs[i].Status != string(s.status) || evs[i].Vehicle != "truck-1" {
				t.Fatalf("event %d: %+v, want %s", i, evs[i], s.code)
			}
		}
		g.waitEvent(codes.ShipmentStatusRecorded, len(steps))
		if n := g.count(codes.ShipmentStatusRecorded); n != len(steps) {
			t.Fatalf("%d shipment status events, want %d (resends record none)", n, len(steps))
		}
	})
}
