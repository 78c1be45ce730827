package ingest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

type purgeEvents struct {
	mu  sync.Mutex
	evs []event.Event
}

func (p *purgeEvents) Emit(_ context.Context, evs ...event.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.evs = append(p.evs, evs...)
	return nil
}

// TestRetentionOnce: on both engines, a run purges every payload older than
// Keep (more than one store call's worth), none newer, and records one
// frames_purged event with the count; a run with nothing to purge records
// none; Keep 0 never purges.
func TestRetentionOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		st := e.Open(t)
		now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
		old := store.PurgeBatch + 3
		var recs []store.FrameRecord
		for seq := range old + 2 {
			ts := now.Add(-91 * 24 * time.Hour).Add(time.Duration(seq) * time.Millisecond)
			if seq >= old {
				ts = now.Add(-time.Hour)
			}
			raw := []byte(fmt.Sprintf(`{"seq":%d}`, seq))
			h := sha256.Sum256(raw)
			recs = append(recs, store.FrameRecord{VehicleID: "T1", Seq: int64(seq), Kind: "telemetry", TS: ts, ReceivedAt: ts,
				Alg: "Ed25519", KID: "k1", Hash: h[:], Raw: raw, Sig: []byte("s"), Verdict: "accepted"})
		}
		if _, err := st.AppendFrames(ctx, recs, 0); err != nil {
			t.Fatal(err)
		}
		evs := &purgeEvents{}
		gw := principal.Principal{Kind: principal.System, ID: "gateway"}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		off := &Retention{Store: st, Events: evs, Log: log, Actor: gw, Keep: 0, Now: func() time.Time { return now }}
		off.Run(ctx) // returns at once: keep forever
		r := &Retention{Store: st, Events: evs, Log: log, Actor: gw, Keep: 90 * 24 * time.Hour, Now: func() time.Time { return now }}
		if n := r.Once(ctx); n != old {
			t.Fatalf("purged %d, want %d", n, old)
		}
		if n := r.Once(ctx); n != 0 {
			t.Fatalf("second run purged %d", n)
		}
		if len(evs.evs) != 1 || evs.evs[0].Code != codes.FramesPurged || evs.evs[0].Attrs["frames"] != old {
			t.Fatalf("events: %+v", evs.evs)
		}
		fs, err := st.ListFrames(ctx, "T1", time.Time{}, now, store.MaxPage)
		if err != nil || len(fs) != old+2 {
			t.Fatalf("frames %d, %v", len(fs), err)
		}
		for _, f := range fs {
			if f.Purged() != (f.Seq < int64(old)) {
				t.Fatalf("frame %d purged %v", f.Seq, f.Purged())
			}
		}
	})
}

// countingPurger counts its runs and ends the loop on its first.
type countingPurger struct {
	runs   int
	cancel context.CancelFunc
}

func (p *countingPurger) Once(context.Context) int {
	p.runs++
	p.cancel()
	return 0
}

// refusingPurgeStore fails the test if a purge reaches it.
type refusingPurgeStore struct{ t *testing.T }

func (s refusingPurgeStore) PurgeFramePayloads(context.Context, time.Time, time.Time, int) (int, bool, error) {
	s.t.Error("frame payloads purged with telemetry.retention 0 (keep forever)")
	return 0, false, nil
}

// TestRetentionLoopRunsTheOtherPurgesWhenFramesAreKeptForever: with Keep 0
// the loop still runs the gateway's other purges (Also: resolved
// incidents), and never purges a frame payload (a run with Keep 0 would
// take every payload older than now).
func TestRetentionLoopRunsTheOtherPurgesWhenFramesAreKeptForever(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &countingPurger{cancel: cancel}
	r := &Retention{Store: refusingPurgeStore{t}, Events: &purgeEvents{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Keep: 0, Interval: time.Hour, Also: []Purger{p}}
	r.Run(ctx) // returns once p ended ctx
	if p.runs != 1 {
		t.Fatalf("the other purge ran %d times, want 1", p.runs)
	}
}
