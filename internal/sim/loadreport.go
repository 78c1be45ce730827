package sim

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
)

// LoadReport is the end of a load run. Every frame sent is in exactly one
// of Accepted, Rejected (by reason code) and FailedFrames (by why its
// request failed): Accepted + ΣRejected + ΣFailedFrames = Sent.
type LoadReport struct {
	Started     time.Time `json:"started"`
	Vehicles    int       `json:"vehicles"`
	Enrolled    int       `json:"enrolled"` // newly enrolled this run; the others reused cached credentials
	Batch       int       `json:"batch"`
	Concurrency int       `json:"concurrency"`
	// Signing states how the frames were signed.
	Signing  string  `json:"signing"`
	Duration float64 `json:"duration_s"` // of the load, warm-up included
	Warmup   float64 `json:"warmup_s"`   // left out of the sustained figures
	Window   float64 `json:"window_s"`   // what the sustained figures cover

	Ceiling Ceiling `json:"ceiling"`
	// FramesPerSec is frames accepted by the gateway per second in the
	// window (answers that arrived in it); CeilingRatio is its ratio to
	// the one-core verify rate.
	FramesPerSec float64 `json:"accepted_frames_per_s"`
	CeilingRatio float64 `json:"ceiling_ratio"`
	// Latency of the batches posted in the window and answered 200, from
	// the request to the end of the answer.
	Latency Dist `json:"batch_latency"`
	// LatencyCapped: more batches were answered than were kept
	// (maxLatencySamples); the distribution covers the first ones.
	LatencyCapped bool `json:"batch_latency_capped,omitempty"`

	Requests   int64 `json:"requests"`
	Sent       int64 `json:"frames_sent"`
	Accepted   int64 `json:"frames_accepted"`
	Duplicates int64 `json:"frames_accepted_duplicate"` // of Accepted; a fresh frame is never one
	// Rejected frames by reason code.
	Rejected map[string]int64 `json:"frames_rejected"`
	// FailedRequests by HTTP status and problem code ("http 429
	// rate_limited") or transport error ("error: timeout"); FailedFrames
	// the frames they carried.
	FailedRequests map[string]int64 `json:"requests_failed"`
	FailedFrames   map[string]int64 `json:"frames_failed"`
	// SignErrors: batches that could not be signed (the frame counter
	// could not reserve numbers on disk); nothing of them was sent.
	SignErrors int64 `json:"sign_errors"`

	// LoadCores is this process's CPU use in the window (getrusage);
	// SigningCores the part of it signing took, estimated as frames signed
	// × the one-core signing cost.
	LoadCores    float64 `json:"load_cores"`
	SigningCores float64 `json:"signing_cores"`
	// GatewayCores is the gateway's CPU use in the window, from
	// /proc/PID/stat (utime + stime); nil without a PID.
	GatewayPID      int      `json:"gateway_pid,omitempty"`
	GatewayCores    *float64 `json:"gateway_cores,omitempty"`
	GatewayCPUError string   `json:"gateway_cpu_error,omitempty"`

	// The SQLite database (with its WAL) before and after, if known.
	DBPath          string  `json:"db_path,omitempty"`
	DBBytesBefore   int64   `json:"db_bytes_before,omitempty"`
	DBBytesAfter    int64   `json:"db_bytes_after,omitempty"`
	DBBytesPerFrame float64 `json:"db_bytes_per_accepted_frame,omitempty"`

	// Replays are the deliberate replays of --replay-every, apart from
	// the frames above; nil without.
	Replays *ReplayReport `json:"replays,omitempty"`
}

// ReplayReport counts the replays a load sent (LoadConfig.ReplayEvery):
// Sent = Refused + ΣOther.
type ReplayReport struct {
	Every int   `json:"every"` // one replay after every this many accepted frames of a vehicle
	Sent  int64 `json:"sent"`
	// Refused were rejected with the reason code replay, as they must be.
	Refused int64 `json:"refused_replay"`
	// Other is every other outcome, by what happened: "accepted" (the
	// gateway took a replay), "rejected CODE", or why the request failed
	// ("http 429 rate_limited", "error: timeout").
	Other map[string]int64 `json:"other"`
}

