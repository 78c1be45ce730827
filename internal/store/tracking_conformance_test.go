package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestTrackingConformance: shipment status events and ETAs (migration
// 0012) on both engines: the accepted load commands of a vehicle, a
// resent stop event stored once, events read per client and tender
// oldest first, the latest ETA kept (never replaced by an older report),
// a vehicle's ETAs bounded, and the migration running again.
func TestTrackingConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		st := storetest.OpenConfig(t, cfg)
		const acme, other = "urn:fifthwheel:client:acme", "urn:fifthwheel:client:other"

		// AcceptedLoadCommands: only this vehicle's accepted dispatch and
		// route_update commands of this tender.
		n := 0
		mk := func(id, vehicle, typ, tender string, accept bool) {
			c := newCmd(id, vehicle, "acme-freight")
			n++
			c.Type, c.TenderID, c.CreatedAt = typ, tender, cmdT0.Add(time.Duration(n)*time.Second)
			mustCreate(t, st, c)
			if !accept {
				return
			}
			approveAndQueue(t, st, id)
			for _, s := range [][2]store.CommandState{{store.CommandQueued, store.CommandDelivered}, {store.CommandDelivered, store.CommandAccepted}} {
				if _, err := st.TransitionCommand(ctx, step(id, s[0], s[1], "urn:fifthwheel:vehicle:"+vehicle)); err != nil {
					t.Fatal(err)
				}
			}
		}
		mk("d1", "TRK-1", "dispatch", "T1", true)
		mk("r1", "TRK-1", "route_update", "T1", true)
		mk("d2", "TRK-1", "dispatch", "T2", false) // not accepted
		mk("d3", "TRK-2", "dispatch", "T1", true)  // another vehicle
		mk("t1", "TRK-1", "tender", "T1", true)    // not a dispatch
		got, err := st.AcceptedLoadCommands(ctx, "TRK-1", "T1")
		if err != nil || len(got) != 2 || got[0].ID != "d1" || got[1].ID != "r1" {
			t.Fatalf("AcceptedLoadCommands(TRK-1, T1) = %v, %v; want d1, r1", commandIDs(got), err)
		}
		if got, err := st.AcceptedLoadCommands(ctx, "TRK-1", "T2"); err != nil || len(got) != 0 {
			t.Fatalf("a load not accepted: %v, %v", commandIDs(got), err)
		}
		if got, err := st.AcceptedLoadCommands(ctx, "TRK-3", "T1"); err != nil || len(got) != 0 {
			t.Fatalf("a vehicle never dispatched: %v, %v", commandIDs(got), err)
		}

		// TenderVehicles: the vehicles of the client's accepted dispatches.
		if vs, err := st.TenderVehicles(ctx, acme, "T1"); err != nil || len(vs) != 2 || vs[0] != "TRK-2" || vs[1] != "TRK-1" {
			t.Fatalf("TenderVehicles(acme, T1) = %v, %v; want [TRK-2 TRK-1]", vs, err)
		}
		for _, c := range [][2]string{{other, "T1"}, {acme, "T2"}, {acme, "T9"}} {
			if vs, err := st.TenderVehicles(ctx, c[0], c[1]); err != nil || len(vs) != 0 {
				t.Fatalf("TenderVehicles(%s, %s) = %v, %v; want none", c[0], c[1], vs, err)
			}
		}

		t0 := time.Date(2026, 12, 5, 14, 0, 0, 123e6, time.UTC)
		ev := func(stop int64, status, code string, at time.Time) store.ShipmentEvent {
			return store.ShipmentEvent{Client: acme, TenderID: "T1", Vehicle: "TRK-1", StopSeq: stop, Status: status, Code: code,
				At: at, Lat: 41.5, Lon: -88.08, Epoch: 3, Seq: 100 + stop, ReceivedAt: at.Add(time.Second)}
		}
		if evs, err := st.ShipmentEvents(ctx, acme, "T1", 0); err != nil || len(evs) != 0 {
			t.Fatalf("events before any: %v, %v", evs, err)
		}
		first, created, err := st.RecordShipmentEvent(ctx, ev(1, "arrived", "X3", t0))
		if err != nil || !created || first.ID == 0 || first.Code != "X3" || !first.At.Equal(t0) || first.Lat != 41.5 || first.Seq != 101 {
			t.Fatalf("RecordShipmentEvent: %+v, %v, %v", first, created, err)
		}
		// A resend (other frame, other time) is the same event: stored once,
		// the first one returned.
		again := ev(1, "arrived", "X3", t0.Add(time.Minute))
		again.Seq = 999
		dup, created, err := st.RecordShipmentEvent(ctx, again)
		if err != nil || created || dup.ID != first.ID || !dup.At.Equal(t0) || dup.Seq != 101 {
			t.Fatalf("a resent stop event: %+v, created %v, %v", dup, created, err)
		}
		// Reported out of order: read back by the time it happened.
		if _, created, err := st.RecordShipmentEvent(ctx, ev(2, "delivered", "D1", t0.Add(2*time.Hour))); err != nil || !created {
			t.Fatal(created, err)
		}
		if _, created, err := st.RecordShipmentEvent(ctx, ev(1, "departed", "AF", t0.Add(time.Hour))); err != nil || !created {
			t.Fatal(created, err)
		}
		// Another client's tender of the same id is another load.
		o := ev(1, "arrived", "X3", t0)
		o.Client = other
		if _, created, err := st.RecordShipmentEvent(ctx, o); err != nil || !created {
			t.Fatal(created, err)
		}
		evs, err := st.ShipmentEvents(ctx, acme, "T1", 0)
		if err != nil || len(evs) != 3 {
			t.Fatalf("ShipmentEvents: %v, %v", evs, err)
		}
		for i, want := range []string{"X3", "AF", "D1"} {
			if evs[i].Code != want || evs[i].Client != acme {
				t.Fatalf("event %d: %+v, want code %s", i, evs[i], want)
			}
		}
		if evs, _ := st.ShipmentEvents(ctx, other, "T1", 0); len(evs) != 1 {
			t.Fatalf("the other client's events: %v", evs)
		}
		if evs, _ := st.ShipmentEvents(ctx, acme, "T1", 2); len(evs) != 2 {
			t.Fatalf("limit 2: %d events", len(evs))
		}

		// ETAs: the latest report wins, an older one (backfill) does not.
		eta := store.ETA{Vehicle: "TRK-1", TenderID: "T1", StopSeq: 2, At: t0.Add(3 * time.Hour), ReportedAt: t0.Add(time.Minute)}
		if _, err := st.GetETA(ctx, "TRK-1", "T1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("ETA before any: %v", err)
		}
		if err := st.PutETAs(ctx, []store.ETA{eta}); err != nil {
			t.Fatal(err)
		}
		older := eta
		older.At, older.ReportedAt, older.StopSeq = t0.Add(9*time.Hour), t0, 1
		newer := eta
		newer.At, newer.ReportedAt = t0.Add(4*time.Hour), t0.Add(2*time.Minute)
		if err := st.PutETAs(ctx, []store.ETA{newer, older}); err != nil {
			t.Fatal(err)
		}
		if got, err := st.GetETA(ctx, "TRK-1", "T1"); err != nil || !got.At.Equal(newer.At) || !got.ReportedAt.Equal(newer.ReportedAt) || got.StopSeq != 2 {
			t.Fatalf("GetETA: %+v, %v; want the newer report", got, err)
		}
		// Bounded: a vehicle reporting ETAs for many loads keeps its most
		// recent MaxETAsPerVehicle; other vehicles' are untouched.
		if err := st.PutETAs(ctx, []store.ETA{{Vehicle: "TRK-2", TenderID: "T1", StopSeq: 1, At: t0, ReportedAt: t0}}); err != nil {
			t.Fatal(err)
		}
		var many []store.ETA
		for i := range store.MaxETAsPerVehicle + 5 {
			many = append(many, store.ETA{Vehicle: "TRK-1", TenderID: fmt.Sprintf("X%02d", i), StopSeq: 1, At: t0, ReportedAt: t0.Add(time.Hour + time.Duration(i)*time.Second)})
		}
		if err := st.PutETAs(ctx, many); err != nil {
			t.Fatal(err)
		}
		n = 0
		for _, e := range append(many, eta) {
			if _, err := st.GetETA(ctx, "TRK-1", e.TenderID); err == nil {
				n++
			}
		}
		if n != store.MaxETAsPerVehicle {
			t.Fatalf("TRK-1 keeps %d ETAs, want %d", n, store.MaxETAsPerVehicle)
		}
		if _, err := st.GetETA(ctx, "TRK-1", "T1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the oldest ETA was kept: %v", err)
		}
		if _, err := st.GetETA(ctx, "TRK-1", many[len(many)-1].TenderID); err != nil {
			t.Fatalf("the newest ETA was dropped: %v", err)
		}
		if _, err := st.GetETA(ctx, "TRK-2", "T1"); err != nil {
			t.Fatalf("another vehicle's ETA was dropped: %v", err)
		}

		// Migration 0012 runs again and keeps the rows.
		st.Close()
		storetest.Exec(t, cfg, `DELETE FROM schema_migrations WHERE version >= 12`, `DELETE FROM schema_migrations WHERE version >= 12`)
		st = storetest.OpenConfig(t, cfg)
		if v, err := st.SchemaVersion(ctx); err != nil || v != store.LatestVersion() || v < 12 {
			t.Fatalf("schema version %d, %v", v, err)
		}
		if evs, err := st.ShipmentEvents(ctx, acme, "T1", 0); err != nil || len(evs) != 3 {
			t.Fatalf("after the migration ran again: %v, %v", evs, err)
		}
	})
}

func commandIDs(cs []store.Command) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}
