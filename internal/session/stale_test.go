package session

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/detect"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// TestHealthyTruckResendMakesNoReplayFinding (issue 22) is what a
// simulated fleet beside a load saturating the gateway showed: a truck's
// telemetry whose fate it does not know is resent byte for byte; the
// gateway is busy and refuses the resend gateway_busy (before looking at
// it); the truck's heartbeats, which never wait, go on and are stored; the
// resend, below the counter now and never stored, is refused stale_counter,
// the proof the agent takes to sign it anew, and it is then stored, once.
// A correct truck has drawn a stale_counter. The shipped detection rules,
// run over every event the gateway recorded, make no finding of it (the
// frame-replay rule used to fire on any stale_counter).
//
// The fate is made unknown by the store failing the truck's telemetry
// (store_unavailable: the agent cannot know whether it was stored); in the
// fleet run it was a session lost in a blackout with the frame in flight,
// which the agent settles the same way.
func TestHealthyTruckResendMakesNoReplayFinding(t *testing.T) {
	var undecided atomic.Bool
	var unavailable, heartbeats atomic.Int64 // truck-1's
	wrap := func(p Pipeline) Pipeline {
		return pipelineFunc{p, func(ctx context.Context, peer principal.Principal, src ingest.Source, kinds []frame.Kind, raws [][]byte) ([]ingest.Result, error) {
			if peer.ID == "truck-1" && undecided.Load() {
				if f, err := frame.ParseEnvelope(raws[0]); err == nil {
					if ff, err := f.DecodeFrame(); err == nil && ff.Kind() == frame.KindTelemetry {
						unavailable.Add(1)
						return nil, ingest.ErrUnavailable
					}
				}
			}
			res, err := p.Process(ctx, peer, src, kinds, raws)
			if peer.ID == "truck-1" && err == nil && res[0].Kind == frame.KindHeartbeat && res[0].Verdict == ingest.Accepted && !res[0].Duplicate {
				heartbeats.Add(1)
			}
			return res, err
		}}
	}
	g := newBusyGateway(t, gwOptions{cfg: fastConfig(), pipelineWrap: wrap})
	v := g.enroll("truck-1")
	a, _, log := g.agentFor(v, func(c *agent.Config, d *agent.Deps) {
		fastAgent(c, d)
		c.LiveMaxAge = 300 * time.Millisecond
	})
	runAgent(t, a)
	waitFor(t, 10*time.Second, "driving", func() bool { return len(log.find(agent.EventResumed)) == 1 })

	// The gateway is saturated first, so whichever path the resend takes
	// (the session while the frame is young, the batch path after), it is
	// refused gateway_busy until release.
	g.fill()
	undecided.Store(true)
	tm := sampleTelemetry()
	tm.OdometerM = 5151.5
	if err := a.SendTelemetry(time.Now(), tm); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the telemetry undecided", func() bool { return unavailable.Load() > 0 })
	undecided.Store(false)
	from := heartbeats.Load()
	waitFor(t, 20*time.Second, "heartbeats stored while the resend waits", func() bool { return heartbeats.Load() >= from+2 })
	if b := a.Status().Buffered; b != 1 {
		t.Fatalf("%d frames buffered while the gateway is busy, want the one of unknown fate", b)
	}
	g.release()
	waitFor(t, 20*time.Second, "the telemetry stored", func() bool { return a.Status().Buffered == 0 })

	n := 0
	for _, ts := range g.storedTelemetry(t, "truck-1") {
		if ts.OdometerM == tm.OdometerM {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the telemetry stored %d times, want once", n)
	}
	if r := log.find(agent.EventTelemetryRejected); len(r) > 0 {
		t.Fatalf("telemetry refused for good: %+v", r)
	}
	stale := g.sink.ByCode(codes.StaleCounter)
	if len(stale) == 0 {
		t.Fatal("no stale_counter: the resend was not overtaken, the case this test is about did not happen")
	}
	for _, e := range stale {
		if e.Attrs["kind"] != string(frame.KindTelemetry) {
			t.Fatalf("a stale_counter of a %v from a correct truck: %+v", e.Attrs["kind"], e)
		}
	}
	eng := detect.NewEngine(detect.Shipped())
	for _, e := range g.sink.Events() {
		r, err := event.Row(e)
		if err != nil {
			t.Fatal(err)
		}
		if fs := eng.Evaluate(detect.InputOf(r), true); len(fs) > 0 {
			t.Fatalf("a healthy truck's recovery made a finding: %s (%s, %d events)", fs[0].RuleID, fs[0].Title, fs[0].Count)
		}
	}
}

// storedTelemetry returns the telemetry frames stored for vehicle.
func (g *gw) storedTelemetry(t *testing.T, vehicle string) []*frame.Telemetry {
	t.Helper()
	recs, err := g.st.ListFrames(context.Background(), vehicle, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []*frame.Telemetry
	for _, r := range recs {
		if r.Kind != string(frame.KindTelemetry) {
			continue
		}
		f, err := frame.DecodeFrame(r.Raw)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f.Body.(*frame.Telemetry))
	}
	return out
}
