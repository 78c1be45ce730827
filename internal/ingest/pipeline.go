package ingest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/plausibility"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Source says how a frame arrived, which decides its freshness rule.
type Source string

// Sources.
const (
	// Live frames (the vehicle session) must be within ±ClockSkew.
	Live Source = "live"
	// Backfill frames (the batch path) may be older, never in the future.
	Backfill Source = "backfill"
)

// Config tunes the pipeline. Data only; zero fields take the defaults in
// limits.go, ClockSkew the protocol's (agent.DefaultClockSkew), Plausibility
// the rules' own (package plausibility). The gateway fills it from
// telemetry.* and plausibility.* (internal/config).
type Config struct {
	ClockSkew    time.Duration
	Window       int64 // out-of-order window, 0..MaxWindow
	Plausibility plausibility.Config
	// SummaryInterval is how often each vehicle's stored frames are
	// recorded as one frames_accepted_summary event (summary.go),
	// MinSummaryInterval to MaxSummaryInterval.
	SummaryInterval time.Duration
	// MaxInFlight bounds the telemetry frames admitted and not yet
	// committed (flow.go): MaxBatchFrames..MaxMaxInFlight, default
	// DefaultMaxInFlight.
	MaxInFlight int
}

func (c Config) withDefaults() Config {
	if c.ClockSkew == 0 {
		c.ClockSkew = agent.DefaultClockSkew
	}
	if c.SummaryInterval == 0 {
		c.SummaryInterval = DefaultSummaryInterval
	}
	c.Plausibility = c.Plausibility.WithDefaults()
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	return c
}

func (c Config) validate() error {
	var errs []string
	if c.ClockSkew < 0 || c.ClockSkew > MaxClockSkew {
		errs = append(errs, fmt.Sprintf("clock_skew: must be between 0 and %v", MaxClockSkew))
	}
	if c.Window < 0 || c.Window > MaxWindow {
		errs = append(errs, fmt.Sprintf("window: must be between 0 and %d", MaxWindow))
	}
	if c.SummaryInterval < MinSummaryInterval || c.SummaryInterval > MaxSummaryInterval {
		errs = append(errs, fmt.Sprintf("accepted_summary_interval: must be between %v and %v", MinSummaryInterval, MaxSummaryInterval))
	}
	if c.MaxInFlight < MaxBatchFrames || c.MaxInFlight > MaxMaxInFlight {
		errs = append(errs, fmt.Sprintf("max_in_flight: must be between %d and %d", MaxBatchFrames, MaxMaxInFlight))
	}
	if err := c.Plausibility.Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return errors.New("ingest: " + strings.Join(errs, "; "))
	}
	return nil
}

// Store is the part of the store contract the pipeline uses.
type Store interface {
	KeyStore
	RegistryFeed
	LookupFrame(ctx context.Context, vehicleID string, epoch, seq int64) ([]byte, error)
	AppendFrames(ctx context.Context, recs []store.FrameRecord, window int64) ([]store.AppendOutcome, error)
}

// ETAStore keeps vehicles' latest ETAs (store.TrackingStore's PutETAs).
type ETAStore interface {
	PutETAs(ctx context.Context, etas []store.ETA) error
}

// Events is what the pipeline needs of the event bus (*event.Bus): Emit for
// rejections, duplicates and the accepted-frame summaries, and
// Prepare/Delivered for the findings of a stored frame, which commit in the
// frame's own transaction.
type Events interface {
	event.Emitter
	Prepare(evs ...event.Event) (*event.Pending, error)
	Delivered(ctx context.Context, p *event.Pending, recorded []int) error
}

// Deps are the pipeline's live dependencies.
type Deps struct {
	Store   Store
	Events  Events
	Metrics prometheus.Registerer // may be nil
	Now     func() time.Time      // nil: time.Now
	// Area, if set, returns a vehicle's own operating-area polygon; nil:
	// every vehicle has Config.Plausibility.Area.
	Area func(vehicleID string) plausibility.Polygon
	// Secrets opens sealed HS256 secrets (the gateway's secrets key). Nil:
	// a frame under a sealed key cannot be checked, and the call fails
	// closed (ErrUnavailable).
	Secrets SecretSealer
	// Log receives failures to record the accepted-frame summaries; nil:
	// slog.Default().
	Log *slog.Logger
	// ETAs, if set, keeps each vehicle's latest ETA per load from the eta
	// of its accepted telemetry (both paths, live and batch); nil: the eta
	// is archived in the frame row only.
	ETAs ETAStore
	// SummaryTick, if set, closes a summary interval at each value (tests);
	// nil: a ticker of Config.SummaryInterval.
	SummaryTick <-chan time.Time
}

