package ingest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
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

// Config tunes the pipeline. Data only; zero fields take the defaults.
type Config struct {
	ClockSkew    time.Duration
	Window       int64 // out-of-order window, 0..MaxWindow
	Plausibility PlausibilityConfig
}

func (c Config) withDefaults() Config {
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	p := &c.Plausibility
	if p.SpeedDisagreeRatio == 0 {
		p.SpeedDisagreeRatio = DefaultSpeedDisagreeRatio
	}
	if p.SpeedDisagreeMinMPS == 0 {
		p.SpeedDisagreeMinMPS = DefaultSpeedDisagreeMinMPS
	}
	if p.SpeedDisagreeFrames == 0 {
		p.SpeedDisagreeFrames = DefaultSpeedDisagreeFrames
	}
	if p.MaxImpliedSpeedMPS == 0 {
		p.MaxImpliedSpeedMPS = DefaultMaxImpliedSpeedMPS
	}
	return c
}

func (c Config) validate() error {
	var errs []string
	if c.ClockSkew < 0 || c.ClockSkew > time.Minute {
		errs = append(errs, "clock_skew: must be between 0 and 1m")
	}
	if c.Window < 0 || c.Window > MaxWindow {
		errs = append(errs, fmt.Sprintf("window: must be between 0 and %d", MaxWindow))
	}
	if len(errs) > 0 {
		return errors.New("ingest: " + strings.Join(errs, "; "))
	}
	return nil
}

// Store is the part of the store contract the pipeline uses.
type Store interface {
	KeyStore
	LookupFrame(ctx context.Context, vehicleID string, epoch, seq int64) ([]byte, error)
	AppendFrames(ctx context.Context, recs []store.FrameRecord, window int64) ([]store.AppendOutcome, error)
}

// Events is what the pipeline needs of the event bus (*event.Bus): Emit for
// rejections and duplicates, and Prepare/Delivered for the events of a
// stored frame, which commit in the frame's own transaction.
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
	// Area returns a vehicle's operating-area polygon, if it has one.
	Area func(vehicleID string) Polygon
	// Secrets opens sealed HS256 secrets (the gateway's secrets key). Nil:
	// a frame under a sealed key cannot be checked, and the call fails
	// closed (ErrUnavailable).
	Secrets SecretSealer
}

// Pipeline verifies and stores frames.
type Pipeline struct {
	cfg    Config
	st     Store
	keySt  KeyStore // st, with sealed secrets opened
	ev     Events
	now    func() time.Time
	area   func(string) Polygon
	keys   *keyCache
	plaus  *Plausibility
	frames *prometheus.CounterVec

	mu   sync.Mutex
	high map[string][2]int64 // last (epoch, seq) this replica stored per vehicle
}

// New returns a Pipeline after validating cfg.
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
		area = func(string) Polygon { return nil }
	}
	p := &Pipeline{cfg: cfg, st: d.Store, keySt: OpenKeys(d.Store, d.Secrets), ev: d.Events, now: now, area: area,
		keys: newKeyCache(now, KeyCacheTTL), plaus: NewPlausibility(cfg.Plausibility), high: map[string][2]int64{},
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fifthwheel_frames_total", Help: "Frames by verdict and reason code.",
		}, []string{"verdict", "code"}),
	}
	if d.Metrics != nil {
		if err := d.Metrics.Register(p.frames); err != nil {
			return nil, fmt.Errorf("ingest: register metrics: %v", err)
		}
	}
	return p, nil
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

// work is one frame in flight through Process.
type work struct {
	i      int
	env    *frame.Envelope
	f      *frame.Frame
	hash   []byte
	assure string
}

