package detect

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

var ctx = context.Background()

// reporter records findings and can fail the next n reports.
type reporter struct {
	mu    sync.Mutex
	got   []Finding
	at    []time.Time
	fails int
}

func (r *reporter) Report(_ context.Context, f Finding) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fails > 0 {
		r.fails--
		return errors.New("incident store down")
	}
	r.got = append(r.got, f)
	r.at = append(r.at, time.Now())
	return nil
}

func (r *reporter) findings() []Finding {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Finding(nil), r.got...)
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// gateway is a store with the bus the gateway records events through.
type gateway struct {
	st  store.Store
	bus *event.Bus
	mem *event.MemorySink
}

func newGateway(t *testing.T, e storetest.Engine) *gateway {
	st := e.Open(t)
	mem := &event.MemorySink{}
	return &gateway{st: st, mem: mem, bus: event.NewBus(nil, nil, event.NewStoreSink(st), mem)}
}

// start runs a detector as serve does (the tail's default poll and lease)
// until the test ends, once its consumer exists.
func (g *gateway) start(t *testing.T, holder string, rep Reporter) (*Detector, context.CancelFunc) {
	t.Helper()
	d, err := New(Config{Holder: holder}, Deps{Store: g.st, Events: g.bus, Reporter: rep})
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = d.Run(c); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the detect consumer", 10*time.Second, func() bool {
		cs, err := g.st.StreamConsumers(ctx)
		return err == nil && len(cs) == 1 && cs[0].Holder == holder
	})
	return d, func() { cancel(); <-done }
}

// replayEvent is the event the ingest pipeline records for a replayed
// telemetry frame (same vehicle, epoch and seq as an accepted one, other
// bytes).
func replayEvent(v string) event.Event {
	return event.Event{Class: event.ClassTelemetry, Activity: "frame", Severity: event.SeverityHigh, Actor: vehicle(v),
		Resource: vehicle(v).String(), Verdict: event.Reject, Code: codes.Replay,
		Attrs: map[string]any{"source": "live", "kind": "telemetry", "epoch": 1, "seq": 42}}
}

// TestAttackTelemetryReplayFindingWithinOneSecond: a replayed frame's
// event, stored, reaches the Reporter as a frame-replay finding through
// the detect consumer within 1 s (the SLA), and the finding is
// recorded as a detection_finding event in the store. Margin: the
// consumer polls every 100 ms (tail.DefaultPoll, what serve runs), so the
// expected latency is 100–200 ms; the 1 s bound leaves 5× for a loaded CI
// machine under -race.
func TestAttackTelemetryReplayFindingWithinOneSecond(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		g := newGateway(t, e)
		rep := &reporter{}
		g.start(t, "gw-a", rep)
		sent := time.Now()
		if err := g.bus.Emit(ctx, replayEvent("truck-1")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the finding", 5*time.Second, func() bool { return len(rep.findings()) == 1 })
		rep.mu.Lock()
		lag := rep.at[0].Sub(sent)
		rep.mu.Unlock()
		if lag > time.Second {
			t.Errorf("the finding took %v from commit to Reporter, SLA 1 s", lag)
		}
		f := rep.findings()[0]
		if f.RuleID != "frame-replay" || f.SubjectKind != SubjectVehicle || f.Subject != "truck-1" || !f.Safety || f.Count != 1 {
			t.Fatalf("finding %+v", f)
		}
		rows, err := g.st.ListEvents(ctx, store.EventFilter{Code: codes.DetectionFinding})
		if err != nil || len(rows) != 1 {
			t.Fatalf("stored detection_finding events: %v %v", rows, err)
		}
		if !strings.Contains(string(rows[0].Body), `"finding_id":"`+f.ID+`"`) || rows[0].Class != string(event.ClassDetection) {
			t.Fatalf("detection_finding event %s", rows[0].Body)
		}
	})
}

// TestWindowSpansARestart: two signature failures before a restart and
// one after make the finding (the new detector warms its windows up from
// the events before its cursor), with the id the uninterrupted engine
// gives.
func TestWindowSpansARestart(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		g := newGateway(t, e)
		rep := &reporter{}
		d, stop := g.start(t, "gw-a", rep)
		sig := func() {
			ev := about(GroupVehicle, "truck-2", string(frame.CodeBadSignature), time.Time{})
			if err := g.bus.Emit(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		sig()
		sig()
		waitFor(t, "two events evaluated", 5*time.Second, func() bool { return d.Stats().Evaluated >= 2 })
		stop()
		g.start(t, "gw-b", rep)
		sig()
		waitFor(t, "the finding", 5*time.Second, func() bool { return len(rep.findings()) == 1 })
		f := rep.findings()[0]
		rows, _ := g.st.ListEvents(ctx, store.EventFilter{Code: "bad_signature"})
		if f.RuleID != "frame-signature-failures" || f.Count != 3 || f.ID != findingID(f.RuleID, SubjectVehicle, "truck-2", rows[0].ID) {
			t.Fatalf("finding %+v", f)
		}
	})
}

