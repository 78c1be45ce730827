package liveness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
)

func TestConfigDefaultsAndBounds(t *testing.T) {
	c := Config{}.withDefaults()
	if err := c.validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.Interval != time.Second || c.Misses != 3 || c.Tick != 50*time.Millisecond || c.PhiSuspect != 8 || c.PhiWindow != 100 {
		t.Errorf("defaults = %+v", c)
	}
	bad := map[string]Config{
		"interval_too_short":  {Interval: 100 * time.Millisecond},
		"interval_too_long":   {Interval: 4 * time.Second},
		"single_miss":         {Misses: 1},
		"too_many_misses":     {Misses: 11},
		"negative_misses":     {Misses: -3},
		"tick_too_fine":       {Tick: time.Millisecond},
		"tick_eats_budget":    {Tick: 200 * time.Millisecond},
		"phi_too_low":         {PhiSuspect: 0.5},
		"phi_too_high":        {PhiSuspect: 40},
		"phi_window_tiny":     {PhiWindow: 2},
		"std_floor_too_small": {MinStdDev: time.Millisecond},
		"negative_vehicles":   {MaxVehicles: -1},
		"queue_too_small":     {QueueSize: 10},
	}
	for name, cfg := range bad {
		if _, err := New(cfg, Deps{Events: &discardEmitter{}}); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	if _, err := New(Config{}, Deps{}); err == nil {
		t.Error("New accepted Deps without an Emitter")
	}
	if m, err := New(Config{}, Deps{Events: &discardEmitter{}}); err != nil || m == nil {
		t.Errorf("New(defaults) = %v, %v", m, err)
	}
}

func TestTransitions(t *testing.T) {
	type op struct {
		at time.Duration
		do string // connect, hb, hb-safe, safe, bye, gw, drop, revoked, suspended
	}
	s := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	const (
		on   = codes.VehicleOnline
		sus  = codes.VehicleSuspect
		lost = codes.CommLost
		safe = codes.VehicleSafeState
		off  = codes.VehicleOffline
	)
	// Defaults: 1 s interval, 3 misses, σ seeded at 250 ms, so a vehicle
	// without history is suspect after 2 s of silence (the Misses−1 clamp)
	// and comm_lost after 3 s.
	tests := []struct {
		name  string
		ops   []op
		until time.Duration
		want  []string
		final State
	}{
		{"first handshake is online", []op{{0, "connect"}}, s(0.5), []string{on}, Online},
		{"silence after handshake: suspect, then comm_lost", []op{{0, "connect"}}, s(5), []string{on, sus, lost}, CommLost},
		{"regular heartbeats stay online", []op{{0, "connect"}, {s(1), "hb"}, {s(2), "hb"}, {s(3), "hb"}, {s(4), "hb"}, {s(5), "hb"}}, s(5.5), []string{on}, Online},
		{"heartbeat clears suspicion", []op{{0, "connect"}, {s(2.5), "hb"}}, s(2.6), []string{on, sus, on}, Online},
		{"vehicle reports safe_state", []op{{0, "connect"}, {s(1), "hb"}, {s(2), "hb-safe"}}, s(2.5), []string{on, safe}, SafeState},
		{"vehicle leaves safe_state", []op{{0, "connect"}, {s(1), "hb-safe"}, {s(2), "hb"}}, s(2.5), []string{on, safe, on}, Online},
		{"safe_state vehicle goes silent", []op{{0, "connect"}, {s(1), "hb-safe"}}, s(6), []string{on, safe, sus, lost}, CommLost},
		{"suspect vehicle recovers to safe_state it reports", []op{{0, "connect"}, {s(1), "hb-safe"}, {s(3.5), "hb-safe"}}, s(4), []string{on, safe, sus, safe}, SafeState},
		{"telemetry reports safe_state", []op{{0, "connect"}, {s(0.5), "safe"}}, s(1), []string{on, safe}, SafeState},
		{"safe_state report while suspect applies on recovery", []op{{0, "connect"}, {s(2.5), "safe"}, {s(2.8), "connect"}}, s(3), []string{on, sus, safe}, SafeState},
		{"goodbye is offline", []op{{0, "connect"}, {s(1), "hb"}, {s(1.5), "bye"}}, s(10), []string{on, off}, Offline},
		{"gateway close is offline", []op{{0, "connect"}, {s(1), "gw"}}, s(10), []string{on, off}, Offline},
		{"revocation close is offline, not comm_lost", []op{{0, "connect"}, {s(1), "revoked"}}, s(10), []string{on, off}, Offline},
		{"suspension close of a suspect vehicle is offline", []op{{0, "connect"}, {s(2.5), "suspended"}}, s(10), []string{on, sus, off}, Offline},
		{"suspect vehicle says goodbye", []op{{0, "connect"}, {s(2.5), "bye"}}, s(10), []string{on, sus, off}, Offline},
		{"transport drop keeps the deadline", []op{{0, "connect"}, {s(1), "hb"}, {s(1.5), "drop"}}, s(5), []string{on, sus, lost}, CommLost},
		{"transport drop and reconnect inside the deadline", []op{{0, "connect"}, {s(1), "hb"}, {s(1.5), "drop"}, {s(2), "connect"}, {s(3), "hb"}}, s(3.5), []string{on}, Online},
		{"reconnect after comm_lost", []op{{0, "connect"}, {s(5), "connect"}}, s(5.5), []string{on, sus, lost, on}, Online},
		{"reconnect after offline", []op{{0, "connect"}, {s(1), "bye"}, {s(2), "connect"}}, s(2.5), []string{on, off, on}, Online},
		{"takeover while online", []op{{0, "connect"}, {s(0.5), "hb"}, {s(1), "connect"}}, s(1.5), []string{on}, Online},
		{"takeover while suspect", []op{{0, "connect"}, {s(2.5), "connect"}}, s(3), []string{on, sus, on}, Online},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{}, nil)
			var sess *Session
			for _, o := range tc.ops {
				h.runTo(o.at)
				var err error
				switch o.do {
				case "connect":
					sess = h.connect("TRK-1", o.at)
				case "hb":
					err = sess.Heartbeat(h.at(o.at), "driving")
				case "hb-safe":
					err = sess.Heartbeat(h.at(o.at), "safe_state")
				case "safe":
					err = sess.SafeState(h.at(o.at))
				case "bye":
					sess.Disconnected(h.at(o.at), DisconnectGoodbye)
				case "gw":
					sess.Disconnected(h.at(o.at), DisconnectGateway)
				case "drop":
					sess.Disconnected(h.at(o.at), DisconnectTransport)
				case "revoked":
					sess.Disconnected(h.at(o.at), DisconnectRevoked)
				case "suspended":
					sess.Disconnected(h.at(o.at), DisconnectSuspended)
				}
				if err != nil {
					t.Fatalf("%s at %v: %v", o.do, o.at, err)
				}
			}
			h.runTo(tc.until)
			if got := h.codes(); !slices.Equal(got, tc.want) {
				t.Errorf("events = %v, want %v", got, tc.want)
			}
			if got := h.state("TRK-1"); got != tc.final {
				t.Errorf("final state = %v, want %v", got, tc.final)
			}
			// Exactly one event per transition, and observers saw the same.
			trs := h.transitions()
			if len(trs) != len(tc.want) {
				t.Errorf("%d transitions observed, %d events", len(trs), len(tc.want))
			}
			for i := 1; i < len(trs); i++ {
				if trs[i].From != trs[i-1].To {
					t.Errorf("transition %d from %v, previous went to %v", i, trs[i].From, trs[i-1].To)
				}
			}
			counts := h.m.Counts()
			if counts[tc.final] != 1 {
				t.Errorf("Counts = %v", counts)
			}
		})
	}
}

