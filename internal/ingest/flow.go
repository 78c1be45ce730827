package ingest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// ErrBusy reports that a call's telemetry was refused because the pipeline
// already has Config.MaxInFlight telemetry frames admitted and not yet
// committed: nothing of the call was verified, stored or decided (use
// errors.Is). The batch path answers 429 gateway_busy with Retry-After,
// the session nacks the frame gateway_busy; the vehicle sends the same
// telemetry again later. The pipeline has recorded the refusal.
var ErrBusy = errors.New("ingest: busy: the telemetry frames in flight are at their limit")

// flow is the pipeline's flow control: it bounds the telemetry frames in
// flight (admitted, not yet committed) across every path, so that when the
// gateway is saturated telemetry is what waits, at the vehicle, and the
// queue in front of the store (and the memory the frames hold) stays
// bounded. Heartbeats never take a slot and are never refused by it: a
// truck whose heartbeat goes unanswered stops on the highway.
//
// A call takes slots for all its admitted telemetry frames at once, after
// admission and before the signatures are verified (the refusal costs no
// verification and no store access), and gives them back when its commit
// is done. One call that does not fit is refused whole: a batch is
// answered as one.
type flow struct {
	max      int64
	inFlight atomic.Int64
	refused  *prometheus.CounterVec // frames, by source
	busy     *busyLog
}

func newFlow(max int, now func() time.Time, ev event.Emitter) *flow {
	return &flow{max: int64(max), busy: newBusyLog(now, ev),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fifthwheel_telemetry_busy_frames_total",
			Help: "Telemetry frames refused with gateway_busy because the frames in flight were at telemetry.max_in_flight, by source (live: the session, backfill: the batch path).",
		}, []string{"source"}),
	}
}

// collectors are the flow's metrics.
func (f *flow) collectors() []prometheus.Collector {
	return []prometheus.Collector{f.refused, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fifthwheel_telemetry_frames_in_flight",
		Help: "Telemetry frames admitted by the pipeline and not yet committed (at most telemetry.max_in_flight).",
	}, func() float64 { return float64(f.inFlight.Load()) })}
}

// telemetryIn counts the telemetry frames among as.
func telemetryIn(as []admitted) int {
	n := 0
	for _, a := range as {
		if a.f.Kind() == frame.KindTelemetry {
			n++
		}
	}
	return n
}

// reserve takes n slots, or reports that they are not free; n == 0 always
// fits. Release them with release.
func (f *flow) reserve(n int) bool {
	f.busy.sweepIfDue()
	if n == 0 {
		return true
	}
	for {
		cur := f.inFlight.Load()
		if cur+int64(n) > f.max {
			return false
		}
		if f.inFlight.CompareAndSwap(cur, cur+int64(n)) {
			return true
		}
	}
}

// full reports whether fewer than n slots are free now (a hint: the
// reservation that follows may still fail).
func (f *flow) full(n int) bool { return f.inFlight.Load()+int64(n) > f.max }

func (f *flow) release(n int) {
	if n > 0 {
		f.inFlight.Add(-int64(n))
	}
}

// refuse counts and records the refusal of n telemetry frames of peer.
func (f *flow) refuse(ctx context.Context, peer principal.Principal, src Source, n int) {
	f.refused.WithLabelValues(string(src)).Add(float64(n))
	f.busy.refused(ctx, peer, src, n, f.inFlight.Load(), f.max)
}

