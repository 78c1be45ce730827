package incident

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Retention of resolved incidents (docs/INCIDENTS.md, "Retention"). A
// resolved incident is kept for incidents.retention (DefaultRetention, two
// years) from its resolution; then it is deleted with every row recorded
// about it (findings, clocks, notes, transitions, notifications,
// containment actions), each incident in one transaction
// (store.IncidentStore.PurgeResolvedIncidents). An incident that is not
// resolved is never purged, whatever its age: resolution, which is final,
// is what starts the count. What stays: the incidents' security events
// (incident_opened, every transition, note, notification and containment
// action, and the detection findings), which the audit log covers and
// which are not purged here; a hold on a vehicle's commands, which is the
// vehicle's until released. Each run that purged anything records one
// incidents_purged event (never one per incident).

// PurgeStore is the part of the store the retention uses.
type PurgeStore interface {
	PurgeResolvedIncidents(ctx context.Context, resolvedBefore time.Time, limit int) (int, error)
}

// ErrPurgeUnfinished reports a run that stopped at MaxPurgeCallsPerRun
// with incidents left: the next run goes on from there.
var ErrPurgeUnfinished = errors.New("incident: the purge stopped at its bound with resolved incidents left; the next run continues")

// PurgeResolved deletes every incident resolved before before, in bounded
// store calls (store.IncidentPurgeBatch incidents each), and returns how
// many it deleted. It stops at ctx's end or after MaxPurgeCallsPerRun calls
// (ErrPurgeUnfinished), with what it deleted so far counted.
func PurgeResolved(ctx context.Context, st PurgeStore, before time.Time) (int, error) {
	total := 0
	for range MaxPurgeCallsPerRun {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := st.PurgeResolvedIncidents(ctx, before, store.IncidentPurgeBatch)
		total += n
		if err != nil || n < store.IncidentPurgeBatch {
			return total, err
		}
	}
	return total, ErrPurgeUnfinished
}

// Cutoff is the resolution time below which a purge at now deletes
// resolved incidents kept for keep; ok is false when keep is 0 (keep
// forever). A keep below MinRetention is refused: configuration validates
// it, and this is the last line before deleting.
func Cutoff(now time.Time, keep time.Duration) (before time.Time, ok bool, err error) {
	switch {
	case keep == 0:
		return time.Time{}, false, nil
	case keep < MinRetention:
		return time.Time{}, false, fmt.Errorf("incident: retention %v is below the minimum %v", keep, MinRetention)
	}
	return now.Add(-keep).UTC(), true, nil
}

// PurgedEvent is the incidents_purged event of one purge run by actor.
func PurgedEvent(actor principal.Principal, n int, before time.Time, via string) event.Event {
	return event.Event{Class: event.ClassIncident, Activity: "retention_purge", Severity: codes.SeverityOf(codes.IncidentsPurged, event.SeverityInfo),
		Actor: actor, Verdict: event.Info, Code: codes.IncidentsPurged,
		Attrs: map[string]any{"incidents": n, "before": before.UTC(), "via": via}}
}

// Retention runs the periodic purge of resolved incidents in a gateway
// (serve runs it in its retention loop, beside the frame payload purge).
// Data and dependencies only.
type Retention struct {
	Store  PurgeStore
	Events event.Emitter
	Log    *slog.Logger
	Actor  principal.Principal // the gateway
	// Keep is incidents.retention; 0 keeps resolved incidents forever.
	Keep time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Once runs one purge: incidents resolved more than Keep ago. It records
// an incidents_purged event if it purged any, and returns how many.
func (r *Retention) Once(ctx context.Context) int {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	before, ok, err := Cutoff(now(), r.Keep)
	if err != nil {
		r.Log.Error("retention: resolved incidents not purged", slog.Any("err", err))
		return 0
	}
	if !ok {
		return 0
	}
	n, err := PurgeResolved(ctx, r.Store, before)
	if err != nil && ctx.Err() == nil {
		r.Log.Warn("retention: the incident purge did not finish", slog.Int("purged", n), slog.Any("err", err))
	}
	if n == 0 {
		return 0
	}
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), purgeEventTimeout)
	defer cancel()
	if err := r.Events.Emit(ectx, PurgedEvent(r.Actor, n, before, "serve")); err != nil {
		r.Log.Error("retention: cannot record the incidents_purged event", slog.Int("purged", n), slog.Any("err", err))
	}
	return n
}