// Pipeline verifies and stores frames. Close it to record the summaries of
// the frames stored since the last interval.
type Pipeline struct {
	cfg    Config
	st     Store
	keySt  KeyStore // st, with sealed secrets opened
	ev     Events
	now    func() time.Time
	area   func(string) plausibility.Polygon
	keys   *keyCache
	plaus  *plausibility.Checker
	frames *prometheus.CounterVec
	sum    *summaries
	flow   *flow
	etas   ETAStore

	mu   sync.Mutex
	high map[string][2]int64 // last (epoch, seq) this replica stored per vehicle
	// lastETA is the ETA this replica last recorded per vehicle: a truck
	// repeats its ETA in every telemetry frame, and an unchanged one is not
	// written again (one entry per enrolled vehicle that reports one).
	lastETA map[string]store.ETA
}

// New returns a Pipeline after validating cfg, and starts its summary
// ticker; stop it with Close.
func New(cfg Config, d Deps) (*Pipeline, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if d.Store == nil || d.Events == nil {
		return nil, errors.New("ingest: Store and Events are required")
	}
	now := d.Now
	if now == nil {
		now = time.Now
	}
	area := d.Area
	if area == nil {
		area = func(string) plausibility.Polygon { return cfg.Plausibility.Area }
	}
	plaus, err := plausibility.New(cfg.Plausibility)
	if err != nil { // validated above: unreachable
		return nil, fmt.Errorf("ingest: %v", err)
	}
	p := &Pipeline{cfg: cfg, st: d.Store, keySt: openKeys{d.Store, d.Secrets}, ev: d.Events, now: now, area: area,
		keys: newKeyCache(now, KeyCacheTTL), plaus: plaus, high: map[string][2]int64{}, lastETA: map[string]store.ETA{},
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fifthwheel_frames_total", Help: "Frames by verdict and reason code.",
		}, []string{"verdict", "code"}),
		flow: newFlow(cfg.MaxInFlight, now, d.Events),
		etas: d.ETAs,
	}
	if d.Metrics != nil {
		for _, c := range append(p.flow.collectors(), p.frames) {
			if err := d.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("ingest: register metrics: %v", err)
			}
		}
	}
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	p.sum = newSummaries(d.Events, now, log, cfg.SummaryInterval, d.SummaryTick)
	return p, nil
}

// Close records the summaries of the frames stored in the interval in
// progress and stops the summary ticker; the gateway calls it on shutdown,
// before the store closes. It returns the summaries' write error, if any
// (their frames are durable regardless). Close is idempotent; frames
// stored after it are summarized one call at a time.
func (p *Pipeline) Close() error { return p.sum.Close() }

// RefuseIfFull returns ErrBusy, and records the refusal, when fewer than
// MaxBatchFrames telemetry slots are free: the batch path asks before it
// reads a body, because reading, parsing and admitting a full batch costs
// about as much as verifying it, and a saturated gateway must not spend
// that on frames it will refuse. A call it lets through may still be
// refused by Process when the slots went meanwhile.
func (p *Pipeline) RefuseIfFull(ctx context.Context, peer principal.Principal, src Source) error {
	if !p.flow.full(MaxBatchFrames) {
		return nil
	}
	p.flow.refuse(ctx, peer, src, 0)
	return ErrBusy
}

// Verdicts of a Result.
const (
	Accepted = "accepted"
	Rejected = "rejected"
)

// Result is the pipeline's answer for one frame.
type Result struct {
	Verdict   string   `json:"verdict"`
	Code      string   `json:"code,omitempty"`
	Duplicate bool     `json:"duplicate,omitempty"`
	Findings  []string `json:"findings,omitempty"`
	// Set when the frame decoded; zero otherwise.
	Epoch int64        `json:"-"`
	Seq   int64        `json:"-"`
	Kind  frame.Kind   `json:"-"`
	Frame *frame.Frame `json:"-"`
}