// busyLog records flow-control refusals per vehicle and window, as
// event.Aggregator does for peers that have proven nothing: a saturated
// gateway refuses thousands of frames a second, and one event each would
// add to the very writes it is short of. The first refusal of a vehicle
// opens its window and is recorded at once (detection hears of it); the
// later ones of the window are counted, and when the window has closed one
// summary event records them: attributes aggregated, count (refusals not
// recorded on their own), total (every refusal of the window), frames (the
// telemetry frames they held; a batch refused before its body was read,
// Pipeline.RefuseIfFull, adds none: they are not known), window_start and
// window_end. The refusals of a vehicle add up exactly: the one recorded
// plus the summary's count.
//
// It has no goroutine of its own: each pipeline call checks, with one
// atomic load, whether a window is due, and one goroutine at a time then
// records the due summaries (never the caller: a heartbeat's ack must not
// wait on them). The fleet's heartbeats call the pipeline every second,
// so a summary is recorded soon after its window closes; the counts still
// pending when the gateway stops are lost, and are in the metrics.
type busyLog struct {
	now func() time.Time
	ev  event.Emitter

	next     atomic.Int64 // Unix ns when the oldest window closes; 0: none open
	sweeping atomic.Bool

	mu      sync.Mutex
	windows map[string]*busyWindow // by vehicle id, or busyOverflow
}

// busyOverflow keys the one window that holds the refusals of vehicles
// beyond maxBusyWindows.
const busyOverflow = "*"

type busyWindow struct {
	peer          principal.Principal
	start         time.Time
	total, frames int
}

func newBusyLog(now func() time.Time, ev event.Emitter) *busyLog {
	return &busyLog{now: now, ev: ev, windows: map[string]*busyWindow{}}
}

// refused counts one refusal of n frames of peer, and records it at once
// if it opens the vehicle's window.
func (b *busyLog) refused(ctx context.Context, peer principal.Principal, src Source, n int, inFlight, max int64) {
	now := b.now()
	key := peer.ID
	b.mu.Lock()
	w := b.windows[key]
	if w == nil && len(b.windows) >= maxBusyWindows {
		key = busyOverflow
		w = b.windows[key]
	}
	first := w == nil
	if first {
		w = &busyWindow{peer: peer, start: now}
		if key == busyOverflow {
			w.peer = principal.Principal{}
		}
		b.windows[key] = w
		b.next.CompareAndSwap(0, now.Add(busyEventWindow).UnixNano())
	}
	w.total++
	w.frames += n
	b.mu.Unlock()
	if !first {
		return
	}
	// The refusal is decided whatever happens to its event: refusing is the
	// closed direction. A sink failure is the bus's to log and count.
	_ = b.ev.Emit(ctx, busyEvent(w.peer, map[string]any{"source": string(src), "frames": n,
		"in_flight": inFlight, "limit": max}))
}

// sweepIfDue starts recording the summaries of the windows that have
// closed, on a goroutine of its own, if one is due and no sweep runs.
func (b *busyLog) sweepIfDue() {
	next := b.next.Load()
	if next == 0 || b.now().UnixNano() < next || !b.sweeping.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer b.sweeping.Store(false)
		b.sweep(b.now())
	}()
}

// sweep closes the windows opened busyEventWindow or more before now and
// records a summary for each that counted more than its first refusal.
func (b *busyLog) sweep(now time.Time) {
	var sums []event.Event
	var next time.Time
	b.mu.Lock()
	for key, w := range b.windows {
		end := w.start.Add(busyEventWindow)
		if now.Before(end) {
			if next.IsZero() || end.Before(next) {
				next = end
			}
			continue
		}
		delete(b.windows, key)
		if w.total > 1 {
			sums = append(sums, busyEvent(w.peer, map[string]any{"aggregated": true, "count": w.total - 1,
				"total": w.total, "frames": w.frames, "window_start": w.start, "window_end": now}))
		}
	}
	if next.IsZero() {
		b.next.Store(0)
	} else {
		b.next.Store(next.UnixNano())
	}
	b.mu.Unlock()
	if len(sums) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), busySummaryTimeout)
	defer cancel()
	_ = b.ev.Emit(ctx, sums...) // the bus logs and counts a sink failure; the metric has the frames
}

// busyEvent is a gateway_busy event about peer (the zero principal for
// the overflow window's summary).
func busyEvent(peer principal.Principal, attrs map[string]any) event.Event {
	return event.Event{Class: event.ClassTelemetry, Activity: "flow_control", Severity: event.SeverityLow,
		Actor: peer, Resource: peer.String(), Verdict: event.Reject, Code: codes.GatewayBusy, Attrs: attrs}
}