// Process runs raws (envelopes) from peer through the pipeline and returns
// one Result per envelope, in order, after every accepted frame is durable.
// kinds lists the frame kinds this path takes. On error nothing was stored
// by this call that a retry would not answer as a duplicate.
func (p *Pipeline) Process(ctx context.Context, peer principal.Principal, src Source, kinds []frame.Kind, raws [][]byte) ([]Result, error) {
	res := make([]Result, len(raws))
	evs := make([]event.Event, 0, len(raws))
	reject := func(i int, code string, detail string) {
		res[i] = Result{Verdict: Rejected, Code: code, Epoch: res[i].Epoch, Seq: res[i].Seq, Kind: res[i].Kind}
		evs = append(evs, p.frameEvent(peer, src, res[i], event.Reject, code, codes.SeverityOf(code, event.SeverityMedium), detail))
	}

	var bv frame.BatchVerifier
	var queued []work
	for i, raw := range raws {
		env, err := frame.ParseEnvelope(raw)
		if err != nil {
			reject(i, string(frame.CodeOf(err)), err.Error())
			continue
		}
		f, err := env.DecodeFrame()
		if err != nil {
			reject(i, string(frame.CodeOf(err)), err.Error())
			continue
		}
		res[i].Epoch, res[i].Seq, res[i].Kind = int64(f.Epoch), int64(f.Seq), f.Kind()
		// Identity: only the verified certificate names the sender.
		if peer.Kind != principal.Vehicle || f.VehicleID != peer.ID {
			reject(i, codes.VehicleMismatch, "vehicle_id does not match the client certificate")
			continue
		}
		if !kindAllowed(f.Kind(), kinds) {
			reject(i, codes.FrameKindNotAllowed, "this path does not take "+string(f.Kind())+" frames")
			continue
		}
		status, err := p.keys.vehicleStatus(ctx, p.keySt, peer.ID)
		if err != nil {
			return nil, fmt.Errorf("%w: vehicle lookup: %v", ErrUnavailable, err)
		}
		switch status {
		case "":
			reject(i, codes.VehicleUnknown, "vehicle is not registered")
			continue
		case store.VehicleActive:
		default:
			reject(i, codes.VehicleSuspended, "vehicle is "+string(status))
			continue
		}
		v, kstatus, ok, err := p.keys.key(ctx, p.keySt, peer.ID, env.KID)
		if err != nil {
			return nil, fmt.Errorf("%w: key lookup: %v", ErrUnavailable, err)
		}
		if !ok {
			reject(i, string(frame.CodeUnknownKID), "no key registered under this kid for the vehicle")
			continue
		}
		if kstatus != store.KeyActive {
			reject(i, codes.RetiredKID, "the key under this kid is retired")
			continue
		}
		bv.Add(env, v)
		assure := "high"
		if env.Alg.LowerAssurance() {
			assure = "low"
		}
		queued = append(queued, work{i: i, env: env, f: f, assure: assure})
	}

	// Signatures, batched (Ed25519 batch equation, per-envelope results).
	sigErrs := bv.Verify()
	now := p.now()
	var recs []store.FrameRecord
	var recWork []work
	for qi, w := range queued {
		if err := sigErrs[qi]; err != nil {
			reject(w.i, string(frame.CodeOf(err)), err.Error())
			continue
		}
		h := sha256.Sum256(w.env.Frame())
		w.hash = h[:]
		epoch, seq := int64(w.f.Epoch), int64(w.f.Seq)
		fresh := p.fresh(src, w.f.TS, now)
		// De-duplication: after the signature, before freshness. Ask the
		// store only when this frame could already be stored (not newer than
		// what this replica last stored) or would be refused as stale.
		if !fresh || !p.newerThanLocal(peer.ID, epoch, seq) {
			stored, err := p.st.LookupFrame(ctx, peer.ID, epoch, seq)
			switch {
			case err == nil && string(stored) == string(w.hash):
				res[w.i] = Result{Verdict: Accepted, Duplicate: true, Epoch: epoch, Seq: seq, Kind: w.f.Kind(), Frame: w.f}
				evs = append(evs, p.frameEvent(peer, src, res[w.i], event.Accept, codes.FrameDuplicate, event.SeverityLow, ""))
				continue
			case err == nil:
				reject(w.i, codes.Replay, "another frame was accepted with this (epoch, seq)")
				continue
			case !errors.Is(err, store.ErrNotFound):
				return nil, fmt.Errorf("%w: frame lookup: %v", ErrUnavailable, err)
			}
		}
		if !fresh {
			reject(w.i, codes.ClockSkew, fmt.Sprintf("ts is %s from gateway time", w.f.TS.Sub(now).Round(time.Millisecond)))
			continue
		}
		var findings []string
		if t, ok := w.f.Body.(*frame.Telemetry); ok {
			findings = p.plaus.Check(peer.ID, sampleOf(w.f.TS, t), p.area(peer.ID))
		}
		verdict := "accepted"
		if len(findings) > 0 {
			verdict = "accepted_with_findings"
		}
		recs = append(recs, store.FrameRecord{VehicleID: peer.ID, Epoch: epoch, Seq: seq, Kind: string(w.f.Kind()),
			TS: w.f.TS, ReceivedAt: now, Alg: string(w.env.Alg), KID: w.env.KID, Hash: w.hash,
			Raw: w.env.Frame(), Sig: w.env.Sig, Verdict: verdict, Findings: strings.Join(findings, ",")})
		res[w.i] = Result{Epoch: epoch, Seq: seq, Kind: w.f.Kind(), Frame: w.f, Findings: findings}
		recWork = append(recWork, w)
	}

	// Counter check and durable append: one atomic step per frame, which
	// also records the frame's accept (and finding) events.
	if len(recs) > 0 {
		var stored []event.Event
		span := make([][2]int, len(recs)) // each record's events in stored
		for ri := range recs {
			w, r := recWork[ri], &res[recWork[ri].i]
			span[ri][0] = len(stored)
			e := p.frameEvent(peer, src, Result{Verdict: Accepted, Epoch: r.Epoch, Seq: r.Seq, Kind: r.Kind}, event.Accept, codes.FrameAccepted, event.SeverityInfo, "")
			e.Attrs["assurance"] = w.assure
			stored = append(stored, e)
			for _, fnd := range r.Findings {
				stored = append(stored, event.Event{Class: event.ClassTelemetry, Activity: "plausibility", Severity: event.SeverityHigh,
					Actor: peer, Resource: peer.String(), Verdict: event.Info, Code: fnd,
					Attrs: map[string]any{"epoch": r.Epoch, "seq": r.Seq}})
			}
			span[ri][1] = len(stored)
		}
		pend, err := p.ev.Prepare(stored...)
		if err != nil {
			return nil, fmt.Errorf("%w: events: %v", ErrUnavailable, err)
		}
		for ri := range recs {
			recs[ri].Events = pend.Rows[span[ri][0]:span[ri][1]]
		}
		actx := ctx
		if src == Backfill {
			actx = store.Bulk(ctx) // live frames (heartbeats) go first
		}
		outs, err := p.st.AppendFrames(actx, recs, p.cfg.Window)
		if err != nil {
			return nil, fmt.Errorf("%w: append: %v", ErrUnavailable, err)
		}
		var recorded []int
		for ri, out := range outs {
			w := recWork[ri]
			r := &res[w.i]
			switch out {
			case store.AppendStored:
				r.Verdict = Accepted
				p.noteStored(peer.ID, r.Epoch, r.Seq)
				for j := span[ri][0]; j < span[ri][1]; j++ {
					recorded = append(recorded, j)
				}
			case store.AppendDuplicate:
				r.Verdict, r.Duplicate, r.Findings = Accepted, true, nil
				evs = append(evs, p.frameEvent(peer, src, *r, event.Accept, codes.FrameDuplicate, event.SeverityLow, ""))
			case store.AppendReplay:
				// Stored with other bytes (a race with another replica) or
				// not newer than the counter.
				code := codes.StaleCounter
				if h, err := p.st.LookupFrame(ctx, peer.ID, r.Epoch, r.Seq); err == nil && string(h) != string(w.hash) {
					code = codes.Replay
				}
				reject(w.i, code, "(epoch, seq) is not newer than the last accepted frame")
			case store.AppendEpochNotAuthorized:
				reject(w.i, codes.EpochNotAuthorized, "epoch differs from the authorized epoch")
			default:
				return nil, fmt.Errorf("%w: unknown append outcome %v", ErrUnavailable, out)
			}
		}
		// The store already holds these events; a failure of another sink
		// (the JSON-lines file) is logged and counted by the bus, and does
		// not withhold the ack of a durable frame.
		_ = p.ev.Delivered(ctx, pend, recorded)
	}

	for i := range res {
		p.frames.WithLabelValues(res[i].Verdict, resultCode(res[i])).Inc()
	}
	if err := p.ev.Emit(ctx, evs...); err != nil {
		// The frames are durable; their events are not. Refuse the ack so
		// the sender retries: the retry is answered as duplicates, with
		// events.
		return nil, fmt.Errorf("%w: events: %v", ErrUnavailable, err)
	}
	return res, nil
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

func kindAllowed(k frame.Kind, kinds []frame.Kind) bool {
	for _, a := range kinds {
		if a == k {
			return true
		}
	}
	return false
}

func (p *Pipeline) fresh(src Source, ts, now time.Time) bool {
	d := ts.Sub(now)
	if d > p.cfg.ClockSkew {
		return false // from the future, on any path
	}
	return src == Backfill || -d <= p.cfg.ClockSkew
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

func sampleOf(ts time.Time, t *frame.Telemetry) Sample {
	return Sample{TS: ts, Lat: t.GNSS.Lat, Lon: t.GNSS.Lon, GNSSSpeed: t.GNSS.SpeedMPS, WheelSpeed: t.WheelSpeedMPS,
		Fix: string(t.GNSS.Fix), HasPosition: true, HasWheelSpeed: true}
}
