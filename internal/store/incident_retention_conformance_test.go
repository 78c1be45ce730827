package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// seedIncident stores incident id of vehicle T1, opened at opened, with
// two findings (<id>-f1, <id>-f2), three clocks, a note, a notification
// and a containment action; resolved at resolved unless that is zero (it
// is then contained, not resolved).
func seedIncident(t *testing.T, st store.Store, id string, opened, resolved time.Time) {
	t.Helper()
	inc := store.Incident{ID: id, SubjectKind: "vehicle", Subject: "T1", Title: "telemetry replay", Severity: 3,
		OpenedAt: opened, UpdatedAt: opened, LastFindingAt: opened, RuleIDs: []string{"replay"}}
	f1 := store.IncidentFinding{ID: id + "-f1", RuleID: "replay", Title: "replayed frame", Severity: 3, FirstAt: opened, At: opened, Count: 1,
		EventIDs: []string{id + "-ev1"}, Runbook: "Check the vehicle."}
	clocks := []store.IncidentClock{{Kind: store.ClockInternal, DueAt: opened.Add(15 * time.Minute)},
		{Kind: store.ClockCustomer, DueAt: opened.Add(time.Hour)}, {Kind: store.ClockRegulator, DueAt: opened.Add(72 * time.Hour)}}
	if err := st.CreateIncident(ctx, inc, f1, clocks, "urn:fifthwheel:system:gateway"); err != nil {
		t.Fatal(err)
	}
	at := opened.Add(time.Minute)
	f2 := store.IncidentFinding{ID: id + "-f2", RuleID: "bad_sig", Title: "signature failures", Severity: 4, FirstAt: at, At: at, Count: 3,
		EventIDs: []string{id + "-ev2"}}
	if err := st.AddIncidentFinding(ctx, id, f2, at); err != nil {
		t.Fatal(err)
	}
	ann := "urn:fifthwheel:operator:ann"
	if err := st.AddIncidentNote(ctx, store.IncidentNote{Incident: id, Actor: ann, At: at, Text: "looking"}); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordIncidentNotification(ctx, store.IncidentNotification{Incident: id, Clock: store.ClockCustomer, Channel: "email",
		Recipient: "ops@acme.example", At: at, Actor: ann}); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordIncidentContainment(ctx, store.IncidentContainment{Incident: id, Action: "hold_commands", Target: "T1", Actor: ann,
		At: at, Result: "done"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TransitionIncident(ctx, store.IncidentTransition{Incident: id, From: store.IncidentOpen, To: store.IncidentContained,
		At: at, Actor: ann, Reason: "held"}, store.ClockInternal); err != nil {
		t.Fatal(err)
	}
	if resolved.IsZero() {
		return
	}
	if _, err := st.TransitionIncident(ctx, store.IncidentTransition{Incident: id, From: store.IncidentContained, To: store.IncidentResolved,
		At: resolved, Actor: ann, Reason: "re-enrolled"}, ""); err != nil {
		t.Fatal(err)
	}
}

// assertPurgedEntirely checks that incident id and every row of it are
// gone: its id and its findings' ids are free, and an incident created
// again under the same id has only its own rows (a row left behind by the
// purge would show up in its record).
func assertPurgedEntirely(t *testing.T, st store.Store, id string, now time.Time) {
	t.Helper()
	if _, err := st.GetIncident(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%s after the purge: %v", id, err)
	}
	if _, err := st.IncidentRecord(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%s's record after the purge: %v", id, err)
	}
	for _, f := range []string{id + "-f1", id + "-f2"} {
		if got, err := st.IncidentOfFinding(ctx, f); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("finding %s still stored (in %q): %v", f, got, err)
		}
	}
	again := store.Incident{ID: id, SubjectKind: "vehicle", Subject: "T1", Title: "again", Severity: 1, OpenedAt: now, UpdatedAt: now, LastFindingAt: now}
	if err := st.CreateIncident(ctx, again, store.IncidentFinding{ID: id + "-f1", RuleID: "x", FirstAt: now, At: now, Count: 1}, nil, "a"); err != nil {
		t.Fatalf("%s created again: %v", id, err)
	}
	rec, err := st.IncidentRecord(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Findings) != 1 || len(rec.Transitions) != 1 || len(rec.Clocks) != 0 || len(rec.Notes) != 0 || len(rec.Notifications) != 0 ||
		len(rec.Containment) != 0 {
		t.Fatalf("rows of the purged %s left behind: %d findings, %d transitions, %d clocks, %d notes, %d notifications, %d containment",
			id, len(rec.Findings), len(rec.Transitions), len(rec.Clocks), len(rec.Notes), len(rec.Notifications), len(rec.Containment))
	}
}

// TestIncidentRetentionConformance: PurgeResolvedIncidents (migration
// 0019) deletes incidents resolved before the cut-off with every row of
// them, in bounded calls, earliest resolution first, and never an
// unresolved incident or one resolved since, on both engines.
func TestIncidentRetentionConformance(t *testing.T) {
	now := time.Date(2028, 12, 5, 10, 0, 0, 0, time.UTC)
	keep := 17520 * time.Hour
	cut := now.Add(-keep)
	years := func(n int) time.Time { return now.AddDate(-n, 0, 0) }

	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		t.Run("resolved_long_ago_purged_with_every_row", func(t *testing.T) {
			st := e.Open(t)
			seedIncident(t, st, "inc-old", years(4), years(3))
			if n, err := st.PurgeResolvedIncidents(ctx, cut, 0); err != nil || n != 1 {
				t.Fatalf("purge: %d, %v; want 1", n, err)
			}
			assertPurgedEntirely(t, st, "inc-old", now)
		})
		t.Run("unresolved_old_incident_kept", func(t *testing.T) {
			st := e.Open(t)
			seedIncident(t, st, "inc-open", years(5), time.Time{})
			if n, err := st.PurgeResolvedIncidents(ctx, now, 0); err != nil || n != 0 {
				t.Fatalf("purge up to now: %d, %v; want 0", n, err)
			}
			rec, err := st.IncidentRecord(ctx, "inc-open")
			if err != nil || rec.Incident.State != store.IncidentContained || len(rec.Findings) != 2 || len(rec.Notes) != 1 ||
				len(rec.Notifications) != 1 || len(rec.Containment) != 1 || len(rec.Transitions) != 2 || len(rec.Clocks) != 3 {
				t.Fatalf("the unresolved incident after the purge: %+v, %v", rec, err)
			}
		})
		t.Run("resolved_recently_kept", func(t *testing.T) {
			st := e.Open(t)
			// Opened long ago, resolved an hour ago: the retention counts
			// from the resolution, not from the opening.
			seedIncident(t, st, "inc-recent", years(5), now.Add(-time.Hour))
			// Resolved exactly at the cut-off: not before it, kept.
			seedIncident(t, st, "inc-edge", years(4), cut)
			if n, err := st.PurgeResolvedIncidents(ctx, cut, 0); err != nil || n != 0 {
				t.Fatalf("purge: %d, %v; want 0", n, err)
			}
			for _, id := range []string{"inc-recent", "inc-edge"} {
				if rec, err := st.IncidentRecord(ctx, id); err != nil || rec.Incident.State != store.IncidentResolved || len(rec.Findings) != 2 ||
					len(rec.Transitions) != 3 {
					t.Fatalf("%s after the purge: %+v, %v", id, rec, err)
				}
			}
		})
		t.Run("bounded_batch_earliest_resolution_first", func(t *testing.T) {
			st := e.Open(t)
			// Ids in the opposite order of their resolution, so an
			// order by id would purge the wrong ones first.
			for i := range 5 {
				seedIncident(t, st, fmt.Sprintf("inc-%d", 5-i), years(6), years(5).Add(time.Duration(i)*time.Hour))
			}
			seedIncident(t, st, "inc-new", years(6), now.Add(-time.Hour))
			if n, err := st.PurgeResolvedIncidents(ctx, cut, 2); err != nil || n != 2 {
				t.Fatalf("first call: %d, %v; want 2", n, err)
			}
			for _, id := range []string{"inc-5", "inc-4"} {
				if _, err := st.GetIncident(ctx, id); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("%s (resolved first) kept by the first call: %v", id, err)
				}
			}
			if _, err := st.GetIncident(ctx, "inc-3"); err != nil {
				t.Fatalf("inc-3 purged by a call bounded to 2: %v", err)
			}
			if n, err := st.PurgeResolvedIncidents(ctx, cut, 2); err != nil || n != 2 {
				t.Fatalf("second call: %d, %v; want 2", n, err)
			}
			if n, err := st.PurgeResolvedIncidents(ctx, cut, 2); err != nil || n != 1 {
				t.Fatalf("third call: %d, %v; want 1 (fewer than the limit: none left)", n, err)
			}
			if n, err := st.PurgeResolvedIncidents(ctx, cut, 2); err != nil || n != 0 {
				t.Fatalf("fourth call: %d, %v; want 0", n, err)
			}
			if left, err := st.ListIncidents(ctx, store.IncidentFilter{}); err != nil || len(left) != 1 || left[0].ID != "inc-new" {
				t.Fatalf("left: %+v, %v", left, err)
			}
		})
		t.Run("vehicle_hold_outlives_its_incident", func(t *testing.T) {
			st := e.Open(t)
			if err := st.CreateVehicle(ctx, store.Vehicle{ID: "T1", Status: store.VehicleActive, CreatedAt: years(6), Carrier: "acme"}); err != nil {
				t.Fatal(err)
			}
			seedIncident(t, st, "inc-held", years(4), years(3))
			h := store.VehicleHold{Vehicle: "T1", Incident: "inc-held", Actor: "urn:fifthwheel:operator:ann", At: years(4), Reason: "contain"}
			if err := st.SetVehicleHold(ctx, h); err != nil {
				t.Fatal(err)
			}
			if n, err := st.PurgeResolvedIncidents(ctx, cut, 0); err != nil || n != 1 {
				t.Fatalf("purge: %d, %v", n, err)
			}
			if got, err := st.GetVehicleHold(ctx, "T1"); err != nil || got != h {
				t.Fatalf("the hold after its incident was purged: %+v, %v", got, err)
			}
		})
	})
}