// TestRedeliveryKeepsTheFindingID: a Reporter that fails makes the stream
// deliver the event again; the finding reported then, and the one a
// fresh detector makes from the same events after a crash (cursor not
// moved), have the same id.
func TestRedeliveryKeepsTheFindingID(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		g := newGateway(t, e)
		for range 3 {
			if err := g.bus.Emit(ctx, about(GroupVehicle, "truck-3", string(frame.CodeBadSignature), time.Time{})); err != nil {
				t.Fatal(err)
			}
		}
		evs, err := g.st.ReadEventStream(ctx, 0, 0)
		if err != nil || len(evs) != 3 {
			t.Fatalf("%v %v", evs, err)
		}
		rep := &reporter{fails: 1}
		d, err := New(Config{Holder: "gw-a"}, Deps{Store: g.st, Events: g.bus, Reporter: rep})
		if err != nil {
			t.Fatal(err)
		}
		n, err := d.handle(ctx, evs)
		if err == nil || n != 2 {
			t.Fatalf("a failing Reporter: handle = %d, %v; want 2 done and the error", n, err)
		}
		if n, err := d.handle(ctx, evs[n:]); err != nil || n != 1 {
			t.Fatalf("retry: %d, %v", n, err)
		}
		// After a crash: a new process, the cursor still before the third.
		d2, _ := New(Config{Holder: "gw-b"}, Deps{Store: g.st, Events: g.bus, Reporter: rep})
		if n, err := d2.handle(ctx, evs[2:]); err != nil || n != 1 {
			t.Fatalf("after the crash: %d, %v", n, err)
		}
		fs := rep.findings()
		if len(fs) != 2 || fs[0].ID != fs[1].ID {
			t.Fatalf("findings %+v", fs)
		}
		// And an event already in the windows is not counted twice.
		if n, err := d.handle(ctx, evs); err != nil || n != 3 || len(rep.findings()) != 2 {
			t.Fatalf("re-delivery of handled events: %d, %v, %d findings", n, err, len(rep.findings()))
		}
	})
}

const rulesV1 = `rules:
  - id: sig
    description: signature failures
    severity: high
    match: {codes: [bad_signature]}
    group_by: vehicle
    window: 1m
    threshold: 3
    runbook: revoke
`

const rulesV2 = rulesV1 + `  - id: replays
    description: replays
    severity: high
    match: {codes: [replay]}
    group_by: vehicle
    window: 10m
    threshold: 1
    runbook: hold commands
`

func writeRules(t *testing.T, path, s string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // as an editor or a ConfigMap does
		t.Fatal(err)
	}
}

// TestReload: SIGHUP's Reload puts a valid file in force and records
// detection_rules_loaded (count, hash); an invalid file is refused with
// errors naming file:line and path, recorded as detection_rules_refused,
// and the rule set in force stays, windows included.
func TestReload(t *testing.T) {
	g := newGateway(t, storetest.Engines()[0])
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRules(t, path, rulesV1)
	rep := &reporter{}
	d, err := New(Config{Holder: "gw", RulesFile: path}, Deps{Store: g.st, Events: g.bus, Reporter: rep})
	if err != nil {
		t.Fatal(err)
	}
	v1 := d.Rules()
	// Two failures under v1 ...
	evalRows(t, d, about(GroupVehicle, "v", string(frame.CodeBadSignature), t0), about(GroupVehicle, "v", string(frame.CodeBadSignature), t0.Add(time.Second)))

	writeRules(t, path, rulesV2)
	if err := d.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := d.Rules(); len(got.Rules) != 2 || got.Hash == v1.Hash || got.Source != path {
		t.Fatalf("after a valid reload: %+v", got)
	}
	loaded := g.mem.ByCode(codes.DetectionRulesLoaded)
	if len(loaded) != 1 || loaded[0].Attrs["count"] != 2 || loaded[0].Attrs["hash"] != d.Rules().Hash {
		t.Fatalf("loaded events %+v", loaded)
	}

	bad := strings.Replace(rulesV2, "window: 10m", "window: ten minutes", 1)
	writeRules(t, path, bad)
	err = d.Reload(ctx)
	if err == nil || !strings.Contains(err.Error(), path+":15: rules[1].window:") {
		t.Fatalf("invalid reload: %v", err)
	}
	if d.Rules().Hash != loaded[0].Attrs["hash"] {
		t.Fatal("an invalid file replaced the rule set in force")
	}
	refused := g.mem.ByCode(codes.DetectionRulesRefused)
	if len(refused) != 1 || refused[0].Verdict != event.Reject || !strings.Contains(strings.Join(refused[0].Attrs["errors"].([]string), "\n"), "rules[1].window") {
		t.Fatalf("refused events %+v", refused)
	}
	// ... and the third after two reloads fires: the unchanged rule kept
	// its window.
	if fs := evalRows(t, d, about(GroupVehicle, "v", string(frame.CodeBadSignature), t0.Add(2*time.Second))); len(fs) != 1 || fs[0].Count != 3 {
		t.Fatalf("the window did not survive the reloads: %+v", fs)
	}
}

// evalRows puts events through d's engine, committing, and returns the
// findings.
func evalRows(t *testing.T, d *Detector, evs ...event.Event) []Finding {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Finding
	for _, e := range evs {
		out = append(out, d.eng.Evaluate(InputOf(row(t, e)), true)...)
	}
	return out
}

