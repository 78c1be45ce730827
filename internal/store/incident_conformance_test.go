package store_test

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestIncidentConformance: incidents, their findings (stored once),
// lifecycle, clocks, notifications, containment and vehicle holds
// (migration 0017) on both engines.
func TestIncidentConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
		inc := store.Incident{ID: "inc-1", SubjectKind: "vehicle", Subject: "T1", Title: "telemetry replay", Severity: 3, Safety: false,
			OpenedAt: t0, UpdatedAt: t0, LastFindingAt: t0, RuleIDs: []string{"replay"}}
		f1 := store.IncidentFinding{ID: "f1", RuleID: "replay", Title: "replayed frame", Severity: 3, FirstAt: t0, At: t0, Count: 1,
			EventIDs: []string{"ev-1"}, Runbook: "Check the vehicle's clock."}
		clocks := []store.IncidentClock{{Kind: store.ClockInternal, DueAt: t0.Add(15 * time.Minute)}, {Kind: store.ClockCustomer, DueAt: t0.Add(time.Hour)},
			{Kind: store.ClockRegulator, DueAt: t0.Add(72 * time.Hour)}}
		if _, err := st.LatestUnresolvedIncident(ctx, "vehicle", "T1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("no incident yet: %v", err)
		}
		if err := st.CreateIncident(ctx, inc, f1, clocks, "urn:fifthwheel:system:gateway"); err != nil {
			t.Fatal(err)
		}
		// The same id again, or another incident with a stored finding:
		// ErrConflict and nothing stored.
		if err := st.CreateIncident(ctx, inc, store.IncidentFinding{ID: "f-other", RuleID: "x", At: t0, FirstAt: t0}, nil, "a"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate incident id: %v", err)
		}
		dup := inc
		dup.ID = "inc-0"
		if err := st.CreateIncident(ctx, dup, f1, clocks, "a"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a stored finding in a new incident: %v", err)
		}
		if _, err := st.GetIncident(ctx, "inc-0"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the refused incident was stored: %v", err)
		}
		if id, err := st.IncidentOfFinding(ctx, "f-other"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the refused finding was stored in %q: %v", id, err)
		}
		got, err := st.GetIncident(ctx, "inc-1")
		if err != nil || got.State != store.IncidentOpen || !got.OpenedAt.Equal(t0) || !reflect.DeepEqual(got.RuleIDs, []string{"replay"}) || got.Severity != 3 {
			t.Fatalf("GetIncident: %+v, %v", got, err)
		}
		// A second finding raises severity and safety, adds its rule, moves
		// the last finding time; the same finding again is ErrConflict.
		f2 := store.IncidentFinding{ID: "f2", RuleID: "bad_sig", Title: "signature failures", Severity: 4, Safety: true, FirstAt: t0.Add(time.Minute),
			At: t0.Add(2 * time.Minute), Count: 3, EventIDs: []string{"ev-2", "ev-3", "ev-4"}, Runbook: "Revoke if it persists."}
		if err := st.AddIncidentFinding(ctx, "inc-1", f2, t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := st.AddIncidentFinding(ctx, "inc-1", f2, t0.Add(3*time.Minute)); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("the same finding twice: %v", err)
		}
		if err := st.AddIncidentFinding(ctx, "ghost", store.IncidentFinding{ID: "f9", At: t0, FirstAt: t0}, t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a finding for an unknown incident: %v", err)
		}
		got, _ = st.GetIncident(ctx, "inc-1")
		if got.Severity != 4 || !got.Safety || !reflect.DeepEqual(got.RuleIDs, []string{"bad_sig", "replay"}) || !got.LastFindingAt.Equal(f2.At) || !got.UpdatedAt.Equal(t0.Add(2*time.Minute)) {
			t.Fatalf("after the second finding: %+v", got)
		}
		if id, err := st.IncidentOfFinding(ctx, "f2"); err != nil || id != "inc-1" {
			t.Fatalf("IncidentOfFinding: %q, %v", id, err)
		}
		if u, err := st.LatestUnresolvedIncident(ctx, "vehicle", "T1"); err != nil || u.ID != "inc-1" {
			t.Fatalf("LatestUnresolvedIncident: %+v, %v", u, err)
		}

		// Lifecycle: conditional transitions; the loser of a race gets
		// ErrConflict and changes nothing.
		ack := store.IncidentTransition{Incident: "inc-1", From: store.IncidentOpen, To: store.IncidentAcknowledged, At: t0.Add(5 * time.Minute),
			Actor: "urn:fifthwheel:operator:ann", Reason: "looking"}
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); _, errs[i] = st.TransitionIncident(ctx, ack, store.ClockInternal) }()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrConflict):
				t.Fatalf("a concurrent ack: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d concurrent acks won, want 1", won)
		}
		if _, err := st.TransitionIncident(ctx, store.IncidentTransition{Incident: "ghost", From: store.IncidentOpen, To: store.IncidentAcknowledged, At: t0}, ""); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("transition of an unknown incident: %v", err)
		}

		// Notes, notifications (which mark their clock done), containment.
		if err := st.AddIncidentNote(ctx, store.IncidentNote{Incident: "inc-1", Actor: "urn:fifthwheel:operator:ann", At: t0.Add(6 * time.Minute), Text: "called the driver"}); err != nil {
			t.Fatal(err)
		}
		if err := st.AddIncidentNote(ctx, store.IncidentNote{Incident: "ghost", At: t0}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("note on an unknown incident: %v", err)
		}
		nt := store.IncidentNotification{Incident: "inc-1", Clock: store.ClockCustomer, Channel: "email", Recipient: "ops@acme.example",
			At: t0.Add(40 * time.Minute), Actor: "urn:fifthwheel:operator:ann", Reference: "TICKET-1"}
		if err := st.RecordIncidentNotification(ctx, nt); err != nil {
			t.Fatal(err)
		}
		bad := nt
		bad.Clock = store.ClockRegulatorEarlyWarning // this incident has no early warning clock
		if err := st.RecordIncidentNotification(ctx, bad); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a notification of a clock the incident lacks: %v", err)
		}
		cn := store.IncidentContainment{Incident: "inc-1", Action: "hold_commands", Target: "T1", Actor: "urn:fifthwheel:operator:ann", At: t0.Add(7 * time.Minute), Result: "done"}
		if err := st.RecordIncidentContainment(ctx, cn); err != nil {
			t.Fatal(err)
		}

		// Due clocks: internal is done (the ack), customer is done (the
		// notification); regulator is due at 72 h.
		if due, err := st.DueIncidentClocks(ctx, t0.Add(2*time.Hour), 0); err != nil || len(due) != 0 {
			t.Fatalf("due at 2 h: %+v, %v", due, err)
		}
		later := t0.Add(73 * time.Hour)
		due, err := st.DueIncidentClocks(ctx, later, 0)
		if err != nil || len(due) != 1 || due[0].Kind != store.ClockRegulator || due[0].Incident != "inc-1" {
			t.Fatalf("due at 73 h: %+v, %v", due, err)
		}
		esc := store.IncidentNotification{Incident: "inc-1", Clock: store.ClockRegulator, Channel: "escalation", Recipient: "security_admin",
			At: later, Actor: "urn:fifthwheel:system:gateway"}
		// Escalated once, by whichever replica is first.
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = st.EscalateIncidentClock(ctx, esc) }()
		}
		wg.Wait()
		won = 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrConflict):
				t.Fatalf("a concurrent escalation: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d escalations won, want 1", won)
		}
		if due, _ := st.DueIncidentClocks(ctx, later, 0); len(due) != 0 {
			t.Fatalf("an escalated clock is still due: %+v", due)
		}
		if err := st.EscalateIncidentClock(ctx, store.IncidentNotification{Incident: "inc-1", Clock: store.ClockRegulatorEarlyWarning, At: later}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("escalating a clock the incident lacks: %v", err)
		}

		rec, err := st.IncidentRecord(ctx, "inc-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Findings) != 2 || rec.Findings[0].ID != "f1" || rec.Findings[1].ID != "f2" || !reflect.DeepEqual(rec.Findings[1].EventIDs, f2.EventIDs) ||
			rec.Findings[1].Runbook != f2.Runbook || !rec.Findings[1].At.Equal(f2.At) || !rec.Findings[1].Safety || rec.Findings[1].Count != 3 {
			t.Fatalf("findings: %+v", rec.Findings)
		}
		if len(rec.Clocks) != 3 || rec.Clocks[0].Kind != store.ClockInternal || !rec.Clocks[0].DoneAt.Equal(ack.At) ||
			!rec.Clocks[1].DoneAt.Equal(nt.At) || !rec.Clocks[2].EscalatedAt.Equal(later) || !rec.Clocks[2].DoneAt.IsZero() {
			t.Fatalf("clocks: %+v", rec.Clocks)
		}
		if len(rec.Transitions) != 2 || rec.Transitions[0].To != store.IncidentOpen || rec.Transitions[1].To != store.IncidentAcknowledged ||
			rec.Transitions[1].Actor != ack.Actor || rec.Transitions[1].Reason != "looking" {
			t.Fatalf("transitions: %+v", rec.Transitions)
		}
		if len(rec.Notes) != 1 || rec.Notes[0].Text != "called the driver" {
			t.Fatalf("notes: %+v", rec.Notes)
		}
		if len(rec.Notifications) != 2 || rec.Notifications[0] != nt || rec.Notifications[1] != esc {
			t.Fatalf("notifications: %+v", rec.Notifications)
		}
		if len(rec.Containment) != 1 || rec.Containment[0] != cn {
			t.Fatalf("containment: %+v", rec.Containment)
		}
		if _, err := st.IncidentRecord(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("record of an unknown incident: %v", err)
		}

		// A resolved incident is no longer the subject's open one, and its
		// clocks are never due.
		inc2 := store.Incident{ID: "inc-2", SubjectKind: "client", Subject: "acme", Title: "x", Severity: 2, OpenedAt: t0, UpdatedAt: t0, LastFindingAt: t0}
		if err := st.CreateIncident(ctx, inc2, store.IncidentFinding{ID: "f3", RuleID: "r", FirstAt: t0, At: t0}, []store.IncidentClock{{Kind: store.ClockInternal, DueAt: t0}}, "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.TransitionIncident(ctx, store.IncidentTransition{Incident: "inc-2", From: store.IncidentOpen, To: store.IncidentResolved, At: t0, Actor: "a", Reason: "false positive"}, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := st.LatestUnresolvedIncident(ctx, "client", "acme"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a resolved incident is still the open one: %v", err)
		}
		if due, _ := st.DueIncidentClocks(ctx, later, 0); len(due) != 0 {
			t.Fatalf("a resolved incident's clock is due: %+v", due)
		}
		// Listing: by id, filtered by state, with a cursor.
		all, err := st.ListIncidents(ctx, store.IncidentFilter{})
		if err != nil || len(all) != 2 || all[0].ID != "inc-1" || all[1].ID != "inc-2" {
			t.Fatalf("ListIncidents: %+v, %v", all, err)
		}
		if res, _ := st.ListIncidents(ctx, store.IncidentFilter{State: store.IncidentResolved}); len(res) != 1 || res[0].ID != "inc-2" {
			t.Fatalf("resolved: %+v", res)
		}
		if page, _ := st.ListIncidents(ctx, store.IncidentFilter{After: "inc-1", Limit: 1}); len(page) != 1 || page[0].ID != "inc-2" {
			t.Fatalf("after inc-1: %+v", page)
		}
	})
}

