package event

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Aggregator is an Emitter in front of another (the Bus) that records the
// events about peers that have not proven who they are, those with a
// Source, per source and window rather than one by one (invariant 7,
// docs/ARCHITECTURE.md), so that a peer without a credential cannot turn its
// connections or requests into storage: events fail closed, so a full disk
// would refuse every vehicle.
//
// Events without a Source pass straight through. Events with one are keyed
// by (Source, Class, Activity, Code, Resource, attribute "listener"). The
// first AggregateIndividually events of a key are recorded at once, as
// they come (their errors returned to the caller, which fails closed);
// that opens the key's window. Later events of the window are only counted,
// and when the window closes (Window after it opened; checked by one
// ticker) one summary event is recorded for them: the key's fields, the
// first event's Severity and Verdict, and the attributes
//
//	aggregated   true
//	count        the events of the window not recorded on their own
//	total        every event of the window
//	window_start when the window opened (its first event)
//	window_end   when it closed
//
// So the events of a key add up exactly: those recorded on their own plus
// the counts of the summaries. A window that needed no summary ends
// silently. The next event of the key opens a new window.
//
// At most MaxKeys windows are held. Beyond that, events fold into one
// window per (Class, Activity, Code, listener) with Source OverflowSource
// ("*") and no Resource, and each such event is counted in Stats.Overflow;
// should even those grow past a bound, into one window per Class.
// A summary that cannot be recorded is logged and counted
// (Stats.SummaryError); its count is lost, never retried without bound.
//
// Close records every pending summary at once and stops the ticker; after
// it, every event passes straight through.
type Aggregator struct {
	next    Emitter
	window  time.Duration
	maxKeys int
	log     *slog.Logger
	stats   AggregateStats
	now     func() time.Time

	mu       sync.Mutex
	windows  map[aggKey]*aggWindow
	order    *list.List // of *aggWindow, oldest first
	overflow int        // windows in windows with Source OverflowSource
	closed   bool

	stop      chan struct{}
	done      chan struct{} // closed when the ticker stopped; nil if it never ran
	closeOnce sync.Once
	closeErr  error
}

// AggregatorConfig sets an Aggregator's window and key bound. Data only.
type AggregatorConfig struct {
	// Window is how long a key's window stays open (0:
	// DefaultAggregateWindow; MinAggregateWindow to MaxAggregateWindow).
	Window time.Duration
	// MaxKeys bounds the windows held (0: DefaultAggregateMaxKeys).
	MaxKeys int
}

