package ingest

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// summaries counts the frames a pipeline stored, per vehicle, and records
// one frames_accepted_summary event per vehicle with stored frames every
// interval, and at Close. An accepted frame is recorded by its frame row;
// this event is what detection and a SIEM read of accepted traffic.
//
// It holds one tally per vehicle that had a frame stored in the current
// interval: vehicles are authenticated and registered, so that is bounded
// by the registry, and the map starts empty again each interval.
//
// A summary not yet recorded is lost if the process crashes; the frame rows
// remain the record. A summary that cannot be recorded is logged (the bus
// counts the sink failure) and its counts are lost, never retried without
// bound: the frames are durable either way.
type summaries struct {
	ev  event.Emitter
	now func() time.Time
	log *slog.Logger

	mu     sync.Mutex
	start  time.Time // when the current interval opened
	open   map[principal.Principal]*tally
	closed bool

	stop      chan struct{}
	done      chan struct{} // closed when run returned
	closeOnce sync.Once
	closeErr  error
}

// storedFrame is what a summary counts of one stored frame.
type storedFrame struct {
	kind       frame.Kind
	src        Source
	alg        frame.Alg
	epoch, seq int64
	ts         time.Time
	findings   bool
}

// tally is one vehicle's stored frames in the current interval.
type tally struct {
	frames, withFindings int64
	byKind               map[string]int64 // heartbeat, telemetry
	bySource             map[string]int64 // live, backfill
	byAssurance          map[string]int64 // high, low (assurance)
	first, last          [2]int64         // lowest and highest (epoch, seq)
	firstTS, lastTS      time.Time        // earliest and latest frame ts
}

func newTally() *tally {
	return &tally{byKind: map[string]int64{}, bySource: map[string]int64{}, byAssurance: map[string]int64{}}
}

// newSummaries returns summaries recording through ev, and starts the
// goroutine that records them every interval (at each value of tick, if
// not nil) until Close.
func newSummaries(ev event.Emitter, now func() time.Time, log *slog.Logger, interval time.Duration, tick <-chan time.Time) *summaries {
	s := &summaries{ev: ev, now: now, log: log, start: now(), open: map[principal.Principal]*tally{},
		stop: make(chan struct{}), done: make(chan struct{})}
	var ticker *time.Ticker
	if tick == nil {
		ticker = time.NewTicker(interval)
		tick = ticker.C
	}
	go s.run(tick, ticker)
	return s
}

// run records the summaries at every tick until Close.
func (s *summaries) run(tick <-chan time.Time, ticker *time.Ticker) {
	defer close(s.done)
	if ticker != nil {
		defer ticker.Stop()
	}
	for {
		select {
		case <-s.stop:
			return
		case <-tick:
			_ = s.record(s.take())
		}
	}
}

// add counts fs, frames of peer stored by one call. After Close there is
// no interval left to count them in: it returns their summary, which the
// caller records at once.
func (s *summaries) add(peer principal.Principal, fs []storedFrame) []event.Event {
	if len(fs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.open[peer]
	if t == nil {
		t = newTally()
		s.open[peer] = t
	}
	for _, f := range fs {
		t.count(f)
	}
	if s.closed {
		delete(s.open, peer)
		now := s.now()
		return []event.Event{t.event(peer, now, now)}
	}
	return nil
}

// take closes the current interval: it returns one summary per vehicle
// with stored frames in it and opens the next.
func (s *summaries) take() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takeLocked()
}

func (s *summaries) takeLocked() []event.Event {
	now := s.now()
	evs := make([]event.Event, 0, len(s.open))
	for peer, t := range s.open {
		evs = append(evs, t.event(peer, s.start, now))
	}
	s.open = map[principal.Principal]*tally{}
	s.start = now
	return evs
}

// record writes evs in one write, bounded by summaryWriteTimeout.
func (s *summaries) record(evs []event.Event) error {
	if len(evs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), summaryWriteTimeout)
	defer cancel()
	if err := s.ev.Emit(ctx, evs...); err != nil {
		s.log.Error("recording the accepted-frame summaries failed; their counts are lost (the frame rows remain)",
			slog.Int("vehicles", len(evs)), slog.Any("err", err))
		return err
	}
	return nil
}

// Close stops the ticks and records the summaries of the interval in
// progress. It returns their write error, if any; it is idempotent.
func (s *summaries) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		// One step: a frame counted after it is summarized by add itself.
		s.mu.Lock()
		evs := s.takeLocked()
		s.closed = true
		s.mu.Unlock()
		s.closeErr = s.record(evs)
	})
	return s.closeErr
}

func (t *tally) count(f storedFrame) {
	at := [2]int64{f.epoch, f.seq}
	if t.frames == 0 {
		t.first, t.last, t.firstTS, t.lastTS = at, at, f.ts, f.ts
	}
	t.frames++
	t.byKind[string(f.kind)]++
	t.bySource[string(f.src)]++
	t.byAssurance[assurance(f.alg)]++
	if f.findings {
		t.withFindings++
	}
	if less(at, t.first) {
		t.first = at
	}
	if less(t.last, at) {
		t.last = at
	}
	if f.ts.Before(t.firstTS) {
		t.firstTS = f.ts
	}
	if f.ts.After(t.lastTS) {
		t.lastTS = f.ts
	}
}

func less(a, b [2]int64) bool { return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1]) }

// assurance names an algorithm's assurance: "low" for a shared secret
// (HS256, which the gateway could forge too), "high" otherwise.
func assurance(alg frame.Alg) string {
	if alg.LowerAssurance() {
		return "low"
	}
	return "high"
}

// event is the tally's summary for the interval [start, end].
func (t *tally) event(peer principal.Principal, start, end time.Time) event.Event {
	return event.Event{Time: end, Class: event.ClassTelemetry, Activity: "frame_summary", Severity: event.SeverityInfo,
		Actor: peer, Resource: peer.String(), Verdict: event.Accept, Code: codes.FramesAcceptedSummary,
		Attrs: map[string]any{
			"frames":                 t.frames,
			"by_kind":                counts(t.byKind),
			"by_source":              counts(t.bySource),
			"by_assurance":           counts(t.byAssurance),
			"accepted_with_findings": t.withFindings,
			"first_epoch":            t.first[0],
			"first_seq":              t.first[1],
			"last_epoch":             t.last[0],
			"last_seq":               t.last[1],
			"first_ts":               t.firstTS,
			"last_ts":                t.lastTS,
			"interval_start":         start,
			"interval_end":           end,
		}}
}

// counts is m as an event attribute (the event sanitizer takes
// map[string]any).
func counts(m map[string]int64) map[string]any {
	out := make(map[string]any, len(m))
	for k, n := range m {
		out[k] = n
	}
	return out
}