// TestCommLostOnceAndOnlyAfterDeadline ticks every millisecond around the
// deadline: comm_lost must not be declared at the deadline, must be at the
// first tick after it, and never again.
// TestGatewayCloseNamesWhy: a session the gateway closed because the
// vehicle's certificate was revoked or the vehicle suspended takes it
// offline with that cause in the event, so the fleet state shows why, and
// never as comm_lost.
func TestGatewayCloseNamesWhy(t *testing.T) {
	for _, tc := range []struct {
		reason DisconnectReason
		cause  string
	}{
		{DisconnectGateway, "gateway_close"},
		{DisconnectRevoked, "revoked"},
		{DisconnectSuspended, "suspended"},
	} {
		t.Run(tc.cause, func(t *testing.T) {
			h := newHarness(t, Config{}, nil)
			s := h.connect("TRK-1", 0)
			h.runTo(time.Second)
			s.Disconnected(h.at(time.Second), tc.reason)
			h.runTo(10 * time.Second)
			evs := h.sink.Events()
			if len(evs) != 2 || evs[1].Code != codes.VehicleOffline || evs[1].Attrs["cause"] != tc.cause {
				t.Fatalf("events %+v, want online then offline with cause %q", evs, tc.cause)
			}
			if !errors.Is(s.Err(), ErrDisconnected) {
				t.Fatalf("session error %v", s.Err())
			}
		})
	}
}