// ErrUnavailable reports that a check could not complete (the store did not
// answer). Nothing was acknowledged; the caller answers 503.
var ErrUnavailable = errors.New("ingest: unavailable")

// Process runs raws (envelopes) from peer through the pipeline and returns
// one Result per envelope, in order, after every accepted frame is durable.
// kinds lists the frame kinds this path takes. On error nothing was stored
// by this call that a retry would not answer as a duplicate. ErrBusy means
// its telemetry frames did not fit in the flow-control bound (flow.go):
// nothing was decided, and the refusal is recorded.
//
// The stages are those of the package doc: admit, verify, dedupe, commit.
// Flow control sits between admission and verification: the telemetry
// frames admitted take their slots before a signature is checked, and
// give them back once committed.
func (p *Pipeline) Process(ctx context.Context, peer principal.Principal, src Source, kinds []frame.Kind, raws [][]byte) ([]Result, error) {
	in := make([]input, len(raws))
	for i, raw := range raws {
		in[i].raw = raw
	}
	return p.process(ctx, peer, src, kinds, in)
}

// ProcessParsed is Process for one envelope its caller has already parsed
// and decoded, to route it (the session does): env and f must be what
// frame.ParseEnvelope and DecodeFrame returned for the bytes received,
// unchanged. Every check of Process applies to them, and the frame is not
// parsed a second time (parsing and decoding are an eighth of the
// gateway's CPU per frame).
func (p *Pipeline) ProcessParsed(ctx context.Context, peer principal.Principal, src Source, kinds []frame.Kind, env *frame.Envelope, f *frame.Frame) (Result, error) {
	res, err := p.process(ctx, peer, src, kinds, []input{{env: env, f: f}})
	if err != nil {
		return Result{}, err
	}
	return res[0], nil
}

// input is one envelope given to the pipeline: its bytes, or already
// parsed and decoded.
type input struct {
	raw []byte
	env *frame.Envelope
	f   *frame.Frame
}

func (p *Pipeline) process(ctx context.Context, peer principal.Principal, src Source, kinds []frame.Kind, in []input) ([]Result, error) {
	c := &call{p: p, peer: peer, src: src, res: make([]Result, len(in))}
	admitted, err := c.admit(ctx, kinds, in)
	if err != nil {
		return nil, err
	}
	n := telemetryIn(admitted)
	if !p.flow.reserve(n) {
		p.flow.refuse(ctx, peer, src, n)
		return nil, ErrBusy
	}
	defer p.flow.release(n)
	recs, err := c.dedupe(ctx, c.verify(admitted))
	if err != nil {
		return nil, err
	}
	if err := c.commit(ctx, recs); err != nil {
		return nil, err
	}
	if err := c.keepETAs(ctx); err != nil {
		return nil, err
	}
	for i := range c.res {
		p.frames.WithLabelValues(c.res[i].Verdict, resultCode(c.res[i])).Inc()
	}
	if err := p.ev.Emit(ctx, c.evs...); err != nil {
		// The frames are durable; their events are not. Refuse the ack so
		// the sender retries: the retry is answered as duplicates, with
		// events.
		return nil, fmt.Errorf("%w: events: %v", ErrUnavailable, err)
	}
	return c.res, nil
}

// call is one Process call: its results and the events to emit after the
// commit, filled in by the stages.
type call struct {
	p    *Pipeline
	peer principal.Principal
	src  Source
	res  []Result
	evs  []event.Event
}

// reject refuses frame i with ref's code, and records its event.
func (c *call) reject(i int, ref *Refusal) {
	r := &c.res[i]
	*r = Result{Verdict: Rejected, Code: ref.Code, Epoch: r.Epoch, Seq: r.Seq, Kind: r.Kind}
	c.evs = append(c.evs, c.p.frameEvent(c.peer, c.src, *r, event.Reject, ref.Code,
		codes.SeverityOf(ref.Code, event.SeverityMedium), ref.Detail))
}

