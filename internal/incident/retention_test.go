package incident_test

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/incident"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

var gateway = principal.Principal{Kind: principal.System, ID: "gateway"}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestRetentionPurgesResolvedIncidentsOnly: on both engines, a run deletes
// every incident resolved more than the retention ago (more than one
// store call's worth), counted from the resolution, and records one
// incidents_purged event with the count; an incident opened as long ago
// but never resolved, and one resolved since, are kept; a second run
// deletes nothing and records nothing.
func TestRetentionPurgesResolvedIncidentsOnly(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se, incident.Config{GroupingWindow: time.Hour})
		old := store.IncidentPurgeBatch + 6
		for i := range old {
			e.report(t, finding(fmt.Sprintf("f-old-%d", i), "replay", fmt.Sprintf("V%03d", i), t0, false))
		}
		e.report(t, finding("f-open", "replay", "T1", t0, true))
		var openID string
		for _, inc := range e.all(t) {
			if inc.Subject == "T1" {
				openID = inc.ID
				continue
			}
			if _, err := e.m.Resolve(ctx, inc.ID, ann, "false positive"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.m.Acknowledge(ctx, openID, ann, "looking"); err != nil {
			t.Fatal(err)
		}
		// Two years later, one more incident opened long ago is resolved
		// now: its retention starts now.
		e.clk.advance(incident.DefaultRetention + time.Hour)
		e.report(t, finding("f-late", "replay", "T2", t0.Add(time.Minute), false))
		late, err := e.st.LatestUnresolvedIncident(ctx, "vehicle", "T2")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.m.Resolve(ctx, late.ID, ann, "contained and re-enrolled"); err != nil {
			t.Fatal(err)
		}

		r := &incident.Retention{Store: e.st, Events: event.NewBus(nil, nil, e.evs), Log: quietLog(), Actor: gateway, Keep: incident.DefaultRetention, Now: e.clk.now}
		if n := r.Once(ctx); n != old {
			t.Fatalf("purged %d, want %d", n, old)
		}
		if n := r.Once(ctx); n != 0 {
			t.Fatalf("second run purged %d", n)
		}
		evs := e.evs.ByCode(codes.IncidentsPurged)
		if len(evs) != 1 || evs[0].Attrs["incidents"] != old || evs[0].Attrs["via"] != "serve" || evs[0].Actor != gateway {
			t.Fatalf("incidents_purged events: %+v", evs)
		}
		left := e.all(t)
		if len(left) != 2 {
			t.Fatalf("%d incidents left, want the unresolved one and the one resolved now: %+v", len(left), left)
		}
		for _, inc := range left {
			if inc.ID != openID && inc.ID != late.ID {
				t.Fatalf("incident %s (%s) kept", inc.ID, inc.State)
			}
		}
		if v := e.view(t, openID); len(v.Findings) != 1 {
			t.Fatalf("the unresolved incident lost its findings: %+v", v.Findings)
		}
	})
}

// TestAttackShortRetentionErasesNothing: an insider who resolves an
// incident and sets the retention to an hour, to make it disappear, gets
// nothing deleted: configuration refuses a retention below a month
// (incidents.retention), and the retention itself refuses one too, as the
// last line before a delete.
func TestAttackShortRetentionErasesNothing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, se storetest.Engine) {
		e := newEnv(t, se, incident.Config{GroupingWindow: time.Hour})
		e.report(t, finding("f1", "replay", "T1", t0, false))
		inc := e.all(t)[0]
		if _, err := e.m.Resolve(ctx, inc.ID, ann, "nothing to see"); err != nil {
			t.Fatal(err)
		}
		e.clk.advance(2 * time.Hour)
		for _, keep := range []time.Duration{time.Hour, incident.MinRetention - time.Second, -time.Hour} {
			r := &incident.Retention{Store: e.st, Events: event.NewBus(nil, nil, e.evs), Log: quietLog(), Actor: gateway, Keep: keep, Now: e.clk.now}
			if n := r.Once(ctx); n != 0 {
				t.Fatalf("retention %v purged %d incidents", keep, n)
			}
		}
		if _, err := e.st.GetIncident(ctx, inc.ID); err != nil {
			t.Fatalf("the resolved incident: %v", err)
		}
		// Keep 0 is "keep forever", not "purge everything".
		e.clk.advance(10 * incident.DefaultRetention)
		r := &incident.Retention{Store: e.st, Events: event.NewBus(nil, nil, e.evs), Log: quietLog(), Actor: gateway, Keep: 0, Now: e.clk.now}
		if n := r.Once(ctx); n != 0 {
			t.Fatalf("retention 0 purged %d incidents", n)
		}
		if got := len(e.evs.ByCode(codes.IncidentsPurged)); got != 0 {
			t.Fatalf("%d incidents_purged events", got)
		}
	})
}