func TestCommLostOnceAndOnlyAfterDeadline(t *testing.T) {
	h := newHarness(t, Config{}, nil)
	s := h.connect("TRK-1", 0)
	for i := 1; i <= 4; i++ {
		h.runTo(time.Duration(i) * time.Second)
		if err := s.Heartbeat(h.at(time.Duration(i)*time.Second), "driving"); err != nil {
			t.Fatal(err)
		}
	}
	deadline := h.at(7 * time.Second) // last heartbeat 4 s + 3 × 1 s
	h.runTo(7 * time.Second)
	if got := h.state("TRK-1"); got == CommLost {
		t.Fatalf("comm_lost declared at the deadline, not after it")
	}
	for ms := 1; ms <= 10000; ms++ {
		now := deadline.Add(time.Duration(ms) * time.Millisecond)
		h.clk.Set(now)
		h.m.Tick(now)
		if ms == 1 && h.state("TRK-1") != CommLost {
			t.Fatalf("comm_lost not declared 1 ms after the deadline")
		}
	}
	h.drain()
	lost := h.sink.ByCode(codes.CommLost)
	if len(lost) != 1 {
		t.Fatalf("%d comm_lost events, want 1", len(lost))
	}
	a := lost[0].Attrs
	if a["detection_latency_ms"] != int64(1) || a["deadline"] != deadline.Format(time.RFC3339Nano) ||
		a["last_heartbeat"] != h.at(4*time.Second).Format(time.RFC3339Nano) || a["cause"] != "deadline" || a["from"] != "suspect" {
		t.Errorf("comm_lost attrs = %v", a)
	}
	if lost[0].Severity != event.SeverityHigh || lost[0].Class != event.ClassLiveness || lost[0].Activity != ActivityTransition ||
		lost[0].Resource != "urn:fifthwheel:vehicle:TRK-1" || lost[0].Verdict != event.Info || !lost[0].Time.Equal(deadline.Add(time.Millisecond)) {
		t.Errorf("comm_lost event = %+v", lost[0])
	}
	if phi, ok := a["phi"].(float64); !ok || phi < DefaultPhiSuspect {
		t.Errorf("phi = %v at comm_lost", a["phi"])
	}
	select {
	case <-s.Done():
	default:
		t.Error("session not ended by comm_lost")
	}
	if !errors.Is(s.Err(), ErrCommLost) || !errors.Is(s.Err(), ErrSessionEnded) {
		t.Errorf("Err = %v", s.Err())
	}
}

func TestHeartbeatAroundTheDeadline(t *testing.T) {
	tests := []struct {
		name     string
		tickTo   time.Duration // ticks run up to here before the heartbeat
		hb       time.Duration
		wantErr  error
		want     []string
		wantLate time.Duration
	}{
		{"1 ns before, no tick in between", 0, 3*time.Second - 1, nil, []string{codes.VehicleOnline}, 0},
		{"exactly at the deadline", 0, 3 * time.Second, nil, []string{codes.VehicleOnline}, 0},
		{"1 ns before, suspect declared", 3 * time.Second, 3*time.Second - 1, nil, []string{codes.VehicleOnline, codes.VehicleSuspect, codes.VehicleOnline}, 0},
		{"1 ns late, no tick has run", 0, 3*time.Second + 1, ErrCommLost, []string{codes.VehicleOnline, codes.CommLost}, 1},
		{"40 ms late, before the tick", 3 * time.Second, 3*time.Second + 40*time.Millisecond, ErrCommLost, []string{codes.VehicleOnline, codes.VehicleSuspect, codes.CommLost}, 40 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{}, nil)
			s := h.connect("TRK-1", 0)
			if tc.tickTo > 0 {
				h.runTo(tc.tickTo)
			}
			err := s.Heartbeat(h.at(tc.hb), "driving")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Heartbeat = %v, want %v", err, tc.wantErr)
			}
			if got := h.codes(); !slices.Equal(got, tc.want) {
				t.Errorf("events = %v, want %v", got, tc.want)
			}
			if tc.wantErr != nil {
				trs := h.transitions()
				if l := trs[len(trs)-1]; l.To != CommLost || l.Latency != tc.wantLate {
					t.Errorf("last transition %+v, want comm_lost with latency %v", l, tc.wantLate)
				}
				return
			}
			// The deadline now counts from the heartbeat.
			v, _ := h.m.State("TRK-1")
			if !v.Deadline.Equal(h.at(tc.hb + 3*time.Second)) {
				t.Errorf("deadline %v, want heartbeat + 3 s", v.Deadline)
			}
			h.runTo(tc.hb + 3*time.Second)
			if h.state("TRK-1") == CommLost {
				t.Error("comm_lost at the new deadline")
			}
		})
	}
}

