package liveness

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/event"
)

// fakeClock is the injectable clock: time moves only when a test moves it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

var epoch = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func newFakeClock() *fakeClock { return &fakeClock{t: epoch} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// testMetrics counts what the Monitor reports.
type testMetrics struct {
	mu          sync.Mutex
	byTo        [numStates]int
	latencies   []time.Duration // of comm_lost
	undelivered atomic.Int64
	emitFailed  atomic.Int64
	stale       atomic.Int64
}

func (t *testMetrics) Transitioned(tr Transition) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byTo[tr.To]++
	if tr.To == CommLost {
		t.latencies = append(t.latencies, tr.Latency)
	}
}
func (t *testMetrics) Undelivered(n int) { t.undelivered.Add(int64(n)) }
func (t *testMetrics) EmitFailed(n int)  { t.emitFailed.Add(int64(n)) }
func (t *testMetrics) StaleHeartbeat()   { t.stale.Add(1) }

func (t *testMetrics) count(s State) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byTo[s]
}

// harness is a Monitor on a fake clock, its events recorded by a real
// event.Bus into a MemorySink (so attributes go through the sanitizer), and
// its transitions observed.
type harness struct {
	tb      testing.TB
	clk     *fakeClock
	m       *Monitor
	sink    *event.MemorySink
	metrics *testMetrics
	cfg     Config

	mu  sync.Mutex
	trs []Transition
}

// newHarness builds a Monitor with cfg (defaults filled, not validated, so
// tests may scale intervals down). events may be nil for a MemorySink-backed
// bus.
func newHarness(tb testing.TB, cfg Config, events event.Emitter) *harness {
	tb.Helper()
	h := &harness{tb: tb, clk: newFakeClock(), sink: &event.MemorySink{}, metrics: &testMetrics{}}
	if events == nil {
		events = event.NewBus(slog.New(slog.DiscardHandler), nil, h.sink)
	}
	h.cfg = cfg.withDefaults()
	h.m = build(h.cfg, Deps{
		Events: events, Now: h.clk.Now, Log: slog.New(slog.DiscardHandler), Metrics: h.metrics,
		OnTransition: func(tr Transition) {
			h.mu.Lock()
			h.trs = append(h.trs, tr)
			h.mu.Unlock()
		},
	})
	return h
}

func (h *harness) at(d time.Duration) time.Time { return epoch.Add(d) }

// runTo ticks every Config.Tick from the clock's time up to epoch+d, and at
// epoch+d itself, then delivers the queued transitions.
func (h *harness) runTo(d time.Duration) {
	end := h.at(d)
	for t := h.clk.Now(); t.Before(end); t = t.Add(h.cfg.Tick) {
		h.clk.Set(t)
		h.m.Tick(t)
	}
	h.clk.Set(end)
	h.m.Tick(end)
	h.drain()
}

func (h *harness) drain() { h.m.Drain(context.Background()) }

// codes returns the recorded event codes, in order.
func (h *harness) codes() []string {
	h.drain()
	var out []string
	for _, ev := range h.sink.Events() {
		out = append(out, ev.Code)
	}
	return out
}

func (h *harness) transitions() []Transition {
	h.drain()
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Transition(nil), h.trs...)
}

func (h *harness) connect(id string, d time.Duration) *Session {
	h.tb.Helper()
	s, err := h.m.Connected(id, h.at(d))
	if err != nil {
		h.tb.Fatalf("Connected(%s): %v", id, err)
	}
	return s
}

func (h *harness) state(id string) State {
	h.tb.Helper()
	v, ok := h.m.State(id)
	if !ok {
		h.tb.Fatalf("State(%s): unknown vehicle", id)
	}
	return v.State
}

// discardEmitter accepts events and counts them by code, without keeping
// them: for tests and benchmarks with 100,000 vehicles.
type discardEmitter struct {
	mu     sync.Mutex
	byCode map[string]int
}

func (d *discardEmitter) Emit(_ context.Context, evs ...event.Event) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byCode == nil {
		d.byCode = map[string]int{}
	}
	for i := range evs {
		d.byCode[evs[i].Code]++
	}
	return nil
}

func (d *discardEmitter) count(code string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.byCode[code]
}