// duplicate answers frame i as an exact re-send of a stored frame.
func (c *call) duplicate(i int, f *frame.Frame) {
	r := &c.res[i]
	*r = Result{Verdict: Accepted, Duplicate: true, Epoch: r.Epoch, Seq: r.Seq, Kind: r.Kind, Frame: f}
	c.evs = append(c.evs, c.p.frameEvent(c.peer, c.src, *r, event.Accept, codes.FrameDuplicate, event.SeverityLow, ""))
}

// admit runs the admission stage on every envelope and returns the
// admitted frames.
func (c *call) admit(ctx context.Context, kinds []frame.Kind, in []input) ([]admitted, error) {
	var out []admitted
	for i, x := range in {
		var a admitted
		var ref *Refusal
		var err error
		if x.env != nil {
			a, ref, err = c.p.admitParsed(ctx, c.peer, Expect{Kinds: kinds}, x.env, x.f)
		} else {
			a, ref, err = c.p.admit(ctx, c.peer, Expect{Kinds: kinds}, x.raw)
		}
		if err != nil {
			return nil, err
		}
		if a.f != nil {
			c.res[i].Epoch, c.res[i].Seq, c.res[i].Kind = int64(a.f.Epoch), int64(a.f.Seq), a.f.Kind()
		}
		if ref != nil {
			c.reject(i, ref)
			continue
		}
		a.i = i
		out = append(out, a)
	}
	return out, nil
}

// verify runs the signature stage and returns the authentic frames.
func (c *call) verify(as []admitted) []admitted {
	out := as[:0]
	for k, ref := range verify(as) {
		if ref != nil {
			c.reject(as[k].i, ref)
			continue
		}
		out = append(out, as[k])
	}
	return out
}

// toStore is a frame the dedupe stage hands to commit.
type toStore struct {
	i   int // its index in the input of Process
	rec store.FrameRecord
}

// dedupe is the third stage, on authentic frames: de-duplication (an exact
// re-send is answered as a duplicate, other bytes under a stored
// (epoch, seq) are a replay), then freshness, then plausibility. It
// returns the records to commit. De-duplication comes after the signature
// and before freshness, so a re-send is answered whatever its age.
func (c *call) dedupe(ctx context.Context, as []admitted) ([]toStore, error) {
	p, peer := c.p, c.peer
	now := p.now()
	var out []toStore
	for _, a := range as {
		h := sha256.Sum256(a.env.Frame())
		epoch, seq := int64(a.f.Epoch), int64(a.f.Seq)
		stale := p.fresh(c.src, a.f.TS, now)
		// Ask the store only when this frame could already be stored (not
		// newer than what this replica last stored) or would be refused as
		// stale.
		if stale != nil || !p.newerThanLocal(peer.ID, epoch, seq) {
			stored, err := p.st.LookupFrame(ctx, peer.ID, epoch, seq)
			switch {
			case err == nil && string(stored) == string(h[:]):
				c.duplicate(a.i, a.f)
				continue
			case err == nil:
				c.reject(a.i, refused(codes.Replay, "another frame was accepted with this (epoch, seq)"))
				continue
			case !errors.Is(err, store.ErrNotFound):
				return nil, fmt.Errorf("%w: frame lookup: %v", ErrUnavailable, err)
			}
		}
		if stale != nil {
			c.reject(a.i, stale)
			continue
		}
		var findings []string
		if t, ok := a.f.Body.(*frame.Telemetry); ok {
			findings = p.plaus.Check(peer.ID, sampleOf(a.f.TS, t), p.area(peer.ID))
		}
		verdict := "accepted"
		if len(findings) > 0 {
			verdict = "accepted_with_findings"
		}
		out = append(out, toStore{i: a.i, rec: store.FrameRecord{VehicleID: peer.ID, Epoch: epoch, Seq: seq, Kind: string(a.f.Kind()),
			TS: a.f.TS, ReceivedAt: now, Alg: string(a.env.Alg), KID: a.env.KID, Hash: h[:],
			Raw: a.env.Frame(), Sig: a.env.Sig, Verdict: verdict, Findings: strings.Join(findings, ",")}})
		c.res[a.i] = Result{Epoch: epoch, Seq: seq, Kind: a.f.Kind(), Frame: a.f, Findings: findings}
	}
	return out, nil
}