// TestJitterNoFalseAlarms: heartbeats at 1 s ± 200 ms (uniform, so gaps from
// 0.6 s to 1.4 s) for 500 vehicles over 200 simulated intervals produce no
// comm_lost, and no suspicion either.
func TestJitterNoFalseAlarms(t *testing.T) {
	const vehicles, intervals = 500, 200
	h := newHarness(t, Config{}, &discardEmitter{})
	rng := rand.New(rand.NewPCG(1, 2))
	sess := make([]*Session, vehicles)
	next := make([]time.Duration, vehicles)
	beat := make([]int, vehicles)
	phase := make([]time.Duration, vehicles)
	jitter := func() time.Duration {
		return time.Duration(rng.Int64N(int64(400*time.Millisecond))) - 200*time.Millisecond
	}
	for i := range sess {
		phase[i] = time.Duration(rng.Int64N(int64(time.Second)))
		sess[i] = h.connect(fmt.Sprintf("TRK-%d", i), phase[i])
		beat[i] = 1
		next[i] = phase[i] + time.Second + jitter()
	}
	end := time.Duration(intervals) * time.Second
	for now := time.Duration(0); now < end; now += h.cfg.Tick {
		for i := range sess {
			for next[i] <= now {
				if err := sess[i].Heartbeat(h.at(next[i]), "driving"); err != nil {
					t.Fatalf("vehicle %d beat %d: %v", i, beat[i], err)
				}
				beat[i]++
				next[i] = phase[i] + time.Duration(beat[i])*time.Second + jitter()
			}
		}
		h.clk.Set(h.at(now))
		h.m.Tick(h.at(now))
	}
	h.drain()
	if n := h.metrics.count(CommLost); n != 0 {
		t.Errorf("%d false comm_lost", n)
	}
	if n := h.metrics.count(Suspect); n != 0 {
		t.Errorf("%d false suspicions", n)
	}
	if c := h.m.Counts(); c[Online] != vehicles {
		t.Errorf("Counts = %v", c)
	}
	// The learned distribution matches the jitter: gaps of 1 s ± U(±200 ms)
	// minus U(±200 ms) have σ = 400/√6 ≈ 163 ms.
	v, _ := h.m.State("TRK-7")
	sh := h.m.shardFor("TRK-7")
	r := &sh.recs[sh.index["TRK-7"]]
	t.Logf("TRK-7: mean %.0f ms, σ %.0f ms, φ now %.2f", r.mean, r.std(0), v.Phi)
	if r.mean < 950 || r.mean > 1050 || r.std(0) < 100 || r.std(0) > 230 {
		t.Errorf("learned mean %.0f ms σ %.0f ms, want ≈1000 and ≈163", r.mean, r.std(0))
	}
}

// TestFlapping: connect and disconnect every 500 ms for a simulated minute.
// Each transition emits one event and no more; a link that flaps without a
// goodbye emits nothing until it really stays down.
func TestFlapping(t *testing.T) {
	tests := []struct {
		name       string
		reason     DisconnectReason
		wantEvents int
		final      State
	}{
		// 60 connects (online) and 60 goodbyes (offline), the last at 59.5 s.
		{"goodbye", DisconnectGoodbye, 120, Offline},
		// Only the first online: each handshake comes within the deadline
		// and restarts it. After the last drop (59.5 s) the vehicle stays
		// silent: suspect at 61 s, comm_lost when the deadline (59 s + 3 s)
		// passes.
		{"transport", DisconnectTransport, 3, CommLost},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{}, nil)
			for d := time.Duration(0); d < time.Minute; d += time.Second {
				h.runTo(d)
				s := h.connect("TRK-1", d)
				h.runTo(d + 500*time.Millisecond)
				s.Disconnected(h.at(d+500*time.Millisecond), tc.reason)
			}
			h.runTo(70 * time.Second)
			codes := h.codes()
			if len(codes) != tc.wantEvents {
				t.Errorf("%d events, want %d: %v", len(codes), tc.wantEvents, codes)
			}
			trs := h.transitions()
			if len(trs) != len(codes) {
				t.Errorf("%d transitions, %d events", len(trs), len(codes))
			}
			for i, tr := range trs {
				if tr.From == tr.To {
					t.Errorf("transition %d is no change: %+v", i, tr)
				}
			}
			if got := h.state("TRK-1"); got != tc.final {
				t.Errorf("final state %v, want %v", got, tc.final)
			}
		})
	}
}