// TestReloadOnFileChange: a running detector picks up a changed file
// without a signal (polled every ReloadPoll), and refuses a broken one
// once, keeping its rules.
func TestReloadOnFileChange(t *testing.T) {
	g := newGateway(t, storetest.Engines()[0])
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRules(t, path, rulesV1)
	d, err := New(Config{Holder: "gw", RulesFile: path}, Deps{Store: g.st, Events: g.bus})
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = d.Run(c); close(done) }()
	defer func() { cancel(); <-done }()
	writeRules(t, path, rulesV2)
	waitFor(t, "the changed file in force", 10*time.Second, func() bool { return len(d.Rules().Rules) == 2 })
	writeRules(t, path, "rules: [")
	waitFor(t, "the broken file refused", 10*time.Second, func() bool { return len(g.mem.ByCode(codes.DetectionRulesRefused)) == 1 })
	time.Sleep(2 * ReloadPoll)
	if n := len(g.mem.ByCode(codes.DetectionRulesRefused)); n != 1 || len(d.Rules().Rules) != 2 {
		t.Fatalf("refused %d times; rules in force %d", n, len(d.Rules().Rules))
	}
}

// TestInvalidRulesFileRefusedAtStart: a gateway does not start with rules
// it cannot read.
func TestInvalidRulesFileRefusedAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRules(t, path, "rules:\n  - id: x\n")
	g := newGateway(t, storetest.Engines()[0])
	if _, err := New(Config{Holder: "gw", RulesFile: path}, Deps{Store: g.st, Events: g.bus}); err == nil || !strings.Contains(err.Error(), path+":2: rules[0].description: missing") {
		t.Fatalf("New: %v", err)
	}
}

// barrierReporter holds each report until two are in flight at once (or
// its patience runs out), and records the most in flight and the order of
// each subject's findings.
type barrierReporter struct {
	mu       sync.Mutex
	inFlight int
	most     int
	order    map[string][]string
}

func (r *barrierReporter) Report(_ context.Context, f Finding) error {
	r.mu.Lock()
	r.inFlight++
	r.most = max(r.most, r.inFlight)
	r.order[f.Subject] = append(r.order[f.Subject], f.ID)
	r.mu.Unlock()
	// Wait for a second report in flight: only another subject's can come
	// while this one is held. Patience, not a timing assertion: a
	// reporter called one at a time waits it out and the test fails on
	// most.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		r.mu.Lock()
		two := r.most >= 2
		r.mu.Unlock()
		if two {
			break
		}
	}
	r.mu.Lock()
	r.inFlight--
	r.mu.Unlock()
	return nil
}

// TestFindingsOfASubjectInOrderOthersAtOnce: the findings of one page are
// reported for several subjects at once (a fleet-wide burst must not
// queue each report behind the previous one's commit), and each
// subject's in the order its events came.
func TestFindingsOfASubjectInOrderOthersAtOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		g := newGateway(t, e)
		rep := &barrierReporter{order: map[string][]string{}}
		d, err := New(Config{Holder: "gw-a"}, Deps{Store: g.st, Events: g.bus, Reporter: rep})
		if err != nil {
			t.Fatal(err)
		}
		// truck-1: a replay (frame-replay) then three bad signatures
		// (frame-signature-failures); truck-2: a replay.
		evs := []event.Event{replayEvent("truck-1"), replayEvent("truck-2")}
		for range 3 {
			evs = append(evs, about(GroupVehicle, "truck-1", string(frame.CodeBadSignature), time.Time{}))
		}
		if err := g.bus.Emit(ctx, evs...); err != nil {
			t.Fatal(err)
		}
		page, err := g.st.ReadEventStream(ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := d.handle(ctx, page); err != nil || n != len(page) {
			t.Fatalf("handle: %d, %v", n, err)
		}
		if rep.most < 2 {
			t.Errorf("at most %d report(s) in flight: the subjects were reported one at a time", rep.most)
		}
		if got := len(rep.order["truck-1"]); got != 2 || len(rep.order["truck-2"]) != 1 {
			t.Fatalf("findings by subject %v", rep.order)
		}
		want := []string{findingIDOf(t, g, "frame-replay", "truck-1"), findingIDOf(t, g, "frame-signature-failures", "truck-1")}
		if rep.order["truck-1"][0] != want[0] || rep.order["truck-1"][1] != want[1] {
			t.Errorf("truck-1's findings in the order %v, want %v (its events' order)", rep.order["truck-1"], want)
		}
	})
}

// findingIDOf returns the finding id of rule about vehicle v from the
// detection_finding events recorded.
func findingIDOf(t *testing.T, g *gateway, rule, v string) string {
	t.Helper()
	for _, ev := range g.mem.Events() {
		if ev.Code == codes.DetectionFinding && ev.Attrs["rule"] == rule && ev.Attrs["subject"] == v {
			return ev.Attrs["finding_id"].(string)
		}
	}
	t.Fatalf("no %s finding about %s recorded", rule, v)
	return ""
}