// commit is the last stage: the counter check and the durable append, one
// atomic step per frame in the store, which also records each stored
// frame's finding events. A stored frame is then counted in its vehicle's
// summary (summary.go); its frame row is its record.
func (c *call) commit(ctx context.Context, ts []toStore) error {
	if len(ts) == 0 {
		return nil
	}
	p, peer := c.p, c.peer
	var findings []event.Event
	span := make([][2]int, len(ts)) // each record's events in findings
	for k, t := range ts {
		r := &c.res[t.i]
		span[k][0] = len(findings)
		for _, fnd := range r.Findings {
			findings = append(findings, event.Event{Class: event.ClassTelemetry, Activity: "plausibility", Severity: event.SeverityHigh,
				Actor: peer, Resource: peer.String(), Verdict: event.Info, Code: fnd,
				Attrs: map[string]any{"epoch": r.Epoch, "seq": r.Seq}})
		}
		span[k][1] = len(findings)
	}
	pend, err := p.ev.Prepare(findings...)
	if err != nil {
		return fmt.Errorf("%w: events: %v", ErrUnavailable, err)
	}
	recs := make([]store.FrameRecord, len(ts))
	for k, t := range ts {
		recs[k] = t.rec
		recs[k].Events = pend.Rows[span[k][0]:span[k][1]]
	}
	actx := ctx
	if c.src == Backfill {
		actx = store.Bulk(ctx) // live frames (heartbeats) go first
	}
	outs, err := p.st.AppendFrames(actx, recs, p.cfg.Window)
	if err != nil {
		return fmt.Errorf("%w: append: %v", ErrUnavailable, err)
	}
	var recorded []int
	var stored []storedFrame
	for k, out := range outs {
		t := ts[k]
		r := &c.res[t.i]
		switch out {
		case store.AppendStored:
			r.Verdict = Accepted
			p.noteStored(peer.ID, r.Epoch, r.Seq)
			for j := span[k][0]; j < span[k][1]; j++ {
				recorded = append(recorded, j)
			}
			stored = append(stored, storedFrame{kind: r.Kind, src: c.src, alg: frame.Alg(t.rec.Alg),
				epoch: r.Epoch, seq: r.Seq, ts: t.rec.TS, findings: len(r.Findings) > 0})
		case store.AppendDuplicate:
			c.duplicate(t.i, r.Frame)
		case store.AppendReplay:
			// Stored with other bytes (a race with another replica) or
			// not newer than the counter.
			code := codes.StaleCounter
			if h, err := p.st.LookupFrame(ctx, peer.ID, r.Epoch, r.Seq); err == nil && string(h) != string(t.rec.Hash) {
				code = codes.Replay
			}
			c.reject(t.i, refused(code, "(epoch, seq) is not newer than the last accepted frame"))
		case store.AppendEpochNotAuthorized:
			c.reject(t.i, refused(codes.EpochNotAuthorized, "epoch differs from the authorized epoch"))
		default:
			return fmt.Errorf("%w: unknown append outcome %v", ErrUnavailable, out)
		}
	}
	// The store already holds the findings' events; a failure of another
	// sink (the JSON-lines file) is logged and counted by the bus, and does
	// not withhold the ack of a durable frame.
	_ = p.ev.Delivered(ctx, pend, recorded)
	// After Close there is no interval to count in: the summary is
	// recorded at once, as best it can (the frame rows are the record).
	_ = p.sum.record(p.sum.add(peer, stored))
	return nil
}

