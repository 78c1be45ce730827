package agent

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
)

// counterModel is the gateway's one counter per vehicle as the fake sees
// it: session frames and batch frames are decided against the same
// high-water mark, each path in its own order, and a frame not above it is
// stale_counter (docs/PROTOCOL.md "Frame admission"; window 0, the
// default). The real gateway runs a session's frames and a batch on
// different goroutines, so whichever reaches the store first moves the
// mark.
type counterModel struct {
	mu    sync.Mutex
	high  uint64
	stale []string // "kind seq" of each frame the model refused
}

func (m *counterModel) decide(f *frame.Frame) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f.Seq <= m.high {
		m.stale = append(m.stale, string(f.Kind())+" "+itoa(f.Seq))
		return false
	}
	m.high = f.Seq
	return true
}

func (m *counterModel) refused() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.stale...)
}

func itoa(n uint64) string { b, _ := json.Marshal(n); return string(b) }

// TestBatchWaitsForSessionFrames: telemetry older than LiveMaxAge goes by
// the batch path, a connection of its own that the gateway serves beside
// the session. A heartbeat the gateway has not answered yet (its session
// is slow: a busy store) is still to be decided; a batch posted now, under
// higher seqs, can be decided first, and the heartbeat is then refused
// stale_counter: a correct truck drawing the refusal the frame-replay rule
// reports (issue 22, seen under overload). The agent posts a batch only
// once every frame it wrote on the session has been answered, so neither
// path ever overtakes the other at the gateway.
func TestBatchWaitsForSessionFrames(t *testing.T) {
	pub, priv := frameKey(t)
	var (
		model   counterModel
		mu      sync.Mutex
		hold    bool         // hold the next heartbeat
		held    *frame.Frame // the heartbeat held, undecided
		release = make(chan struct{})
		batched = make(chan struct{}, 16)
	)
	g := newFakeGW(t, pub, func(c *fakeConn) {
		c.frames(func(f *frame.Frame) bool {
			mu.Lock()
			if _, ok := f.Body.(*frame.Heartbeat); ok && hold && held == nil {
				held = f
				mu.Unlock()
				// The session's handler is busy with this heartbeat
				// (a slow store): nothing after it on the session is
				// read until it is decided.
				select {
				case <-release:
				case <-time.After(20 * time.Second):
				}
				mu.Lock()
			}
			mu.Unlock()
			if model.decide(f) {
				c.send(ackOf(f))
			} else {
				c.send(&frame.Nack{AckEpoch: f.Epoch, AckSeq: f.Seq, Reason: codes.StaleCounter})
			}
			return true
		})
	})
	g.batch = func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Frames []json.RawMessage }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var out struct {
			Results []batchResult `json:"results"`
		}
		for i, raw := range body.Frames {
			env, err := frame.ParseEnvelope(raw)
			if err != nil || env.Verify(g.vehicle) != nil {
				panic("the agent sent a bad frame")
			}
			f, _ := env.DecodeFrame()
			res := batchResult{Index: i, Verdict: "accepted"}
			if !model.decide(f) {
				res.Verdict, res.Code = "rejected", codes.StaleCounter
			}
			out.Results = append(out.Results, res)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
		batched <- struct{}{}
	}
	a, _, evs := newTestAgentWith(t, g, priv, func(c *Config) { c.LiveMaxAge = 300 * time.Millisecond })
	run(t, a)
	waitUntil(t, 10*time.Second, "a session", func() bool { return a.Status().Connected })

	mu.Lock()
	hold = true
	mu.Unlock()
	waitUntil(t, 10*time.Second, "a heartbeat held", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return held != nil
	})
	tm := frame.Telemetry{GNSS: frame.GNSS{Lat: 1, Lon: 2, Fix: frame.Fix3D}, OdometerM: 12.5, State: frame.StateDriving,
		Health: frame.Health{Faults: []string{}}}
	if err := a.SendTelemetry(time.Now().Add(-time.Minute), tm); err != nil { // old: the batch path
		t.Fatal(err)
	}
	// Give a batch the chance to overtake the held heartbeat (the defect
	// posts it at once), then let the session go on.
	select {
	case <-batched:
	case <-time.After(time.Second):
	}
	close(release)
	waitUntil(t, 20*time.Second, "the telemetry stored", func() bool { return a.Status().Buffered == 0 })
	if s := model.refused(); len(s) > 0 {
		t.Fatalf("frames the gateway would refuse stale_counter: %v (a batch overtook session frames, or the reverse)", s)
	}
	if r := evs.of(EventTelemetryRejected); len(r) > 0 {
		t.Fatalf("telemetry refused: %+v", r)
	}
}
