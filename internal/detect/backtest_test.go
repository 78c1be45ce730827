package detect

import (
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestBacktestFindsWithoutActing: on both engines, a backtest over a
// stored stream holding a replayed frame's event finds frame-replay about
// the truck, counts every event, and changes nothing: the same head, no
// event recorded (no detection_finding), no stream consumer created.
func TestBacktestFindsWithoutActing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		quiet := event.Event{Time: t0, Class: event.ClassSystem, Activity: "start", Code: codes.GatewayStarted, Actor: systemActor}
		replay := replayEvent("truck-3")
		replay.Time = t0.Add(time.Minute)
		rows := []store.EventRow{row(t, quiet), row(t, replay), row(t, quiet)}
		if err := st.AppendEvents(ctx, rows); err != nil {
			t.Fatal(err)
		}
		head, err := st.EventStreamHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Backtest(ctx, st, Shipped(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if res.Evaluated != 3 || res.From != 0 || res.To != head {
			t.Errorf("evaluated %d events after %d up to %d, want 3 after 0 up to %d", res.Evaluated, res.From, res.To, head)
		}
		if len(res.Findings) != 1 || res.ByRule["frame-replay"] != 1 || len(res.ByRule) != 1 {
			t.Fatalf("findings %+v by rule %v, want one frame-replay", res.Findings, res.ByRule)
		}
		if f := res.Findings[0]; f.Subject != "truck-3" || f.EventIDs[0] != rows[1].ID {
			t.Errorf("finding %+v, want one about truck-3 from the replay's event", f)
		}
		after, err := st.EventStreamHead(ctx)
		if err != nil || after != head {
			t.Errorf("head %d after the backtest, was %d (%v)", after, head, err)
		}
		if evs, err := st.ListEvents(ctx, store.EventFilter{}); err != nil || len(evs) != 3 {
			t.Errorf("%d events stored after the backtest, want the 3 (%v)", len(evs), err)
		}
		if cs, err := st.StreamConsumers(ctx); err != nil || len(cs) != 0 {
			t.Errorf("stream consumers after the backtest: %v (%v), want none", cs, err)
		}
		// From the replay's position on, nothing is left to find.
		res, err = Backtest(ctx, st, Shipped(), head-1)
		if err != nil || res.Evaluated != 1 || len(res.Findings) != 0 {
			t.Errorf("backtest from %d: %+v %v, want 1 event, no finding", head-1, res, err)
		}
	})
}

// TestStreamPosAt: the position after which the events at or after a time
// begin, found by the events' stored times.
func TestStreamPosAt(t *testing.T) {
	st := storetest.OpenConfig(t, storetest.SQLiteConfig(t))
	var rows []store.EventRow
	for i := range 5 {
		rows = append(rows, row(t, event.Event{Time: t0.Add(time.Duration(i) * time.Hour), Class: event.ClassSystem,
			Activity: "start", Code: codes.GatewayStarted, Actor: systemActor}))
	}
	if err := st.AppendEvents(ctx, rows); err != nil {
		t.Fatal(err)
	}
	evs, err := st.ReadEventStream(ctx, 0, 10)
	if err != nil || len(evs) != 5 {
		t.Fatal(evs, err)
	}
	for _, c := range []struct {
		at   time.Time
		want store.StreamPos
	}{
		{t0.Add(-time.Hour), 0},                // every event is that recent
		{t0, 0},                                // the first is at t
		{t0.Add(90 * time.Minute), evs[1].Pos}, // from the third on
		{t0.Add(4 * time.Hour), evs[3].Pos},    // only the last
		{t0.Add(5 * time.Hour), evs[4].Pos},    // none
	} {
		got, err := StreamPosAt(ctx, st, c.at)
		if err != nil || got != c.want {
			t.Errorf("StreamPosAt(%v) = %d %v, want %d", c.at.Sub(t0), got, err, c.want)
		}
	}
}
