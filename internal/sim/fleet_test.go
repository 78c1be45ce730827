package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// Timing margins of these tests. The tests run on a loaded 2-core machine
// (two store engines and the race detector at once), so a figure is held to
// its SLA plus a margin, never tighter; the figures themselves, measured on
// an idle machine, are in docs/PERFORMANCE.md.
const (
	// testInterval is the fastest heartbeat the gateway and agent allow:
	// it keeps the blackout test short (detection in 1.5 s).
	testInterval = 500 * time.Millisecond
	// detectionMargin is added to the gateway's detection SLA (interval ×
	// misses + 200 ms): its monitor ticks every 50 ms, and a starved
	// machine delays the tick.
	detectionMargin = time.Second
	// safeStateMargin is added to the 15 s safe-state SLA: the agent polls
	// the stop every 100 ms and the model needs about 11 s, so a healthy
	// run has over 2 s of headroom before the margin.
	safeStateMargin = time.Second
)

func newTestFleet(t *testing.T, g *testGateway, cfg Config) *Fleet {
	t.Helper()
	cfg.Gateway = g.target()
	cfg.StateDir = t.TempDir()
	cfg.SummaryEvery = 2 * time.Second
	if cfg.ReconnectMin == 0 {
		cfg.ReconnectMin, cfg.ReconnectMax = 100*time.Millisecond, time.Second
	}
	f, err := New(cfg, Deps{Provisioner: g.provisioner(), Events: g.st, EventsSource: "test store",
		OnSummary: func(s Summary) { t.Log(s) }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// runUntil runs f until done reports true (checked every 100 ms) or
// Duration ends, and returns the report.
func runUntil(t *testing.T, f *Fleet, done func() bool) *Report {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for range tick.C {
			if ctx.Err() != nil {
				return
			}
			if _, ok := f.clock.start(); ok && done() {
				cancel()
				return
			}
		}
	}()
	r, err := f.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_ = r.WriteTable(&b)
	t.Log("\n" + b.String())
	return r
}

// TestBlackout: 20 trucks drive; 5 lose their link for 3 s. Those stop
// (safe_state from 25 m/s within the SLA), the gateway declares comm_lost
// for exactly them within its SLA, and after the blackout each resumes
// only through a gateway-signed resume on a new session, once. On both
// store engines.
//
// The fleet tests do not run in parallel with each other: each is 20
// trucks on the fastest heartbeat, whose acks have 500 ms to arrive, and
// three such fleets under the race detector on two cores measure the
// machine, not the gateway.
func TestBlackout(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		g := startGateway(t, e.Open(t), gwOptions{interval: testInterval, misses: 3})
		blackout := Window{At: time.Second, For: 3 * time.Second}
		f := newTestFleet(t, g, Config{Common: Common{Vehicles: 20}, HeartbeatInterval: testInterval, Misses: 3, Duration: 40 * time.Second,
			Faults: []FaultGroup{{Name: "blackout", Fraction: 0.25, Faults: Faults{Blackout: blackout}}}})
		var hit []*vehicle
		for _, v := range f.vs {
			if v.faults.Blackout.For > 0 {
				hit = append(hit, v)
			}
		}
		if len(hit) != 5 {
			t.Fatalf("%d trucks chosen for the blackout, want 5", len(hit))
		}
		// Done once every blacked-out truck has stopped and been resumed.
		r := runUntil(t, f, func() bool {
			for _, v := range hit {
				res := v.result()
				if len(res.Stops) == 0 || res.Stops[0].Resumed.IsZero() {
					return false
				}
			}
			return true
		})
		t0, _ := f.clock.start()
		bEnd := t0.Add(blackout.At + blackout.For)

		span := 3 * testInterval
		for _, v := range hit {
			res := v.result()
			if len(res.Stops) != 1 {
				t.Fatalf("%s: %d stops, want 1: %+v", v.id, len(res.Stops), res.Stops)
			}
			s := res.Stops[0]
			if s.V0 < 24.5 {
				t.Errorf("%s: the stop began at %.1f m/s, want cruise (25)", v.id, s.V0)
			}
			if s.Safe.IsZero() || s.Resumed.Before(s.Safe) {
				t.Errorf("%s: safe_state %v, resumed %v: a truck leaves safe_state only after reaching it", v.id, s.Safe, s.Resumed)
			}
			// The resume came on a session made after the link was back:
			// the gateway had dropped the silent one; reconnecting alone
			// resumed nothing (one resume at boot, one after the stop).
			if s.ResumeSession.Before(bEnd) {
				t.Errorf("%s: resumed on a session from %v, before the blackout ended (%v)", v.id, s.ResumeSession, bEnd)
			}
			if res.Resumes != 2 {
				t.Errorf("%s: SafeStater.Resume called %d times, want 2 (boot, after the stop)", v.id, res.Resumes)
			}
			if len(res.ResumeRej) != 0 {
				t.Errorf("%s: resumes refused: %v", v.id, res.ResumeRej)
			}
		}
		for _, v := range f.vs {
			if v.faults.Blackout.For == 0 && len(v.result().Stops) != 0 {
				t.Logf("%s (no blackout) stopped: %+v (heartbeats went unanswered on a loaded machine)", v.id, v.result().Stops)
			}
		}

		vr := r.Vehicle
		if vr.LastAckToSafeState.N != 5 {
			t.Fatalf("%d stops from cruise measured, want 5", vr.LastAckToSafeState.N)
		}
		if got, limit := vr.LastAckToSafeState.Max, ms(SafeStateSLA+safeStateMargin); got > limit {
			t.Errorf("last answered heartbeat → safe_state max %.0f ms, over the %v SLA + %v margin", got, SafeStateSLA, safeStateMargin)
		}

		gr := r.Gateway
		if gr == nil {
			t.Fatal("no gateway figures")
		}
		if gr.False != 0 || gr.Undetected != 0 {
			t.Errorf("false comm_lost %d %v, undetected blackouts %d %v", gr.False, gr.FalseIDs, gr.Undetected, gr.UndetectedIDs)
		}
		if gr.Expected != 5 || gr.Detection.N != 5 {
			t.Errorf("comm_lost for the blackout: %d (detections %d), want 5", gr.Expected, gr.Detection.N)
		}
		if got, limit := gr.Detection.Max, ms(span+DetectionSLAExtra+detectionMargin); got > limit {
			t.Errorf("comm_lost detection max %.0f ms, over the %v SLA + %v margin", got, span+DetectionSLAExtra, detectionMargin)
		}
		if got := gr.Detection.Min; got < ms(span) {
			t.Errorf("comm_lost declared %.0f ms after the last heartbeat, before the %v deadline", got, span)
		}
		// Every resume the trucks obeyed is one the gateway recorded.
		resumes := 0
		for _, e := range f.gw.events(codes.SessionResumeSent) {
			for _, v := range hit {
				if e.Vehicle == v.id {
					resumes++
				}
			}
		}
		if resumes != 2*len(hit) {
			t.Errorf("the gateway recorded %d resumes for the blacked-out trucks, want %d", resumes, 2*len(hit))
		}
	})
}

