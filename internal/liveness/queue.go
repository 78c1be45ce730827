package liveness

import (
	"context"
	"log/slog"
	"sync"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
)

// Transitions are declared under a shard lock, by the tick loop or by a
// session's call, and delivered later by one goroutine: observers first,
// then events in batches. Pushing is O(1) and never blocks on a sink, so a
// slow event store cannot delay detection. The queue is bounded; when it is
// full, new transitions are not queued (tail drop): each one is counted at
// once (Metrics.Undelivered), and the next Drain logs the count and records
// a liveness_events_dropped event. State, Counts, Metrics.Transitioned and
// Session.Done are exact whatever the queue does.

type queue struct {
	mu      sync.Mutex
	buf     []Transition
	spare   []Transition
	max     int
	dropped int // since the last take
	wake    chan struct{}
}

// push queues tr, or counts it as dropped; it reports which.
func (q *queue) push(tr Transition) bool {
	q.mu.Lock()
	ok := len(q.buf) < q.max
	if ok {
		q.buf = append(q.buf, tr)
	} else {
		q.dropped++
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return ok
}

// take returns everything queued and the number dropped since the last take.
func (q *queue) take() ([]Transition, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	b, d := q.buf, q.dropped
	q.buf, q.spare, q.dropped = q.spare, nil, 0
	return b, d
}

// recycle offers b's storage for reuse.
func (q *queue) recycle(b []Transition) {
	if cap(b) > recycleCap {
		return
	}
	clear(b[:cap(b)])
	q.mu.Lock()
	if q.spare == nil {
		q.spare = b[:0]
	}
	q.mu.Unlock()
}

// Drain delivers every queued transition, in order: each to OnTransition,
// then as events, emitBatch at a time, each Emit bounded by EmitTimeout
// under ctx. It returns how many it delivered. Run drains continuously;
// simulations and tests that drive the Monitor with a fake clock call Tick
// and then Drain.
//
// An Emit failure is counted (Metrics.EmitFailed) and logged; the events of
// that batch are not retried (the sink has had its chance, and a retry loop
// would stall every later event).
func (m *Monitor) Drain(ctx context.Context) int {
	m.drainMu.Lock()
	defer m.drainMu.Unlock()
	n := 0
	for {
		batch, dropped := m.q.take()
		for rest := batch; len(rest) > 0; {
			chunk := rest[:min(len(rest), emitBatch)]
			rest = rest[len(chunk):]
			m.deliver(ctx, chunk)
			n += len(chunk)
		}
		if dropped > 0 {
			m.reportDropped(ctx, dropped)
		}
		if len(batch) == 0 && dropped == 0 {
			return n
		}
		m.q.recycle(batch)
	}
}

func (m *Monitor) deliver(ctx context.Context, chunk []Transition) {
	if m.observe != nil {
		for _, tr := range chunk {
			m.observe(tr)
		}
	}
	evs := make([]event.Event, len(chunk))
	for i := range chunk {
		evs[i] = eventOf(&chunk[i])
	}
	m.emit(ctx, evs)
}

func (m *Monitor) emit(ctx context.Context, evs []event.Event) {
	ectx, cancel := context.WithTimeout(ctx, EmitTimeout)
	defer cancel()
	if err := m.em.Emit(ectx, evs...); err != nil {
		m.metrics.EmitFailed(len(evs))
		m.log.Warn("liveness: events not recorded", slog.Int("count", len(evs)), slog.Any("err", err))
	}
}

func (m *Monitor) reportDropped(ctx context.Context, n int) {
	m.log.Warn("liveness: transition queue full; transitions not delivered to observers nor recorded as events",
		slog.Int("count", n), slog.Int("queue_size", m.cfg.QueueSize))
	m.emit(ctx, []event.Event{{
		Time:     m.now(),
		Class:    event.ClassLiveness,
		Activity: "delivery",
		Severity: event.SeverityHigh,
		Actor:    monitorActor,
		Verdict:  event.Info,
		Code:     codes.LivenessEventsDropped,
		Attrs:    map[string]any{"count": n, "queue_size": m.cfg.QueueSize},
	}})
}

// dispatch drains whenever transitions are queued, until stop is closed,
// then delivers what is left for at most FlushTimeout. Emits run under a
// context that ctx's cancellation does not cut short, so a shutdown does not
// turn in-flight events into failures.
func (m *Monitor) dispatch(ctx context.Context, stop <-chan struct{}) {
	bg := context.WithoutCancel(ctx)
	for {
		select {
		case <-stop:
			fctx, cancel := context.WithTimeout(bg, FlushTimeout)
			m.Drain(fctx)
			cancel()
			return
		case <-m.q.wake:
			m.Drain(bg)
		}
	}
}