// TestSuspicionFollowsPhi: a vehicle with a steady history is suspected
// when φ crosses the threshold, earlier than the Misses−1 clamp, and the
// event says so.
func TestSuspicionFollowsPhi(t *testing.T) {
	h := newHarness(t, Config{}, nil)
	s := h.connect("TRK-1", 0)
	var last time.Duration
	for i := 1; i <= 300; i++ { // σ decays to the 100 ms floor
		last = time.Duration(i) * time.Second
		if err := s.Heartbeat(h.at(last), "driving"); err != nil {
			t.Fatal(err)
		}
	}
	h.runTo(last)
	sh := h.m.shardFor("TRK-1")
	r := &sh.recs[sh.index["TRK-1"]]
	want := time.Duration((float64(r.mean) + h.m.crossY*r.std(h.m.minStd)) * float64(time.Millisecond))
	if want < 1400*time.Millisecond || want > 1700*time.Millisecond {
		t.Fatalf("φ crossing after %v of silence; want about 1.52 s with σ at its floor", want)
	}
	if p, _ := h.m.Phi("TRK-1", h.at(last+want-time.Millisecond)); p >= 8 {
		t.Errorf("φ = %.2f 1 ms before the computed crossing", p)
	}
	if p, _ := h.m.Phi("TRK-1", h.at(last+want+time.Millisecond)); p < 8 {
		t.Errorf("φ = %.2f 1 ms after the computed crossing", p)
	}
	h.runTo(last + want)
	if h.state("TRK-1") != Online {
		t.Fatal("suspect before φ crossed")
	}
	h.runTo(last + want + h.cfg.Tick)
	if h.state("TRK-1") != Suspect {
		t.Fatal("not suspect one tick after φ crossed")
	}
	ev := h.sink.ByCode(codes.VehicleSuspect)
	if len(ev) != 1 || ev[0].Attrs["cause"] != "phi" || ev[0].Attrs["phi"].(float64) < 8 {
		t.Errorf("suspect events %+v", ev)
	}
	if l := ev[0].Attrs["detection_latency_ms"].(int64); l < 0 || l > h.cfg.Tick.Milliseconds() {
		t.Errorf("suspect detection latency %d ms", l)
	}
}

func TestSnapshotAndState(t *testing.T) {
	h := newHarness(t, Config{}, nil)
	sa := h.connect("TRK-a", 0)
	sb := h.connect("TRK-b", 0)
	h.connect("TRK-c", 0)
	if err := sa.Heartbeat(h.at(time.Second), "parked"); err != nil {
		t.Fatal(err)
	}
	sb.Disconnected(h.at(time.Second), DisconnectGoodbye)
	h.runTo(3500 * time.Millisecond) // TRK-c: comm_lost after 3 s of silence
	snap := h.m.Snapshot()
	if len(snap) != 3 || snap[0].VehicleID != "TRK-a" || snap[1].VehicleID != "TRK-b" || snap[2].VehicleID != "TRK-c" {
		t.Fatalf("snapshot = %+v", snap)
	}
	a, b, c := snap[0], snap[1], snap[2]
	if a.State != Suspect || !a.LastHeartbeat.Equal(h.at(time.Second)) || a.Reported != "parked" || !a.Connected ||
		!a.Deadline.Equal(h.at(4*time.Second)) || a.Phi <= 0 || !a.Since.Equal(h.at(3*time.Second+h.cfg.Tick)) {
		t.Errorf("TRK-a = %+v", a)
	}
	if b.State != Offline || b.Connected || !b.Deadline.IsZero() || b.Phi != 0 || !b.Since.Equal(h.at(time.Second)) {
		t.Errorf("TRK-b = %+v", b)
	}
	if c.State != CommLost || c.Connected || !c.LastHeartbeat.IsZero() || !c.Deadline.IsZero() {
		t.Errorf("TRK-c = %+v", c)
	}
	if got := h.m.Counts(); got[Suspect] != 1 || got[Offline] != 1 || got[CommLost] != 1 || got[Online] != 0 || len(got) != 5 {
		t.Errorf("Counts = %v", got)
	}
	if _, ok := h.m.State("TRK-zzz"); ok {
		t.Error("State of an unknown vehicle")
	}
	if txt, _ := CommLost.MarshalText(); string(txt) != "comm_lost" {
		t.Errorf("MarshalText = %s", txt)
	}
	if !h.m.Forget("TRK-a") || h.m.Forget("TRK-a") {
		t.Error("Forget")
	}
	if len(h.m.Snapshot()) != 2 || h.m.Counts()[Suspect] != 0 {
		t.Error("Forget left the vehicle in the fleet state")
	}
	if !errors.Is(sa.Err(), ErrForgotten) {
		t.Errorf("forgotten session Err = %v", sa.Err())
	}
}

