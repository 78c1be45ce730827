package tmsapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
	"github.com/fifthwheel/fifthwheel/internal/tmsapi"
	"github.com/fifthwheel/fifthwheel/internal/tracking"
)

// acmeOtherClient is another TMS client of acme's carrier: it did not send
// acme-tms's tenders.
var acmeOtherClient = authz.Caller{Principal: principal.Principal{Kind: principal.Client, ID: "acme-tms-2"}, Carrier: "acme",
	Roles: []authz.Role{authz.Dispatcher}, Scopes: []authz.Scope{authz.CommandsRead}}

// accept moves a queued command through delivered to accepted, as the
// vehicle's signed answer does.
func (e *env) accept(id, vehicle string) {
	e.t.Helper()
	ctx := context.Background()
	for _, s := range [][2]store.CommandState{{store.CommandQueued, store.CommandDelivered}, {store.CommandDelivered, store.CommandAccepted}} {
		if _, err := e.st.TransitionCommand(ctx, store.CommandTransition{ID: id, From: s[0], To: s[1], At: e.clk.now(),
			Actor: "urn:fifthwheel:vehicle:" + vehicle, Reason: "test"}); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) tenderEvents(c authz.Caller, tender string) resp {
	return e.do(call{caller: c, method: http.MethodGet, path: "/v1/tenders/" + tender + "/events"})
}

// TestTenderEvents: the tender's client reads the shipment status events
// tracking recorded from its vehicle's stop events, oldest first with
// their 214 codes, and the vehicle's latest ETA; before any, an empty list.
func TestTenderEvents(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("LOAD-T", false)
		id := e.dispatch("LOAD-T", "TRK-1")
		r := e.tenderEvents(acmeDispatcher, "LOAD-T")
		want(t, r, http.StatusOK, "")
		var got tmsapi.TenderEvents
		if err := json.Unmarshal(r.body, &got); err != nil || got.TenderID != "LOAD-T" || len(got.Events) != 0 || got.ETA != nil {
			t.Fatalf("before any event: %s", r.body)
		}
		e.accept(id, "TRK-1")
		svc, err := tracking.New(e.st, e.clk.now)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 12, 6, 8, 30, 0, 0, time.UTC)
		// Reported out of order (the departure first): read oldest first.
		for i, s := range []struct {
			stop   uint64
			status frame.StopStatus
			at     time.Time
		}{{1, frame.StopDeparted, t0.Add(time.Hour)}, {1, frame.StopArrived, t0}, {2, frame.StopDelivered, t0.Add(8 * time.Hour)}} {
			f := &frame.Frame{VehicleID: "TRK-1", Epoch: 1, Seq: uint64(10 + i), TS: s.at,
				Body: &frame.StopEvent{TenderID: "LOAD-T", StopSeq: s.stop, Status: s.status, At: s.at, Lat: 29.7, Lon: -95.3}}
			d, err := svc.Report(context.Background(), principal.Principal{Kind: principal.Vehicle, ID: "TRK-1"}, f)
			if err != nil || d.Code != "" || !d.Created {
				t.Fatalf("stop event %d: %+v, %v", i, d, err)
			}
		}
		if err := e.st.PutETAs(context.Background(), []store.ETA{{Vehicle: "TRK-1", TenderID: "LOAD-T", StopSeq: 2, At: t0.Add(7 * time.Hour), ReportedAt: t0.Add(2 * time.Hour)}}); err != nil {
			t.Fatal(err)
		}
		r = e.tenderEvents(acmeDispatcher, "LOAD-T")
		want(t, r, http.StatusOK, "")
		got = tmsapi.TenderEvents{}
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Events) != 3 {
			t.Fatalf("%d events: %s", len(got.Events), r.body)
		}
		for i, w := range []string{"X3", "AF", "D1"} {
			if ev := got.Events[i]; ev.Code != w || ev.VehicleID != "TRK-1" || ev.ReceivedAt.IsZero() {
				t.Fatalf("event %d: %+v, want %s", i, ev, w)
			}
		}
		if got.ETA == nil || got.ETA.VehicleID != "TRK-1" || got.ETA.StopSeq != 2 || !got.ETA.At.Equal(t0.Add(7*time.Hour)) {
			t.Fatalf("eta: %+v", got.ETA)
		}
	})
}

// TestAttackOtherClientReadsTenderEvents: another carrier's client, and
// another client of the same carrier, reading a tender's events get 404
// exactly as for an unknown tender, and learn nothing of its events.
func TestAttackOtherClientReadsTenderEvents(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("LOAD-S", false)
		id := e.dispatch("LOAD-S", "TRK-1")
		e.accept(id, "TRK-1")
		svc, _ := tracking.New(e.st, e.clk.now)
		f := &frame.Frame{VehicleID: "TRK-1", Epoch: 1, Seq: 1, TS: e.clk.now(),
			Body: &frame.StopEvent{TenderID: "LOAD-S", StopSeq: 1, Status: frame.StopArrived, At: e.clk.now(), Lat: 29.7, Lon: -95.3}}
		if d, err := svc.Report(context.Background(), principal.Principal{Kind: principal.Vehicle, ID: "TRK-1"}, f); err != nil || d.Code != "" {
			t.Fatalf("stop event: %+v, %v", d, err)
		}
		unknown := e.tenderEvents(acmeDispatcher, "LOAD-NONE")
		want(t, unknown, http.StatusNotFound, "not_found")
		for name, c := range map[string]authz.Caller{"another carrier": globexDispatcher, "another client of the carrier": acmeOtherClient} {
			r := e.tenderEvents(c, "LOAD-S")
			want(t, r, http.StatusNotFound, "not_found")
			if r.json(t)["detail"] != unknown.json(t)["detail"] {
				t.Fatalf("%s: the 404 differs from an unknown tender's: %s vs %s", name, r.body, unknown.body)
			}
		}
	})
}
