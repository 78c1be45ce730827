package ingest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestAcceptedFramesAreSummarizedNotEvents (invariant 7): an accepted
// frame is recorded by its frame row and no event of its own; each
// vehicle's stored frames become exactly one frames_accepted_summary per
// interval, with the right counts and bounds, and the interval in progress
// is recorded by Close. Findings stay events, committed in their frame's
// transaction; duplicates and refusals stay events.
func TestAcceptedFramesAreSummarizedNotEvents(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		f := newFleet(t, e.Open(t))
		start := f.now
		f.enroll("T1", "k1")
		f.enrollHS256("T1", "hs")
		f.enroll("T2", "k2")
		t1, t2 := vehicle("T1"), vehicle("T2")

		// Interval 1. T1: two backfilled frames ten minutes old, then live
		// telemetry, a heartbeat, an HS256 frame and a frame without a GNSS
		// fix (a finding); a re-send (duplicate) and a replay (refused)
		// are not counted. T2: two live frames.
		old := f.now.Add(-10 * time.Minute)
		f.mustAccept(t, t1, Backfill, f.sign("T1", "k1", telemetry("T1", 0, 0, old)), f.sign("T1", "k1", telemetry("T1", 0, 1, old.Add(time.Second))))
		live2 := f.sign("T1", "k1", telemetry("T1", 0, 2, f.now.Add(-2*time.Second)))
		noFix := telemetry("T1", 0, 5, f.now)
		noFix.Body.(*frame.Telemetry).GNSS.Fix = frame.FixNone
		res := f.mustAccept(t, t1, Live, live2,
			f.sign("T1", "k1", &frame.Frame{VehicleID: "T1", Epoch: 0, Seq: 3, TS: f.now.Add(-time.Second), Body: &frame.Heartbeat{State: frame.StateDriving}}),
			f.sign("T1", "hs", telemetry("T1", 0, 4, f.now.Add(-time.Second))),
			f.sign("T1", "k1", noFix))
		if !reflect.DeepEqual(res[3].Findings, []string{codes.GNSSFixLost}) {
			t.Fatalf("fixture: the frame without a fix has findings %v", res[3].Findings)
		}
		if r := f.send(t1, Live, live2); !r[0].Duplicate {
			t.Fatalf("fixture: re-send %+v", r[0])
		}
		f.expectReject(t, t1, Live, f.sign("T1", "k1", telemetry("T1", 0, 1, f.now)), codes.Replay)
		f.mustAccept(t, t2, Live, f.sign("T2", "k2", telemetry("T2", 0, 7, f.now)), f.sign("T2", "k2", telemetry("T2", 0, 8, f.now)))

		// No event for any accepted frame: only the refusal, the
		// duplicate and the finding were recorded.
		var codesSeen []string
		for _, ev := range f.mem.Events() {
			codesSeen = append(codesSeen, ev.Code)
		}
		if want := []string{codes.GNSSFixLost, codes.FrameDuplicate, codes.Replay}; !reflect.DeepEqual(codesSeen, want) {
			t.Fatalf("events %v, want only %v: an accepted frame is recorded by its row, not an event", codesSeen, want)
		}
		// The finding went into the store through its frame's transaction:
		// the bus has no store sink, so AppendFrames wrote this row.
		if rows, err := f.st.ListEvents(context.Background(), store.EventFilter{Code: codes.GNSSFixLost}); err != nil || len(rows) != 1 {
			t.Fatalf("finding rows in the store: %d, %v; want 1, written with its frame", len(rows), err)
		}
		if rows, _ := f.st.ListEvents(context.Background(), store.EventFilter{}); len(rows) != 1 {
			t.Fatalf("%d event rows written with frames, want only the finding", len(rows))
		}

		f.now = f.now.Add(time.Minute)
		end1 := f.now
		sums := f.closeInterval()
		if len(sums) != 2 {
			t.Fatalf("%d summaries, want one per vehicle with frames: %v", len(sums), sums)
		}
		wantSummary(t, sums["T1"], map[string]any{
			"frames":                 int64(6),
			"by_kind":                map[string]any{"telemetry": int64(5), "heartbeat": int64(1)},
			"by_source":              map[string]any{"backfill": int64(2), "live": int64(4)},
			"by_assurance":           map[string]any{"high": int64(5), "low": int64(1)},
			"accepted_with_findings": int64(1),
			"first_epoch":            int64(0), "first_seq": int64(0), "last_epoch": int64(0), "last_seq": int64(5),
			"first_ts": rfc3339(old), "last_ts": rfc3339(start),
			"interval_start": rfc3339(start), "interval_end": rfc3339(end1),
		})
		wantSummary(t, sums["T2"], map[string]any{
			"frames": int64(2), "by_kind": map[string]any{"telemetry": int64(2)}, "by_source": map[string]any{"live": int64(2)},
			"by_assurance": map[string]any{"high": int64(2)}, "accepted_with_findings": int64(0),
			"first_epoch": int64(0), "first_seq": int64(7), "last_epoch": int64(0), "last_seq": int64(8),
			"first_ts": rfc3339(start), "last_ts": rfc3339(start),
			"interval_start": rfc3339(start), "interval_end": rfc3339(end1),
		})
		if ev := sums["T1"]; ev.Actor != t1 || ev.Resource != t1.String() || ev.Verdict != event.Accept || ev.Class != event.ClassTelemetry {
			t.Fatalf("summary event %+v", ev)
		}

		// Interval 2: only T1 sends; only T1 is summarized, from the end of
		// interval 1.
		f.mustAccept(t, t1, Live, f.sign("T1", "k1", telemetry("T1", 0, 6, f.now)))
		f.now = f.now.Add(time.Minute)
		sums = f.closeInterval()
		if _, ok := sums["T2"]; ok || len(sums) != 1 {
			t.Fatalf("summaries %v, want T1's only (T2 sent nothing)", sums)
		}
		wantSummary(t, sums["T1"], map[string]any{"frames": int64(1), "first_seq": int64(6), "last_seq": int64(6),
			"interval_start": rfc3339(end1), "interval_end": rfc3339(f.now)})

		// Close records the interval in progress.
		f.mustAccept(t, t2, Live, f.sign("T2", "k2", telemetry("T2", 0, 9, f.now)))
		before := len(f.mem.ByCode(codes.FramesAcceptedSummary))
		if err := f.p.Close(); err != nil {
			t.Fatal(err)
		}
		closing := f.mem.ByCode(codes.FramesAcceptedSummary)[before:]
		if len(closing) != 1 || closing[0].Actor != t2 {
			t.Fatalf("Close recorded %v, want T2's summary", closing)
		}
		wantSummary(t, closing[0], map[string]any{"frames": int64(1), "first_seq": int64(9), "last_seq": int64(9)})

		// After Close a stored frame is summarized at once.
		f.mustAccept(t, t2, Live, f.sign("T2", "k2", telemetry("T2", 0, 10, f.now)))
		if late := f.mem.ByCode(codes.FramesAcceptedSummary)[before+1:]; len(late) != 1 || late[0].Attrs["last_seq"] != int64(10) {
			t.Fatalf("after Close: summaries %v, want one for seq 10", late)
		}
		if err := f.p.Close(); err != nil {
			t.Fatal("Close is not idempotent:", err)
		}
		if n := len(f.mem.ByCode(codes.FrameAccepted)); n != 0 {
			t.Fatalf("%d frame_accepted events", n)
		}
	})
}

// mustAccept sends envs and requires each to be accepted and stored.
func (f *fleet) mustAccept(t *testing.T, peer principal.Principal, src Source, envs ...[]byte) []Result {
	t.Helper()
	res := f.send(peer, src, envs...)
	for i, r := range res {
		if r.Verdict != Accepted || r.Duplicate {
			t.Fatalf("frame %d: %+v, want accepted and stored", i, r)
		}
	}
	return res
}

func wantSummary(t *testing.T, ev event.Event, want map[string]any) {
	t.Helper()
	if ev.Code != codes.FramesAcceptedSummary {
		t.Fatalf("event %+v is not a summary", ev)
	}
	for k, w := range want {
		if got := ev.Attrs[k]; !reflect.DeepEqual(got, w) {
			t.Errorf("%s summary: %s = %#v, want %#v", ev.Actor.ID, k, got, w)
		}
	}
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
