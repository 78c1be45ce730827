package event

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is the aggregator's clock in these tests: windows close when
// the test says so (expire), never by the wall clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type countingStats struct{ folded, overflow, summaryErrors atomic.Int64 }

func (s *countingStats) Folded()            { s.folded.Add(1) }
func (s *countingStats) Overflow()          { s.overflow.Add(1) }
func (s *countingStats) SummaryError(n int) { s.summaryErrors.Add(int64(n)) }

type aggFixture struct {
	mem   *MemorySink
	clock *fakeClock
	stats *countingStats
	agg   *Aggregator
}

func newAggFixture(t *testing.T, cfg AggregatorConfig, sinks ...Sink) *aggFixture {
	t.Helper()
	f := &aggFixture{mem: &MemorySink{}, clock: &fakeClock{t: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}, stats: &countingStats{}}
	a, err := newAggregator(NewBus(slog.New(slog.DiscardHandler), nil, append(sinks, f.mem)...), cfg,
		AggregatorDeps{Log: slog.New(slog.DiscardHandler), Stats: f.stats, Now: f.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	f.agg = a
	return f
}

// refusal is an event about an unauthenticated peer from source.
func refusal(source, code string) Event {
	return Event{Class: ClassAuthentication, Activity: "tls_handshake", Verdict: Reject, Severity: SeverityMedium,
		Code: code, Source: source, Attrs: map[string]any{"listener": "vehicle"}}
}

func (f *aggFixture) emit(t *testing.T, evs ...Event) {
	t.Helper()
	if err := f.agg.Emit(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
}

// total adds up what was recorded for code: events on their own count 1,
// summaries their count.
func total(evs []Event) (n int) {
	for _, ev := range evs {
		if ev.Attrs["aggregated"] == true {
			n += ev.Attrs["count"].(int)
			continue
		}
		n++
	}
	return n
}

func summaries(evs []Event) []Event {
	var out []Event
	for _, ev := range evs {
		if ev.Attrs["aggregated"] == true {
			out = append(out, ev)
		}
	}
	return out
}

// The first AggregateIndividually events of a key are recorded as they
// come; the rest only when the window closes, as one summary whose count
// makes the total exact.
func TestAggregatorCountsExactlyAndSummarizesOnWindowClose(t *testing.T) {
	f := newAggFixture(t, AggregatorConfig{Window: 10 * time.Second})
	const sent = 1000
	for i := range sent {
		f.emit(t, refusal("192.0.2.7", "tls_unknown_authority"))
		if i == 0 && len(f.mem.Events()) != 1 {
			t.Fatal("the first event of a window was not recorded at once")
		}
		f.clock.add(time.Millisecond) // 1 s in all, inside the window
	}
	if got := len(f.mem.Events()); got != AggregateIndividually {
		t.Fatalf("%d events recorded during the window, want %d", got, AggregateIndividually)
	}
	if err := f.agg.expire(false); err != nil || len(f.mem.Events()) != AggregateIndividually {
		t.Fatalf("a window closed early: %d events, %v", len(f.mem.Events()), err)
	}

	f.clock.add(9 * time.Second) // the window (opened 1 s ago) is due
	if err := f.agg.expire(false); err != nil {
		t.Fatal(err)
	}
	evs := f.mem.Events()
	sums := summaries(evs)
	if len(sums) != 1 || total(evs) != sent {
		t.Fatalf("%d summaries, total %d, want 1 and %d", len(sums), total(evs), sent)
	}
	s := sums[0]
	if s.Source != "192.0.2.7" || s.Code != "tls_unknown_authority" || s.Class != ClassAuthentication ||
		s.Verdict != Reject || s.Severity != SeverityMedium || s.Attrs["listener"] != "vehicle" ||
		s.Attrs["total"] != sent || s.Attrs["count"] != sent-AggregateIndividually {
		t.Fatalf("summary %+v", s)
	}
	if s.Attrs["window_start"] != "2026-12-01T08:00:00Z" || s.Attrs["window_end"] != "2026-12-01T08:00:10Z" {
		t.Fatalf("summary window %v to %v", s.Attrs["window_start"], s.Attrs["window_end"])
	}
	if n := f.stats.folded.Load(); n != sent-AggregateIndividually {
		t.Fatalf("folded %d, want %d", n, sent-AggregateIndividually)
	}

	// The next event opens a new window and is recorded at once.
	f.emit(t, refusal("192.0.2.7", "tls_unknown_authority"))
	if got := len(f.mem.Events()); got != len(evs)+1 {
		t.Fatalf("first event of the next window: %d events, want %d", got, len(evs)+1)
	}
}

// Keys are (source, class, activity, code, resource, listener): a
// different value of any one is counted apart; events without a Source are
// never aggregated.
func TestAggregatorKeysAndPassThrough(t *testing.T) {
	f := newAggFixture(t, AggregatorConfig{})
	base := refusal("192.0.2.7", "tls_unknown_authority")
	vary := []func(*Event){
		func(*Event) {},
		func(e *Event) { e.Source = "192.0.2.8" },
		func(e *Event) { e.Class = ClassAPI },
		func(e *Event) { e.Activity = "request_refused" },
		func(e *Event) { e.Code = "tls_bad_certificate" },
		func(e *Event) { e.Resource = "urn:fifthwheel:vehicle:t1" },
		func(e *Event) { e.Attrs = map[string]any{"listener": "tms"} },
	}
	for i := 0; i < 2*AggregateIndividually; i++ {
		for _, v := range vary {
			ev := base
			v(&ev)
			f.emit(t, ev)
		}
		f.emit(t, Event{Class: ClassAuthentication, Code: "tls_accepted", Verdict: Accept})
	}
	if got, want := len(f.mem.Events()), len(vary)*AggregateIndividually+2*AggregateIndividually; got != want {
		t.Fatalf("%d events recorded, want %d", got, want)
	}
	if len(f.mem.ByCode("tls_accepted")) != 2*AggregateIndividually {
		t.Fatal("events without a source were aggregated")
	}
}

// Beyond MaxKeys windows, events fold into one overflow window per code
// (Source "*"), counted in Stats.Overflow; the windows held stay bounded.
func TestAggregatorKeyBound(t *testing.T) {
	f := newAggFixture(t, AggregatorConfig{MaxKeys: 3})
	const sources = 50
	for i := range sources {
		for range 2 {
			f.emit(t, refusal(fmt.Sprintf("192.0.2.%d", i), "tls_unknown_authority"))
		}
	}
	f.agg.mu.Lock()
	held := len(f.agg.windows)
	f.agg.mu.Unlock()
	if held != 3+1 {
		t.Fatalf("%d windows held, want 3 and one overflow window", held)
	}
	if n := f.stats.overflow.Load(); n != 2*(sources-3) {
		t.Fatalf("overflow counted %d events, want %d", n, 2*(sources-3))
	}
	if err := f.agg.Close(); err != nil {
		t.Fatal(err)
	}
	evs := f.mem.Events()
	if total(evs) != 2*sources {
		t.Fatalf("total %d, want %d", total(evs), 2*sources)
	}
	sums := summaries(evs)
	if len(sums) != 1 || sums[0].Source != OverflowSource || sums[0].Attrs["total"] != 2*(sources-3) {
		t.Fatalf("summaries %+v", sums)
	}
}

// Close records the summaries of windows still open, and events emitted
// after it pass straight through.
func TestAggregatorFlushesOnClose(t *testing.T) {
	f := newAggFixture(t, AggregatorConfig{})
	for range 10 {
		f.emit(t, refusal("2001:db8::/64", "client_certificate_required"))
	}
	f.clock.add(3 * time.Second)
	if err := f.agg.Close(); err != nil {
		t.Fatal(err)
	}
	sums := summaries(f.mem.Events())
	if len(sums) != 1 || sums[0].Attrs["count"] != 10-AggregateIndividually ||
		sums[0].Attrs["window_end"] != "2026-12-01T08:00:03Z" {
		t.Fatalf("summaries on close %+v", sums)
	}
	before := len(f.mem.Events())
	for range 10 {
		f.emit(t, refusal("2001:db8::/64", "client_certificate_required"))
	}
	if got := len(f.mem.Events()); got != before+10 {
		t.Fatalf("after Close %d events recorded, want %d", got-before, 10)
	}
	if err := f.agg.Close(); err != nil {
		t.Fatal("Close is not idempotent:", err)
	}
}

type failSink struct{ fail atomic.Bool }

func (s *failSink) Write(context.Context, []Encoded) error {
	if s.fail.Load() {
		return errors.New("disk full")
	}
	return nil
}

// A summary that cannot be recorded is counted and reported, not retried
// and not a panic; an event recorded on its own returns the sink's error to
// its caller, which fails closed.
func TestAggregatorSummaryFailureIsCounted(t *testing.T) {
	fs := &failSink{}
	f := newAggFixture(t, AggregatorConfig{}, fs)
	for range AggregateIndividually + 3 {
		f.emit(t, refusal("192.0.2.1", "tls_unknown_authority"))
	}
	fs.fail.Store(true)
	if err := f.agg.Emit(context.Background(), refusal("192.0.2.2", "tls_unknown_authority")); !errors.Is(err, ErrSink) {
		t.Fatalf("first event of a window with a failing sink: %v, want ErrSink", err)
	}
	f.clock.add(DefaultAggregateWindow)
	if err := f.agg.expire(false); !errors.Is(err, ErrSink) {
		t.Fatalf("expire: %v, want ErrSink", err)
	}
	if n := f.stats.summaryErrors.Load(); n != 1 {
		t.Fatalf("summary errors counted %d, want 1", n)
	}
}

// The ticker of a running aggregator closes due windows by itself.
func TestAggregatorTickerClosesWindows(t *testing.T) {
	mem := &MemorySink{}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a, err := NewAggregator(NewBus(nil, nil, mem), AggregatorConfig{Window: MinAggregateWindow},
		AggregatorDeps{Log: slog.New(slog.DiscardHandler), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for range AggregateIndividually + 1 {
		if err := a.Emit(context.Background(), refusal("192.0.2.1", "tls_unknown_authority")); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	now = now.Add(MinAggregateWindow)
	mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for len(summaries(mem.Events())) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the ticker never closed a due window")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNewAggregatorValidates(t *testing.T) {
	bus := NewBus(nil, nil)
	for _, cfg := range []AggregatorConfig{
		{Window: MinAggregateWindow - 1}, {Window: MaxAggregateWindow + 1}, {MaxKeys: -1},
	} {
		if _, err := NewAggregator(bus, cfg, AggregatorDeps{}); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	if _, err := NewAggregator(nil, AggregatorConfig{}, AggregatorDeps{}); err == nil {
		t.Error("nil emitter accepted")
	}
}

// A certificate with 500 URI SANs (what an outside review sent) makes a
// bounded attribute: 4 values, the count and a hash of all of them.
func TestAttackUnverifiedSANFloodIsBounded(t *testing.T) {
	uris := make([]string, 500)
	for i := range uris {
		uris[i] = fmt.Sprintf("urn:fifthwheel:vehicle:%s-%03d", strings.Repeat("x", 100), i)
	}
	attrs := map[string]any{}
	BoundStrings(attrs, "unverified_uri", uris)
	b, err := json.Marshal(Event{Code: "tls_unknown_authority", Attrs: Sanitize(attrs)})
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 1<<10 {
		t.Fatalf("event with 500 unverified SANs is %d bytes, want ≤ 1 KiB:\n%s", len(b), b)
	}
	if got := attrs["unverified_uri"].([]string); len(got) != MaxAttrValues || got[0] != uris[0] {
		t.Fatalf("kept %v", got)
	}
	if attrs["unverified_uri_count"] != 500 || len(attrs["unverified_uri_sha256"].(string)) != 64 {
		t.Fatalf("count/hash %v %v", attrs["unverified_uri_count"], attrs["unverified_uri_sha256"])
	}
	other := map[string]any{}
	BoundStrings(other, "unverified_uri", append(append([]string{}, uris[:499]...), "urn:other"))
	if other["unverified_uri_sha256"] == attrs["unverified_uri_sha256"] {
		t.Fatal("the hash does not cover the values left out")
	}

	few := map[string]any{}
	BoundStrings(few, "unverified_uri", []string{"urn:fifthwheel:vehicle:t1"})
	if len(few) != 1 {
		t.Fatalf("a short list gained count and hash: %v", few)
	}
	long := BoundString(strings.Repeat("é", 1000))
	if len(long) > MaxAttrValueBytes || !strings.HasSuffix(long, cutMark) || !strings.HasPrefix(long, "éé") {
		t.Fatalf("BoundString: %d bytes %q", len(long), long)
	}
	if s := Sanitize(map[string]any{"x": strings.Repeat("a", 10*MaxAttrStringBytes)})["x"].(string); len(s) > MaxAttrStringBytes {
		t.Fatalf("sanitizer backstop let %d bytes through", len(s))
	}
}

func TestSourceOf(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:443":              "192.0.2.7",
		"192.0.2.7":                  "192.0.2.7",
		"[::ffff:192.0.2.7]:1":       "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2::9]:80":       "2001:db8:1:2::/64",
		"[fe80::1%eth0]:80":          "fe80::/64",
		"@":                          "invalid",
		"":                           "invalid",
	} {
		if got := SourceOf(in); got != want {
			t.Errorf("SourceOf(%q) = %q, want %q", in, got, want)
		}
	}
}