// Ceiling is the one-core Ed25519 figures measured in the same process just
// before the load: one goroutine on one OS thread, crypto/ed25519 verifying
// the signature of a typical telemetry frame.
type Ceiling struct {
	VerifyPerSec float64 `json:"verify_per_s"`
	// Basis is "thread cpu" (verifications per CPU second of the thread:
	// other jobs on the machine do not lower it) or "wall" (where the
	// thread's CPU time cannot be read).
	Basis         string  `json:"basis"`
	Verifications int     `json:"verifications"`
	Seconds       float64 `json:"seconds"`
	// SignSeconds is the one-core cost of frame.Sign of one such frame.
	SignSeconds float64 `json:"sign_s"`
}

// calibrate measures the ceiling: verify for d, then sign for
// signCalibrateFor, on one locked OS thread.
func calibrate(d time.Duration) (Ceiling, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Ceiling{}, err
	}
	signer, err := frame.NewEd25519Signer(priv)
	if err != nil {
		return Ceiling{}, err
	}
	v := &loadVehicle{id: "calibration", lat: 40, lon: -100}
	ts := time.Now().UTC().Truncate(time.Millisecond)
	f := &frame.Frame{VehicleID: v.id, Seq: 1, TS: ts, Body: v.telemetry(ts)}
	msg, err := f.MarshalCanonical()
	if err != nil {
		return Ceiling{}, err
	}
	sig := ed25519.Sign(priv, msg)
	pub := priv.Public().(ed25519.PublicKey)

	measure := func(d time.Duration, op func() bool) (n int, secs float64, basis string, ok bool) {
		c0, cpuOK := threadCPU()
		w0 := time.Now()
		for time.Since(w0) < d {
			for range 64 {
				if !op() {
					return n, 0, "", false
				}
				n++
			}
		}
		wall := time.Since(w0)
		if c1, ok1 := threadCPU(); cpuOK && ok1 && c1 > c0 {
			return n, (c1 - c0).Seconds(), "thread cpu", true
		}
		return n, wall.Seconds(), "wall", true
	}
	n, secs, basis, ok := measure(d, func() bool { return ed25519.Verify(pub, msg, sig) })
	if !ok {
		return Ceiling{}, fmt.Errorf("sim: calibration: a valid signature did not verify")
	}
	c := Ceiling{VerifyPerSec: float64(n) / secs, Basis: basis, Verifications: n, Seconds: secs}
	sn, ssecs, _, ok := measure(signCalibrateFor, func() bool {
		f.Seq++
		_, err := frame.Sign(signer, "k1", f)
		return err == nil
	})
	if !ok {
		return Ceiling{}, fmt.Errorf("sim: calibration: a telemetry frame could not be signed")
	}
	c.SignSeconds = ssecs / float64(sn)
	return c, nil
}

// loadStats are the run's counters, shared by the senders.
type loadStats struct {
	windowStart, windowEnd time.Time

	requests, sent, accepted, dups, signErrors, tooMany atomic.Int64
	windowAccepted, windowSigned                        atomic.Int64
	replaysSent, replaysRefused                         atomic.Int64

	mu             sync.Mutex
	rejected       map[string]int64
	failedRequests map[string]int64
	failedFrames   map[string]int64
	replaysOther   map[string]int64
	latencies      []time.Duration
	capped         bool
}

func (s *loadStats) init(windowStart, windowEnd time.Time) {
	s.windowStart, s.windowEnd = windowStart, windowEnd
	s.rejected, s.failedRequests, s.failedFrames = map[string]int64{}, map[string]int64{}, map[string]int64{}
	s.replaysOther = map[string]int64{}
}

// replayOther counts n replays that were not refused replay, by what
// happened.
func (s *loadStats) replayOther(what string, n int) {
	s.mu.Lock()
	bump(s.replaysOther, what, int64(n))
	s.mu.Unlock()
}

func (s *loadStats) inWindow(t time.Time) bool {
	return !t.Before(s.windowStart) && !t.After(s.windowEnd)
}

func (s *loadStats) signed(n int) {
	s.requests.Add(1)
	s.sent.Add(int64(n))
	if s.inWindow(time.Now()) {
		s.windowSigned.Add(int64(n))
	}
}

// bump adds n to m[key], keeping at most maxFailureKeys keys.
func bump(m map[string]int64, key string, n int64) {
	if _, ok := m[key]; !ok && len(m) >= maxFailureKeys {
		key = "other"
	}
	m[key] += n
}

