package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// The store recognizes heartbeats by package frame's kind name.
func TestHeartbeatKindIsTheStores(t *testing.T) {
	if string(frame.KindHeartbeat) != store.HeartbeatKind {
		t.Fatalf("frame.KindHeartbeat %q, store.HeartbeatKind %q", frame.KindHeartbeat, store.HeartbeatKind)
	}
}

func heartbeat(vehicle string, epoch, seq uint64, ts time.Time) *frame.Frame {
	return &frame.Frame{VehicleID: vehicle, Epoch: epoch, Seq: seq, TS: ts, Body: &frame.Heartbeat{State: frame.StateDriving}}
}

// TestHeartbeats: through the pipeline, a heartbeat is acknowledged without
// a frames row; the exact re-send of the latest is a duplicate (on another
// replica too), an older one stale_counter, other bytes under its seq a
// replay, and a late frame admitted by the window cannot take its seq.
func TestHeartbeats(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		f := newFleet(t, e.Open(t))
		f.enroll("T1", "k1")
		t1 := vehicle("T1")
		hb1 := f.sign("T1", "k1", heartbeat("T1", 0, 1, f.now))
		if r := f.send(t1, Live, hb1); r[0].Verdict != Accepted || r[0].Duplicate {
			t.Fatalf("heartbeat: %+v", r[0])
		}
		if n := f.stored("T1"); n != 0 {
			t.Fatalf("a heartbeat left %d frames rows", n)
		}
		if l, err := f.st.LatestFrame(context.Background(), "T1", store.HeartbeatKind); err != nil || l.Seq != 1 {
			t.Fatalf("latest heartbeat %d, %v", l.Seq, err)
		}
		if r := f.send(t1, Live, hb1); r[0].Verdict != Accepted || !r[0].Duplicate {
			t.Fatalf("exact re-send of the latest heartbeat: %+v, want a duplicate", r[0])
		}
		// Another gateway, which has not seen this vehicle, answers the same.
		other, err := New(Config{Window: MaxWindow}, Deps{Store: f.st, Events: event.NewBus(nil, nil, f.mem), Now: func() time.Time { return f.now }})
		if err != nil {
			t.Fatal(err)
		}
		if r, err := other.Process(context.Background(), t1, Live, []frame.Kind{frame.KindHeartbeat}, [][]byte{hb1}); err != nil || !r[0].Duplicate {
			t.Fatalf("re-send through another gateway: %+v, %v", r, err)
		}
		if r := f.send(t1, Live, f.sign("T1", "k1", heartbeat("T1", 0, 2, f.now))); r[0].Verdict != Accepted {
			t.Fatalf("next heartbeat: %+v", r[0])
		}
		f.expectReject(t, t1, Live, hb1, codes.StaleCounter)
		other2 := &fleet{t: t, st: f.st, mem: f.mem, keys: f.keys, now: f.now, p: other}
		other2.expectReject(t, t1, Live, hb1, codes.StaleCounter)
		parked := heartbeat("T1", 0, 2, f.now)
		parked.Body = &frame.Heartbeat{State: frame.StateParked}
		f.expectReject(t, t1, Live, f.sign("T1", "k1", parked), codes.Replay)
		// The window (the other gateway has one) admits seq 0, free, not
		// seq 1, a heartbeat's.
		other2.expectReject(t, t1, Live, f.sign("T1", "k1", telemetry("T1", 0, 1, f.now)), codes.StaleCounter)
		if r, _ := other.Process(context.Background(), t1, Live, []frame.Kind{frame.KindTelemetry}, [][]byte{f.sign("T1", "k1", telemetry("T1", 0, 0, f.now))}); r[0].Verdict != Accepted {
			t.Fatalf("late frame under a free seq: %+v", r[0])
		}
	})
}