// TestJitterAndSensorFaults: 200 ms of jitter each way on every truck
// never makes the gateway declare comm_lost, nor does a 2 s clock skew;
// GNSS jumps and wheel/GNSS disagreement injected into some trucks are
// found by the gateway's plausibility rules on those trucks and no others.
//
// The heartbeat here is 1 s, not the 500 ms fastest: the agent counts a
// heartbeat answered later than one interval as a miss, and 440 ms of
// worst-case round trip left 60 ms for both ends under -race on a starved
// machine (a CI run saw 38 stops on healthy links that way). The sensor
// faults last 3 s (6 frames at 2/s) so a truck still accelerating out of a
// warm-up stop passes the speed floor for the 3 frames the rule needs.
func TestJitterAndSensorFaults(t *testing.T) {
	const interval = time.Second
	g := startGateway(t, storetest.OpenConfig(t, storetest.SQLiteConfig(t)), gwOptions{interval: interval, misses: 3})
	sensor := Window{At: time.Second, For: 3 * time.Second}
	f := newTestFleet(t, g, Config{Common: Common{Vehicles: 20}, HeartbeatInterval: interval, Misses: 3, Duration: 5 * time.Second, TelemetryRate: 2,
		Faults: []FaultGroup{
			{Name: "jitter", Fraction: 1, Faults: Faults{Latency: 20 * time.Millisecond, Jitter: 200 * time.Millisecond}},
			{Name: "clock", Fraction: 0.1, Faults: Faults{ClockSkew: 2 * time.Second}},
			{Name: "gnss-jump", Fraction: 0.1, Faults: Faults{GNSSJump: sensor}},
			{Name: "speed", Fraction: 0.1, Faults: Faults{SpeedDisagreement: sensor}},
		}})
	r := runUntil(t, f, func() bool { return false })
	if r.Ready != 20 {
		t.Fatalf("%d of 20 trucks drove", r.Ready)
	}
	gr := r.Gateway
	if gr.CommLost != 0 || gr.False != 0 {
		t.Fatalf("comm_lost under jitter: %d (false %d: %v)", gr.CommLost, gr.False, gr.FalseIDs)
	}
	if r.Vehicle.TelemetryAcked == 0 || len(r.Vehicle.TelemetryRejected) != 0 {
		t.Fatalf("telemetry acked %d, rejected %v", r.Vehicle.TelemetryAcked, r.Vehicle.TelemetryRejected)
	}
	if gr.Findings["position_jump"] < 2 || gr.Findings["speed_disagreement"] < 2 || len(gr.FindingsUnfaulted) != 0 {
		t.Fatalf("findings %v, on healthy trucks %v", gr.Findings, gr.FindingsUnfaulted)
	}
	t.Logf("vehicle-side heartbeat misses under jitter: %d, stops: %d", r.Vehicle.HeartbeatMisses, r.Vehicle.Stops)
}