// TestRun drives a Monitor with the real clock through Run: transitions
// reach the observer and the sink, and stopping Run flushes the queue.
func TestRun(t *testing.T) {
	sink := &event.MemorySink{}
	got := make(chan Transition, 16)
	m, err := New(Config{}, Deps{Events: event.NewBus(nil, nil, sink), OnTransition: func(tr Transition) { got <- tr }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	s, err := m.Connected("TRK-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case tr := <-got:
		if tr.To != Online || tr.From != NeverConnected || tr.Cause != CauseHandshake {
			t.Errorf("transition %+v", tr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no transition delivered")
	}
	if err := m.Run(ctx); err == nil {
		t.Error("a second Run started")
	}
	s.Disconnected(time.Now(), DisconnectGoodbye)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if evs := sink.Events(); len(evs) != 2 || evs[1].Code != codes.VehicleOffline {
		t.Errorf("events after Run stopped: %+v", evs)
	}
}

// TestConcurrentUse is for the race detector: sessions connect, heartbeat,
// report and disconnect on many goroutines while Run ticks and readers read.
// Afterwards every transition was delivered exactly once.
func TestConcurrentUse(t *testing.T) {
	em := &discardEmitter{}
	metrics := &testMetrics{}
	var observed sync.Map
	cfg := Config{Interval: 100 * time.Millisecond, Tick: 10 * time.Millisecond, MinStdDev: 10 * time.Millisecond}.withDefaults()
	m := build(cfg, Deps{Events: em, Metrics: metrics, OnTransition: func(tr Transition) {
		n, _ := observed.LoadOrStore(tr.VehicleID, new(int))
		*n.(*int)++ // one deliverer goroutine
	}})
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error)
	go func() { runDone <- m.Run(ctx) }()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			var s *Session
			for range 2000 {
				id := fmt.Sprintf("TRK-%d", rng.IntN(64))
				switch rng.IntN(8) {
				case 0, 1:
					s, _ = m.Connected(id, time.Now())
				case 2:
					if s != nil {
						s.Disconnected(time.Now(), DisconnectReason(rng.IntN(5)))
					}
				case 3:
					if s != nil {
						_ = s.SafeState(time.Now())
					}
				case 4:
					m.Snapshot()
					m.Counts()
					m.State(id)
				case 5:
					if rng.IntN(50) == 0 {
						m.Forget(id)
					}
				default:
					if s != nil {
						_ = s.Heartbeat(time.Now(), "driving")
					}
				}
			}
		})
	}
	wg.Wait()
	time.Sleep(50 * time.Millisecond) // a few ticks with nobody calling
	cancel()
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	var transitions, events int
	for s := Online; s < numStates; s++ {
		transitions += metrics.count(s)
		events += em.count(stateCodes[s])
	}
	var delivered int
	observed.Range(func(_, v any) bool { delivered += *v.(*int); return true })
	if transitions == 0 || events != transitions || delivered != transitions {
		t.Errorf("%d transitions, %d events, %d observed", transitions, events, delivered)
	}
	total := 0
	for _, n := range m.Counts() {
		total += n
	}
	if total != len(m.Snapshot()) {
		t.Errorf("Counts total %d, Snapshot %d", total, len(m.Snapshot()))
	}
}