// AggregatorDeps are an Aggregator's collaborators; all optional.
type AggregatorDeps struct {
	// Log receives summary write failures; nil is slog.Default().
	Log *slog.Logger
	// Stats counts folded and overflowing events and summary failures.
	Stats AggregateStats
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// AggregateStats counts what an Aggregator does; wired to metrics by the
// caller.
type AggregateStats interface {
	// Folded counts one event counted into a summary instead of recorded.
	Folded()
	// Overflow counts one event folded into an overflow window because
	// MaxKeys windows were held.
	Overflow()
	// SummaryError counts summaries that could not be recorded.
	SummaryError(n int)
}

type noAggregateStats struct{}

func (noAggregateStats) Folded()          {}
func (noAggregateStats) Overflow()        {}
func (noAggregateStats) SummaryError(int) {}

type aggKey struct {
	source, class, activity, code, resource, listener string
}

type aggWindow struct {
	key        aggKey
	start      time.Time
	seen       int
	severity   Severity
	verdict    Verdict
	elem       *list.Element
	isOverflow bool
}

// NewAggregator returns an Aggregator recording through next, and starts
// its ticker; stop it with Close.
func NewAggregator(next Emitter, cfg AggregatorConfig, deps AggregatorDeps) (*Aggregator, error) {
	a, err := newAggregator(next, cfg, deps)
	if err != nil {
		return nil, err
	}
	a.done = make(chan struct{})
	go a.run()
	return a, nil
}

// newAggregator builds an Aggregator without starting its ticker.
func newAggregator(next Emitter, cfg AggregatorConfig, deps AggregatorDeps) (*Aggregator, error) {
	if next == nil {
		return nil, errors.New("event: an aggregator needs an emitter to record through")
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultAggregateWindow
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = DefaultAggregateMaxKeys
	}
	if cfg.Window < MinAggregateWindow || cfg.Window > MaxAggregateWindow {
		return nil, fmt.Errorf("event: aggregate window must be between %v and %v", MinAggregateWindow, MaxAggregateWindow)
	}
	if cfg.MaxKeys < 1 {
		return nil, errors.New("event: aggregate max keys must be at least 1")
	}
	a := &Aggregator{next: next, window: cfg.Window, maxKeys: cfg.MaxKeys, log: deps.Log, stats: deps.Stats, now: deps.Now,
		windows: map[aggKey]*aggWindow{}, order: list.New(), stop: make(chan struct{})}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.stats == nil {
		a.stats = noAggregateStats{}
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

// Emit records the events without a Source and the first events of each
// key's window at once, through the next emitter (returning its error), and
// counts the rest.
func (a *Aggregator) Emit(ctx context.Context, evs ...Event) error {
	now := a.now()
	var out []Event
	for _, ev := range evs {
		if ev.Source == "" || a.admit(ev, now) {
			out = append(out, ev)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return a.next.Emit(ctx, out...)
}

// admit counts ev in its key's window and reports whether it is recorded on
// its own.
func (a *Aggregator) admit(ev Event, now time.Time) bool {
	k := aggKey{source: BoundString(ev.Source), class: string(ev.Class), activity: ev.Activity, code: ev.Code,
		resource: BoundString(ev.Resource)}
	if l, ok := ev.Attrs["listener"].(string); ok {
		k.listener = BoundString(l)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return true
	}
	w := a.windows[k]
	if w == nil && len(a.windows)-a.overflow >= a.maxKeys {
		a.stats.Overflow()
		k = aggKey{source: OverflowSource, class: k.class, activity: k.activity, code: k.code, listener: k.listener}
		if w = a.windows[k]; w == nil && a.overflow >= aggregateOverflowKeys {
			k = aggKey{source: OverflowSource, class: k.class} // classes are a handful of constants
			w = a.windows[k]
		}
	}
	if w == nil {
		w = &aggWindow{key: k, start: now, severity: ev.Severity, verdict: ev.Verdict, isOverflow: k.source == OverflowSource}
		w.elem = a.order.PushBack(w)
		a.windows[k] = w
		if w.isOverflow {
			a.overflow++
		}
	}
	w.seen++
	if w.seen <= AggregateIndividually {
		return true
	}
	a.stats.Folded()
	return false
}

// run closes due windows every tick until Close.
func (a *Aggregator) run() {
	defer close(a.done)
	t := time.NewTicker(min(a.window/10, time.Second))
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			_ = a.expire(false)
		}
	}
}

// expire closes the windows that are due (all of them if all) and records
// their summaries in one write.
func (a *Aggregator) expire(all bool) error {
	now := a.now()
	var sums []Event
	a.mu.Lock()
	for e := a.order.Front(); e != nil; e = a.order.Front() {
		w := e.Value.(*aggWindow)
		if !all && now.Before(w.start.Add(a.window)) {
			break // windows are in opening order, all of the same length
		}
		a.order.Remove(e)
		delete(a.windows, w.key)
		if w.isOverflow {
			a.overflow--
		}
		if w.seen > AggregateIndividually {
			sums = append(sums, w.summary(now))
		}
	}
	a.mu.Unlock()
	if len(sums) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), aggregateSummaryTimeout)
	defer cancel()
	if err := a.next.Emit(ctx, sums...); err != nil {
		a.stats.SummaryError(len(sums))
		a.log.Error("recording aggregated security events failed; their counts are lost",
			slog.Int("summaries", len(sums)), slog.Any("err", err))
		return err
	}
	return nil
}

func (w *aggWindow) summary(end time.Time) Event {
	attrs := map[string]any{"aggregated": true, "count": w.seen - AggregateIndividually, "total": w.seen,
		"window_start": w.start, "window_end": end}
	if w.key.listener != "" {
		attrs["listener"] = w.key.listener
	}
	return Event{Time: end, Class: Class(w.key.class), Activity: w.key.activity, Severity: w.severity,
		Verdict: w.verdict, Code: w.key.code, Resource: w.key.resource, Source: w.key.source, Attrs: attrs}
}

// Close stops the ticker and records every pending summary; from then on
// every event passes straight through. It returns the summaries' write
// error, if any. Close is idempotent.
func (a *Aggregator) Close() error {
	a.closeOnce.Do(func() {
		close(a.stop)
		if a.done != nil {
			<-a.done
		}
		a.mu.Lock()
		a.closed = true
		a.mu.Unlock()
		a.closeErr = a.expire(true)
	})
	return a.closeErr
}