func (s *loadStats) failed(n int, reason string) {
	if strings.HasPrefix(reason, "http 429") {
		s.tooMany.Add(1)
	}
	s.mu.Lock()
	bump(s.failedRequests, reason, 1)
	bump(s.failedFrames, reason, int64(n))
	s.mu.Unlock()
}

func (s *loadStats) answered(start, done time.Time, accepted, dups int, rejected map[string]int) {
	s.accepted.Add(int64(accepted))
	s.dups.Add(int64(dups))
	if s.inWindow(done) {
		s.windowAccepted.Add(int64(accepted))
	}
	s.mu.Lock()
	for code, n := range rejected {
		bump(s.rejected, code, int64(n))
	}
	if s.inWindow(start) {
		if len(s.latencies) < maxLatencySamples {
			s.latencies = append(s.latencies, done.Sub(start))
		} else {
			s.capped = true
		}
	}
	s.mu.Unlock()
}

func (s *loadStats) fill(r *LoadReport) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.Requests, r.Sent, r.Accepted, r.Duplicates, r.SignErrors = s.requests.Load(), s.sent.Load(), s.accepted.Load(), s.dups.Load(), s.signErrors.Load()
	r.Rejected, r.FailedRequests, r.FailedFrames = maps.Clone(s.rejected), maps.Clone(s.failedRequests), maps.Clone(s.failedFrames)
	r.Latency, r.LatencyCapped = distOf(s.latencies), s.capped
}

func (s *loadStats) fillReplays(r *LoadReport, every int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.Replays = &ReplayReport{Every: every, Sent: s.replaysSent.Load(), Refused: s.replaysRefused.Load(),
		Other: maps.Clone(s.replaysOther)}
}

// RejectedFrames is ΣRejected.
func (r *LoadReport) RejectedFrames() int64 { return sum(r.Rejected) }

// FailedFrameCount is ΣFailedFrames.
func (r *LoadReport) FailedFrameCount() int64 { return sum(r.FailedFrames) }

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// CheckFailures lists what makes `sim load --check` fail: a request that
// failed for a reason other than 429 (rate limiting is the gateway
// working as configured), a rejected frame (every frame the generator
// sends is valid and fresh), an accounting mismatch, or a run in which
// nothing was accepted.
func (r *LoadReport) CheckFailures() []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(r.FailedRequests)) {
		if !strings.HasPrefix(k, "http 429") {
			out = append(out, fmt.Sprintf("%d requests failed: %s", r.FailedRequests[k], k))
		}
	}
	if n := r.RejectedFrames(); n > 0 {
		out = append(out, fmt.Sprintf("%d frames rejected", n))
	}
	if r.Accepted+r.RejectedFrames()+r.FailedFrameCount() != r.Sent {
		out = append(out, "accepted + rejected + failed frames differ from the frames sent")
	}
	if r.Accepted == 0 {
		out = append(out, "no frame was accepted")
	}
	if rp := r.Replays; rp != nil {
		// A replay refused replay is the gateway working; anything else
		// (one accepted above all) is not, but a 429 is rate limiting.
		for _, k := range slices.Sorted(maps.Keys(rp.Other)) {
			if !strings.HasPrefix(k, "http 429") {
				out = append(out, fmt.Sprintf("%d replays not refused replay: %s", rp.Other[k], k))
			}
		}
		if rp.Refused+sum(rp.Other) != rp.Sent {
			out = append(out, "refused + other replays differ from the replays sent")
		}
	}
	return out
}