// keepETAs records the eta of every accepted telemetry frame of the call,
// stored now or before (a duplicate: the sender retries after a failure
// here, and the store keeps the latest report whatever the order). A
// failure refuses the ack, as for the frames' events: the frames are
// durable, the retry is answered as duplicates and records the ETAs.
func (c *call) keepETAs(ctx context.Context) error {
	if c.p.etas == nil {
		return nil
	}
	var etas []store.ETA
	for _, r := range c.res {
		if r.Verdict != Accepted || r.Frame == nil {
			continue
		}
		if t, ok := r.Frame.Body.(*frame.Telemetry); ok && t.ETA != nil {
			etas = append(etas, store.ETA{Vehicle: c.peer.ID, TenderID: t.ETA.TenderID, StopSeq: int64(t.ETA.StopSeq),
				At: t.ETA.At.UTC(), ReportedAt: r.Frame.TS.UTC()})
		}
	}
	if len(etas) == 0 {
		return nil
	}
	p := c.p
	p.mu.Lock()
	last, seen := p.lastETA[c.peer.ID]
	p.mu.Unlock()
	if len(etas) == 1 && seen && sameETA(last, etas[0]) && !etas[0].ReportedAt.Before(last.ReportedAt) {
		return nil // unchanged since this replica recorded it
	}
	actx := ctx
	if c.src == Backfill {
		actx = store.Bulk(ctx)
	}
	if err := p.etas.PutETAs(actx, etas); err != nil {
		return fmt.Errorf("%w: etas: %v", ErrUnavailable, err)
	}
	newest := etas[0]
	for _, e := range etas[1:] {
		if e.ReportedAt.After(newest.ReportedAt) {
			newest = e
		}
	}
	p.mu.Lock()
	if cur, ok := p.lastETA[c.peer.ID]; !ok || !newest.ReportedAt.Before(cur.ReportedAt) {
		p.lastETA[c.peer.ID] = newest
	}
	p.mu.Unlock()
	return nil
}

// sameETA reports whether a and b estimate the same arrival at the same
// stop of the same load.
func sameETA(a, b store.ETA) bool {
	return a.TenderID == b.TenderID && a.StopSeq == b.StopSeq && a.At.Equal(b.At)
}

func resultCode(r Result) string {
	switch {
	case r.Verdict == Rejected:
		return r.Code
	case r.Duplicate:
		return codes.FrameDuplicate
	}
	return codes.FrameAccepted
}

// fresh checks ts against gateway time: a frame from the future beyond
// ClockSkew is refused on any path; a live frame must also be no older than
// ClockSkew.
func (p *Pipeline) fresh(src Source, ts, now time.Time) *Refusal {
	d := ts.Sub(now)
	if d > p.cfg.ClockSkew || (src != Backfill && -d > p.cfg.ClockSkew) {
		return refused(codes.ClockSkew, fmt.Sprintf("ts is %s from gateway time", d.Round(time.Millisecond)))
	}
	return nil
}

func (p *Pipeline) newerThanLocal(vehicle string, epoch, seq int64) bool {
	p.mu.Lock()
	h, ok := p.high[vehicle]
	p.mu.Unlock()
	if !ok {
		return false // unknown here: ask the store
	}
	return epoch > h[0] || (epoch == h[0] && seq > h[1])
}

func (p *Pipeline) noteStored(vehicle string, epoch, seq int64) {
	p.mu.Lock()
	h, ok := p.high[vehicle]
	if !ok || epoch > h[0] || (epoch == h[0] && seq > h[1]) {
		p.high[vehicle] = [2]int64{epoch, seq}
	}
	p.mu.Unlock()
}

func (p *Pipeline) frameEvent(peer principal.Principal, src Source, r Result, v event.Verdict, code string, sev event.Severity, detail string) event.Event {
	attrs := map[string]any{"source": string(src)}
	if r.Kind != "" {
		attrs["kind"] = string(r.Kind)
		attrs["epoch"] = r.Epoch
		attrs["seq"] = r.Seq
	}
	if detail != "" {
		attrs["detail"] = detail
	}
	return event.Event{Class: event.ClassTelemetry, Activity: "frame", Severity: sev, Actor: peer,
		Resource: peer.String(), Verdict: v, Code: code, Attrs: attrs}
}

func sampleOf(ts time.Time, t *frame.Telemetry) plausibility.Sample {
	return plausibility.Sample{TS: ts, Lat: t.GNSS.Lat, Lon: t.GNSS.Lon, GNSSSpeed: t.GNSS.SpeedMPS, WheelSpeed: t.WheelSpeedMPS,
		Fix: string(t.GNSS.Fix), HasPosition: true, HasWheelSpeed: true}
}