// TestMigration0019ResolvedFromTransitions: incidents resolved before
// migration 0019 take their resolution time from their transition to
// resolved, so the retention counts from it for them too.
func TestMigration0019ResolvedFromTransitions(t *testing.T) {
	now := time.Date(2028, 12, 5, 10, 0, 0, 0, time.UTC)
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		st := storetest.OpenConfig(t, cfg)
		seedIncident(t, st, "inc-old", now.AddDate(-4, 0, 0), now.AddDate(-3, 0, 0))
		seedIncident(t, st, "inc-recent", now.AddDate(-4, 0, 0), now.Add(-time.Hour))
		st.Close()
		// Back to schema version 18, as a binary before 0019 left it.
		for _, q := range [][2]string{
			{`DROP INDEX incidents_resolved`, `DROP INDEX incidents_resolved`},
			{`ALTER TABLE incidents DROP COLUMN resolved_us`, `ALTER TABLE incidents DROP COLUMN resolved`},
			{`DELETE FROM schema_migrations WHERE version >= 19`, `DELETE FROM schema_migrations WHERE version >= 19`},
		} {
			storetest.Exec(t, cfg, q[0], q[1])
		}
		st = storetest.OpenConfig(t, cfg)
		if n, err := st.PurgeResolvedIncidents(ctx, now.Add(-17520*time.Hour), 0); err != nil || n != 1 {
			t.Fatalf("purge after the migration: %d, %v; want 1", n, err)
		}
		if _, err := st.GetIncident(ctx, "inc-old"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("inc-old: %v", err)
		}
		if _, err := st.GetIncident(ctx, "inc-recent"); err != nil {
			t.Fatalf("inc-recent: %v", err)
		}
	})
}