// WriteJSON writes the report as indented JSON.
func (r *LoadReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for people.
func (r *LoadReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, a...)) }
	p("started", "%s", r.Started.Format(time.RFC3339))
	p("vehicles", "%d (%d enrolled this run), batch %d frames, %d in flight", r.Vehicles, r.Enrolled, r.Batch, r.Concurrency)
	p("duration", "%.1f s, warm-up %.1f s left out: figures cover %.1f s", r.Duration, r.Warmup, r.Window)
	p("one-core verify rate", "%.0f /s (crypto/ed25519, %d verifications, per %s second)", r.Ceiling.VerifyPerSec, r.Ceiling.Verifications, r.Ceiling.Basis)
	p("accepted frames/s", "%.0f = %.2f × the one-core verify rate", r.FramesPerSec, r.CeilingRatio)
	p("batch latency (200)", "p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d batches)", r.Latency.P50, r.Latency.P99, r.Latency.Max, r.Latency.N)
	p("frames sent", "%d in %d requests", r.Sent, r.Requests)
	p("  accepted", "%d (duplicates %d)", r.Accepted, r.Duplicates)
	p("  rejected", "%d%s", r.RejectedFrames(), byKey(r.Rejected))
	p("  failed", "%d%s", r.FailedFrameCount(), byKey(r.FailedFrames))
	p("requests failed", "%d%s", sum(r.FailedRequests), byKey(r.FailedRequests))
	if r.SignErrors > 0 {
		p("sign errors", "%d batches not sent", r.SignErrors)
	}
	if rp := r.Replays; rp != nil {
		p("replays sent", "%d (one per %d accepted frames of a vehicle; not in the frames above)", rp.Sent, rp.Every)
		p("  refused replay", "%d", rp.Refused)
		p("  otherwise", "%d%s", sum(rp.Other), byKey(rp.Other))
	}
	switch {
	case r.GatewayCores != nil:
		p("gateway CPU", "%.2f cores (pid %d)", *r.GatewayCores, r.GatewayPID)
	case r.GatewayCPUError != "":
		p("gateway CPU", "unknown: %s", r.GatewayCPUError)
	default:
		p("gateway CPU", "unknown (no --gateway-pid, none in serve.addrs)")
	}
	p("load CPU", "%.2f cores, of which signing ≈ %.2f (%.1f µs a frame)", r.LoadCores, r.SigningCores, r.Ceiling.SignSeconds*1e6)
	if r.DBPath != "" {
		p("database", "%s: %.1f → %.1f MiB (%.0f bytes per accepted frame)", r.DBPath, mib(r.DBBytesBefore), mib(r.DBBytesAfter), r.DBBytesPerFrame)
	}
	return tw.Flush()
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func byKey(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// LoadSummary is the live line of a load run.
type LoadSummary struct {
	Elapsed        time.Duration
	Warm           bool // past the warm-up
	AcceptedPerSec float64
	Accepted       int64
	Rejected       int64
	Failed         int64 // requests
	TooMany        int64 // of Failed: 429
	GatewayCores   float64
	HasGateway     bool
}

func (s LoadSummary) String() string {
	phase := "warm-up"
	if s.Warm {
		phase = "load"
	}
	line := fmt.Sprintf("%6.1fs %-7s accepted %.0f/s (total %d) | rejected %d | requests failed %d (429: %d)",
		s.Elapsed.Seconds(), phase, s.AcceptedPerSec, s.Accepted, s.Rejected, s.Failed, s.TooMany)
	if s.HasGateway {
		line += fmt.Sprintf(" | gateway %.2f cores", s.GatewayCores)
	}
	return line
}

func (l *Load) summaryLoop(ctx context.Context, t0 time.Time) {
	if l.d.OnSummary == nil || l.cfg.SummaryEvery <= 0 {
		return
	}
	t := time.NewTicker(l.cfg.SummaryEvery)
	defer t.Stop()
	prev, prevAcc := t0, int64(0)
	prevGW, gwErr := time.Duration(0), error(nil)
	if l.cfg.GatewayPID != 0 {
		prevGW, gwErr = pidCPU(l.cfg.GatewayPID)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		acc := l.st.accepted.Load()
		s := LoadSummary{Elapsed: now.Sub(t0), Warm: now.Sub(t0) >= l.cfg.Warmup, Accepted: acc,
			AcceptedPerSec: float64(acc-prevAcc) / now.Sub(prev).Seconds(), TooMany: l.st.tooMany.Load()}
		l.st.mu.Lock()
		s.Rejected, s.Failed = sum(l.st.rejected), sum(l.st.failedRequests)
		l.st.mu.Unlock()
		if l.cfg.GatewayPID != 0 && gwErr == nil {
			if gw, err := pidCPU(l.cfg.GatewayPID); err == nil {
				s.GatewayCores, s.HasGateway = float64(gw-prevGW)/float64(now.Sub(prev)), true
				prevGW = gw
			}
		}
		prev, prevAcc = now, acc
		l.d.OnSummary(s)
	}
}
