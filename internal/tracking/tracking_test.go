package tracking

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// TestCode214: the documented mapping (package doc, docs/OPERATIONS.md),
// and the pairs a load never goes through.
func TestCode214(t *testing.T) {
	for _, c := range []struct {
		typ    frame.StopType
		status frame.StopStatus
		want   string
	}{
		{frame.StopPickup, frame.StopArrived, "X3"}, {frame.StopPickup, frame.StopLoaded, "CP"}, {frame.StopPickup, frame.StopDeparted, "AF"},
		{frame.StopPickup, frame.StopDelivered, ""},
		{frame.StopDelivery, frame.StopArrived, "X1"}, {frame.StopDelivery, frame.StopDeparted, "CD"}, {frame.StopDelivery, frame.StopDelivered, "D1"},
		{frame.StopDelivery, frame.StopLoaded, ""},
		{"crossdock", frame.StopArrived, ""},
	} {
		if got := Code214(c.typ, c.status); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.typ, c.status, got, c.want)
		}
	}
}

// fakeStore holds accepted load commands and records shipment events.
type fakeStore struct {
	cmds []store.Command
	recs []store.ShipmentEvent
	err  error
}

func (f *fakeStore) AcceptedLoadCommands(_ context.Context, vehicle, tender string) ([]store.Command, error) {
	var out []store.Command
	for _, c := range f.cmds {
		if c.Vehicle == vehicle && c.TenderID == tender {
			out = append(out, c)
		}
	}
	return out, f.err
}

func (f *fakeStore) RecordShipmentEvent(_ context.Context, e store.ShipmentEvent) (store.ShipmentEvent, bool, error) {
	for _, r := range f.recs {
		if r.Vehicle == e.Vehicle && r.Client == e.Client && r.TenderID == e.TenderID && r.StopSeq == e.StopSeq && r.Status == e.Status {
			return r, false, nil
		}
	}
	e.ID = int64(len(f.recs) + 1)
	f.recs = append(f.recs, e)
	return e, true, nil
}

func payload(tender string, seqs ...int) []byte {
	b := []byte(`{"stops":[`)
	for i, s := range seqs {
		if i > 0 {
			b = append(b, ',')
		}
		typ := "pickup"
		if i == len(seqs)-1 {
			typ = "delivery"
		}
		b = append(b, []byte(`{"facility":"F","lat":1,"lon":2,"seq":`+string(rune('0'+s))+`,"type":"`+typ+`","tz":"UTC","window_end":"2030-01-01T00:00:00.000Z","window_start":"2030-01-01T00:00:00.000Z"}`)...)
	}
	return append(b, []byte(`],"tender_id":"`+tender+`","waypoints":[{"handoff":false,"lat":1,"lon":2,"seq":1}]}`)...)
}

// TestReportAttribution: the client is the latest accepted dispatch's
// requester; the stops are that dispatch's and those of the route updates
// after it, not an earlier dispatch's; a store failure decides nothing.
func TestReportAttribution(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	st := &fakeStore{cmds: []store.Command{
		{ID: "c1", Vehicle: "V1", TenderID: "L", Type: "dispatch", RequestedBy: "urn:fifthwheel:client:old", CreatedAt: t0, Payload: payload("L", 1, 9)},
		{ID: "c2", Vehicle: "V1", TenderID: "L", Type: "dispatch", RequestedBy: "urn:fifthwheel:client:new", CreatedAt: t0.Add(time.Hour), Payload: payload("L", 1, 2)},
		{ID: "c3", Vehicle: "V1", TenderID: "L", Type: "route_update", RequestedBy: "urn:fifthwheel:client:other", CreatedAt: t0.Add(2 * time.Hour), Payload: payload("L", 1, 3)},
	}}
	svc, err := New(st, func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	v1 := principal.Principal{Kind: principal.Vehicle, ID: "V1"}
	report := func(stop uint64, status frame.StopStatus) Decision {
		t.Helper()
		f := &frame.Frame{VehicleID: "V1", Epoch: 1, Seq: 1, TS: t0, Body: &frame.StopEvent{TenderID: "L", StopSeq: stop, Status: status, At: t0}}
		d, err := svc.Report(context.Background(), v1, f)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := report(2, frame.StopArrived); d.Code != "" || d.Event.Client != "urn:fifthwheel:client:new" || d.Event.Code != "X1" || !d.Created || len(d.Events) != 1 ||
		d.Events[0].Code != codes.ShipmentStatusRecorded {
		t.Fatalf("a stop of the latest dispatch: %+v", d)
	}
	if d := report(3, frame.StopDelivered); d.Code != "" || d.Event.Client != "urn:fifthwheel:client:new" || d.Event.Code != "D1" {
		t.Fatalf("a stop of the route update after it: %+v", d)
	}
	if d := report(9, frame.StopArrived); d.Code != codes.StopEventUnknownStop || len(d.Events) != 1 || d.Events[0].Verdict != "reject" {
		t.Fatalf("a stop of the earlier dispatch only: %+v", d)
	}
	if d := report(2, frame.StopArrived); d.Code != "" || d.Created || len(d.Events) != 0 {
		t.Fatalf("a resend: %+v", d)
	}
	f := &frame.Frame{VehicleID: "V2", Epoch: 1, Seq: 1, TS: t0, Body: &frame.StopEvent{TenderID: "L", StopSeq: 2, Status: frame.StopArrived, At: t0}}
	if d, err := svc.Report(context.Background(), principal.Principal{Kind: principal.Vehicle, ID: "V2"}, f); err != nil || d.Code != codes.StopEventNotDispatched {
		t.Fatalf("another vehicle: %+v, %v", d, err)
	}
	if _, err := svc.Report(context.Background(), principal.Principal{Kind: principal.Vehicle, ID: "V2"}, &frame.Frame{VehicleID: "V1", Body: f.Body}); err == nil {
		t.Fatal("a frame of another vehicle than the peer was decided")
	}
	st.err = errors.New("store down")
	if _, err := svc.Report(context.Background(), v1, &frame.Frame{VehicleID: "V1", Body: f.Body}); err == nil {
		t.Fatal("a store failure decided the stop event")
	}
}
