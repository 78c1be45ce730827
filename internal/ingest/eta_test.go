package ingest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// etaPipeline is the fleet's pipeline with ETAs kept in st, as serve
// wires it.
func (f *fleet) etaPipeline(etas ETAStore) *Pipeline {
	f.t.Helper()
	p, err := New(Config{}, Deps{Store: f.st, Events: event.NewBus(nil, nil, f.mem, summarySink(f.summaries)),
		Now: func() time.Time { return f.now }, SummaryTick: f.tick, ETAs: etas})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = p.Close() })
	return p
}

func withETA(fr *frame.Frame, tender string, stop uint64, at time.Time) *frame.Frame {
	fr.Body.(*frame.Telemetry).ETA = &frame.ETA{TenderID: tender, StopSeq: stop, At: at}
	return fr
}

// TestTelemetryETA: the eta of accepted telemetry becomes the vehicle's
// latest ETA for the load, on the live and the batch path; a backfilled
// older report does not replace it; a refused frame's eta is not kept.
func TestTelemetryETA(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		f := newFleet(t, st)
		f.p = f.etaPipeline(st)
		f.enroll("T1", "k1")
		eta1 := f.now.Add(2 * time.Hour)
		if r := f.send(vehicle("T1"), Live, f.sign("T1", "k1", withETA(telemetry("T1", 0, 10, f.now), "L1", 2, eta1))); r[0].Verdict != Accepted {
			t.Fatalf("live telemetry with eta: %+v", r[0])
		}
		got, err := st.GetETA(context.Background(), "T1", "L1")
		if err != nil || !got.At.Equal(eta1) || got.StopSeq != 2 || !got.ReportedAt.Equal(f.now) {
			t.Fatalf("ETA after live telemetry: %+v, %v", got, err)
		}
		// Batch: a backfilled older frame's ETA does not replace it; a newer
		// one does.
		old := withETA(telemetry("T1", 0, 11, f.now.Add(-time.Minute)), "L1", 1, f.now.Add(9*time.Hour))
		if r := f.send(vehicle("T1"), Backfill, f.sign("T1", "k1", old)); r[0].Verdict != Accepted {
			t.Fatalf("backfilled frame: %+v", r[0])
		}
		if got, _ := st.GetETA(context.Background(), "T1", "L1"); !got.At.Equal(eta1) {
			t.Fatalf("an older report replaced the ETA: %+v", got)
		}
		eta2 := f.now.Add(90 * time.Minute)
		newer := withETA(telemetry("T1", 0, 12, f.now.Add(time.Second)), "L1", 2, eta2)
		if r := f.send(vehicle("T1"), Backfill, f.sign("T1", "k1", newer)); r[0].Verdict != Accepted {
			t.Fatalf("batch frame: %+v", r[0])
		}
		if got, _ := st.GetETA(context.Background(), "T1", "L1"); !got.At.Equal(eta2) {
			t.Fatalf("ETA after the batch: %+v, want %v", got, eta2)
		}
		// A refused frame (a replay of seq 12 with other bytes) keeps nothing.
		replay := withETA(telemetry("T1", 0, 12, f.now.Add(time.Second)), "L9", 1, f.now)
		if r := f.send(vehicle("T1"), Live, f.sign("T1", "k1", replay)); r[0].Verdict != Rejected {
			t.Fatalf("replay: %+v", r[0])
		}
		if _, err := st.GetETA(context.Background(), "T1", "L9"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a refused frame's ETA was kept: %v", err)
		}
	})
}
