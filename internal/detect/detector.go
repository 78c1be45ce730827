package detect

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/tail"
)

//go:embed rules.yaml
var shippedRules []byte

// Shipped returns the rules built into the binary (rules.yaml), in force
// when detect.rules_file is empty.
func Shipped() *RuleSet {
	set, err := ParseRules(shippedRules, ShippedSource)
	if err != nil {
		panic("detect: the shipped rules do not validate: " + err.Error()) // a test keeps them valid
	}
	return set
}

// LoadRules reads and validates the rules file at path ("" is the shipped
// rules).
func LoadRules(path string) (*RuleSet, error) {
	if path == "" {
		return Shipped(), nil
	}
	data, err := readBounded(path)
	if err != nil {
		return nil, RuleErrors{{File: path, Msg: err.Error()}}
	}
	return ParseRules(data, path)
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the rules file: %v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxRulesFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the rules file: %v", err)
	}
	return data, nil
}

// Config is a Detector's settings. Data only.
type Config struct {
	// Holder names this replica for the stream consumer's lease (unique
	// per process).
	Holder string
	// RulesFile is the rules file; "" means the shipped rules.
	RulesFile string
	// Poll, Lease and Page tune the stream consumer (0: tail's defaults).
	Poll  time.Duration
	Lease time.Duration
	Page  int
}

// Deps are a Detector's collaborators.
type Deps struct {
	// Store is the event stream (required).
	Store tail.Store
	// Events records detection_finding and the rule set events
	// (required): the bus, whose store sink makes them durable.
	Events event.Emitter
	// Reporter receives every finding (the incident manager); nil: the
	// findings are only recorded as events.
	Reporter Reporter
	// Log receives failures; nil is slog.Default().
	Log *slog.Logger
	// OnError is told of every consumer failure (tail.Config.OnError).
	OnError func(error)
	// Metrics, if set, gets the engine's metrics (metrics.go): events
	// evaluated, findings by rule, and the lag from event to report.
	Metrics prometheus.Registerer
}

