package ingest

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Retention of raw telemetry (issue 21; docs/OPERATIONS.md "Retention of
// raw telemetry"). A purge empties the payload (frame bytes and signature)
// of stored frames older than the retention, by their frame time; each
// row keeps its hash, so an exact re-send is still a duplicate and the
// audit log's proofs still verify (store.RetentionStore). Each run records
// one frames_purged event (never one per frame): a purge is evidence
// leaving the archive, so it is itself in the audit log.

// PurgeStore is the part of the store the purge uses.
type PurgeStore interface {
	PurgeFramePayloads(ctx context.Context, before, at time.Time, limit int) (n int, more bool, err error)
}

// ErrPurgeUnfinished reports a run that stopped at MaxPurgeCallsPerRun
// with rows left: the next run goes on from there.
var ErrPurgeUnfinished = errors.New("ingest: the purge stopped at its bound with payloads left; the next run continues")

// PurgeBefore empties the payload of every stored frame whose frame time is
// before before, in bounded store calls (store.PurgeBatch rows each), and
// returns how many it purged. It stops at ctx's end or after
// MaxPurgeCallsPerRun calls (ErrPurgeUnfinished), with what it purged so
// far counted.
func PurgeBefore(ctx context.Context, st PurgeStore, before, at time.Time) (int, error) {
	total := 0
	for range MaxPurgeCallsPerRun {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, more, err := st.PurgeFramePayloads(ctx, before, at, store.PurgeBatch)
		total += n
		if err != nil || !more {
			return total, err
		}
	}
	return total, ErrPurgeUnfinished
}

// PurgedEvent is the frames_purged event of one purge run by actor.
func PurgedEvent(actor principal.Principal, n int, before time.Time, via string) event.Event {
	return event.Event{Class: event.ClassTelemetry, Activity: "retention_purge", Severity: event.SeverityInfo,
		Actor: actor, Verdict: event.Info, Code: codes.FramesPurged,
		Attrs: map[string]any{"frames": n, "before": before.UTC(), "via": via}}
}

// Retention runs the periodic purge of a gateway. Data and dependencies
// only; Run starts it.
type Retention struct {
	Store  PurgeStore
	Events event.Emitter
	Log    *slog.Logger
	Actor  principal.Principal // the gateway
	// Keep is telemetry.retention; 0 keeps payloads forever (Run returns
	// at once).
	Keep time.Duration
	// Interval between runs (RetentionInterval when zero).
	Interval time.Duration
	// Also are the gateway's other purges, run in the same loop after the
	// frame payloads' (serve: resolved incidents, package incident's
	// Retention); each decides for itself whether it has anything to do.
	Also []Purger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Purger is one more purge of the retention loop (Retention.Also).
type Purger interface {
	Once(ctx context.Context) int
}

// Run purges at once and then every Interval until ctx ends: frame
// payloads (unless Keep is 0), then each of Also. A failed run is logged
// and retried at the next tick: nothing is lost by waiting. With Keep 0
// and nothing in Also it returns at once.
func (r *Retention) Run(ctx context.Context) {
	if r.Keep <= 0 && len(r.Also) == 0 {
		return
	}
	interval := r.Interval
	if interval <= 0 {
		interval = RetentionInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if r.Keep > 0 {
			r.Once(ctx)
		}
		for _, p := range r.Also {
			p.Once(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once runs one purge: payloads of frames older than Keep. It records a
// frames_purged event if it purged any, and returns how many.
func (r *Retention) Once(ctx context.Context) int {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	at := now()
	before := at.Add(-r.Keep)
	n, err := PurgeBefore(ctx, r.Store, before, at)
	if err != nil && ctx.Err() == nil {
		r.Log.Warn("retention: the purge did not finish", slog.Int("purged", n), slog.Any("err", err))
	}
	if n == 0 {
		return 0
	}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), purgeEventTimeout)
	defer cancel()
	if err := r.Events.Emit(ectx, PurgedEvent(r.Actor, n, before, "serve")); err != nil {
		r.Log.Error("retention: cannot record the frames_purged event", slog.Int("purged", n), slog.Any("err", err))
	}
	return n
}