// TestVehicleHoldConformance: a held vehicle's queued commands are never
// delivered (the delivery transition refuses with ErrVehicleHeld and the
// command stays queued) until the hold is released.
func TestVehicleHoldConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
		if err := st.CreateVehicle(ctx, store.Vehicle{ID: "T1", Status: store.VehicleActive, CreatedAt: t0, Carrier: "acme"}); err != nil {
			t.Fatal(err)
		}
		c := store.Command{ID: "cmd-1", Vehicle: "T1", Carrier: "acme", RequestedBy: "urn:fifthwheel:client:acme", Type: "dispatch", Payload: []byte(`{}`),
			RiskClass: "low", State: store.CommandApproved, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0, UpdatedAt: t0}
		if err := st.CreateCommand(ctx, c, c.RequestedBy, "requested", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := st.QueueCommand(ctx, store.CommandTransition{ID: "cmd-1", From: store.CommandApproved, At: t0, Actor: "sys"}, []byte("nonce-0123456789"), t0); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetVehicleHold(ctx, "T1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("hold before one was set: %v", err)
		}
		h := store.VehicleHold{Vehicle: "T1", Incident: "inc-1", Actor: "urn:fifthwheel:operator:ann", At: t0, Reason: "contain"}
		if err := st.SetVehicleHold(ctx, h); err != nil {
			t.Fatal(err)
		}
		if err := st.SetVehicleHold(ctx, h); err != nil {
			t.Fatalf("holding again: %v", err)
		}
		if err := st.SetVehicleHold(ctx, store.VehicleHold{Vehicle: "ghost", At: t0}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("hold on an unknown vehicle: %v", err)
		}
		if got, err := st.GetVehicleHold(ctx, "T1"); err != nil || got != h {
			t.Fatalf("GetVehicleHold: %+v, %v", got, err)
		}
		deliver := store.CommandTransition{ID: "cmd-1", From: store.CommandQueued, To: store.CommandDelivered, At: t0.Add(time.Second), Actor: "sys", DeliveredBy: "r1"}
		if _, err := st.TransitionCommand(ctx, deliver); !errors.Is(err, store.ErrVehicleHeld) {
			t.Fatalf("delivery to a held vehicle: %v, want ErrVehicleHeld", err)
		}
		if got, _ := st.GetCommand(ctx, "cmd-1"); got.State != store.CommandQueued {
			t.Fatalf("the held command is %s, want queued", got.State)
		}
		// Other transitions are not held: a held command may be cancelled.
		if err := st.ReleaseVehicleHold(ctx, "T1"); err != nil {
			t.Fatal(err)
		}
		if err := st.ReleaseVehicleHold(ctx, "T1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("releasing twice: %v", err)
		}
		if got, err := st.TransitionCommand(ctx, deliver); err != nil || got.State != store.CommandDelivered {
			t.Fatalf("delivery after release: %+v, %v", got, err)
		}
	})
}