// Detector runs the rule engine as the stream consumer "detect": one
// replica at a time evaluates every stored event, in stream order, at
// least once.
type Detector struct {
	cfg  Config
	deps Deps
	met  *metrics

	mu      sync.Mutex
	eng     *Engine
	cold    bool            // the windows must be rebuilt before the next event
	lastPos store.StreamPos // the last event the windows hold

	reloadMu sync.Mutex
	stamp    fileStamp // of the rules file when last looked at
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// detectActor is the principal of the engine's events.
var detectActor = principal.Principal{Kind: principal.System, ID: "detect"}

// New loads the rules (refusing an invalid file: a gateway does not start
// with rules it cannot read) and returns a Detector; Run starts it.
func New(cfg Config, deps Deps) (*Detector, error) {
	if deps.Store == nil || deps.Events == nil {
		return nil, errors.New("detect: a detector needs a store and an event emitter")
	}
	if cfg.Holder == "" {
		return nil, errors.New("detect: a detector needs a holder name")
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	met, err := newMetrics(deps.Metrics)
	if err != nil {
		return nil, err
	}
	d := &Detector{cfg: cfg, deps: deps, met: met, cold: true}
	if cfg.RulesFile != "" {
		d.stamp = statFile(cfg.RulesFile)
	}
	set, err := LoadRules(cfg.RulesFile)
	if err != nil {
		return nil, err
	}
	d.eng = NewEngine(set)
	return d, nil
}

// Rules returns the rule set in force.
func (d *Detector) Rules() *RuleSet {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.eng.Rules()
}

// Stats returns the engine's counters.
func (d *Detector) Stats() EngineStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.eng.Stats()
}

// Run records the rule set in force, watches the rules file, and consumes
// the event stream until ctx ends.
func (d *Detector) Run(ctx context.Context) error {
	d.emitLoaded(ctx, d.Rules(), "start")
	if d.cfg.RulesFile != "" {
		go d.watch(ctx)
	}
	return tail.Run(ctx, d.deps.Store, tail.Config{Name: ConsumerName, Holder: d.cfg.Holder, Start: tail.FromHead,
		Poll: d.cfg.Poll, Lease: d.cfg.Lease, Page: d.cfg.Page, OnError: d.deps.OnError}, d.handle)
}

// handle is the stream consumer's handler: each event is evaluated, its
// findings recorded (event, then Reporter), and only then committed to the
// windows; a failure returns the events done so far, and the stream
// delivers the failed one again.
func (d *Detector) handle(ctx context.Context, evs []store.StreamEvent) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	before := d.eng.stats.Evaluated
	defer func() { d.met.evaluated.Add(float64(max(0, d.eng.stats.Evaluated-before))) }()
	if !d.cold && evs[0].Pos > d.lastPos+1 {
		// A gap: positions may skip, or another replica handled events
		// while this one did not hold the lease. Look.
		next, err := d.deps.Store.ReadEventStream(ctx, d.lastPos, 1)
		if err != nil {
			return 0, fmt.Errorf("detect: %w", err)
		}
		if len(next) == 0 || next[0].Pos != evs[0].Pos {
			d.cold = true
		}
	}
	if d.cold {
		if err := d.warmUp(ctx, evs[0]); err != nil {
			return 0, err
		}
		before = 0 // warm-up starts the engine's counters afresh
	}
	var found []pendingFinding
	for i, se := range evs {
		if se.Pos <= d.lastPos {
			continue // already in the windows (a re-delivery after the cursor failed to move)
		}
		if !d.eng.needsBody(se.Code, se.Class) {
			d.eng.stats.Evaluated++
			d.lastPos = se.Pos
			continue
		}
		in := InputOf(se.EventRow)
		for _, f := range d.eng.Evaluate(in, false) {
			found = append(found, pendingFinding{at: i, f: f})
		}
		d.eng.Evaluate(in, true)
		d.lastPos = se.Pos
	}
	if at, err := d.recordAll(ctx, found); err != nil {
		// The windows hold events whose findings are not all recorded:
		// rebuild them from the stream when the failed event comes again,
		// so its findings fire again (with the same ids; the Reporter
		// files a finding once).
		d.cold = true
		return at, err
	}
	return len(evs), nil
}

// pendingFinding is a finding of a page and the index of the event that
// completed it.
type pendingFinding struct {
	at int
	f  Finding
}

// recordAll records a page's findings: their detection_finding events in
// one write, then each handed to the Reporter, the findings of one subject
// in order, up to ReportConcurrency subjects at once (each report waits
// for the store's commit; one at a time, a burst of findings across a
// fleet queued behind each other's commits: issue 22's benchmark). On a
// failure it returns the index of the first event with a finding not
// reported.
func (d *Detector) recordAll(ctx context.Context, found []pendingFinding) (int, error) {
	if len(found) == 0 {
		return 0, nil
	}
	evs := make([]event.Event, len(found))
	for i, p := range found {
		evs[i] = FindingEvent(p.f)
	}
	if err := d.deps.Events.Emit(ctx, evs...); err != nil {
		return found[0].at, fmt.Errorf("detect: recording %d finding(s): %w", len(found), err)
	}
	if d.deps.Reporter == nil {
		for _, p := range found {
			d.met.reported(p.f, time.Now())
		}
		return 0, nil
	}
	var order []string
	bySubject := map[string][]pendingFinding{}
	for _, p := range found {
		k := p.f.SubjectKind + "\x00" + p.f.Subject
		if _, ok := bySubject[k]; !ok {
			order = append(order, k)
		}
		bySubject[k] = append(bySubject[k], p)
	}
	var (
		mu       sync.Mutex
		firstBad = -1
		firstErr error
	)
	sem := make(chan struct{}, ReportConcurrency)
	var wg sync.WaitGroup
	for _, k := range order {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			for _, p := range bySubject[k] {
				if err := d.deps.Reporter.Report(ctx, p.f); err != nil {
					mu.Lock()
					if firstBad < 0 || p.at < firstBad {
						firstBad, firstErr = p.at, fmt.Errorf("detect: reporting finding %s: %w", p.f.ID, err)
					}
					mu.Unlock()
					return // the subject's later findings wait for the re-delivery, in order
				}
				d.met.reported(p.f, time.Now())
			}
		})
	}
	wg.Wait()
	if firstBad >= 0 {
		return firstBad, firstErr
	}
	return 0, nil
}

// warmUp rebuilds the windows from the events before first: those of
// 2 × the longest window before it (at most MaxWarmupEvents), evaluated
// and committed without reporting. Twice the window, because a firing
// inside one window before the cursor quiets its key for another.
func (d *Detector) warmUp(ctx context.Context, first store.StreamEvent) error {
	d.eng = newEngineFrom(d.eng.Rules(), nil)
	d.lastPos = first.Pos - 1
	span := 2 * d.eng.Rules().MaxWindow()
	if first.Pos <= 1 || span == 0 {
		d.cold = false
		return nil
	}
	target := first.Time.Add(-span)
	timeAfter := func(p store.StreamPos) (time.Time, bool, error) {
		evs, err := d.deps.Store.ReadEventStream(ctx, p, 1)
		if err != nil || len(evs) == 0 {
			return time.Time{}, false, err
		}
		return evs[0].Time, true, nil
	}
	lo, hi := max(0, first.Pos-1-MaxWarmupEvents), first.Pos-1
	start := lo
	t, ok, err := timeAfter(lo)
	if err != nil {
		return fmt.Errorf("detect: warm-up: %w", err)
	}
	if ok && t.Before(target) {
		// The first event after hi is first itself, at or after target.
		for hi-lo > 1 {
			m := lo + (hi-lo)/2
			t, ok, err := timeAfter(m)
			if err != nil {
				return fmt.Errorf("detect: warm-up: %w", err)
			}
			if ok && t.Before(target) {
				lo = m
			} else {
				hi = m
			}
		}
		start = hi
	}
	pos := start
	for pos < first.Pos-1 {
		evs, err := d.deps.Store.ReadEventStream(ctx, pos, 0)
		if err != nil {
			return fmt.Errorf("detect: warm-up: %w", err)
		}
		if len(evs) == 0 {
			break
		}
		for _, se := range evs {
			if se.Pos >= first.Pos {
				break
			}
			if d.eng.needsBody(se.Code, se.Class) {
				d.eng.Evaluate(InputOf(se.EventRow), true)
			}
			pos = se.Pos
		}
		if evs[len(evs)-1].Pos >= first.Pos {
			break
		}
	}
	d.eng.stats = EngineStats{}
	d.cold = false
	return nil
}

// FindingEvent is the detection_finding event of f.
func FindingEvent(f Finding) event.Event {
	res := f.Subject
	switch f.SubjectKind {
	case SubjectVehicle:
		res = principal.Principal{Kind: principal.Vehicle, ID: f.Subject}.String()
	case SubjectClient:
		res = principal.Principal{Kind: principal.Client, ID: f.Subject}.String()
	case SubjectOperator:
		res = principal.Principal{Kind: principal.Operator, ID: f.Subject}.String()
	case SubjectSource:
		res = "source:" + f.Subject
	}
	return event.Event{Class: event.ClassDetection, Activity: "finding", Severity: codes.SeverityOf(codes.DetectionFinding, f.Severity),
		Actor: detectActor, Resource: res, Verdict: event.Info, Code: codes.DetectionFinding,
		Attrs: map[string]any{"finding_id": f.ID, "rule": f.RuleID, "title": f.Title, "subject_kind": f.SubjectKind,
			"subject": f.Subject, "count": f.Count, "first_at": f.FirstAt, "at": f.At, "event_ids": f.EventIDs,
			"safety": f.Safety}}
}
