package liveness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
)

// TestAttacks: each row is a way to hide a loss of contact, revive a dead
// session or corrupt the fleet state, and what the Monitor does instead.
func TestAttacks(t *testing.T) {
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	tests := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"late_heartbeat_on_comm_lost_session_does_not_revive_vehicle", func(t *testing.T, h *harness) {
			s := h.connect("TRK-1", 0)
			h.runTo(sec(4))
			if h.state("TRK-1") != CommLost {
				t.Fatal("setup: not comm_lost")
			}
			// The old connection delivers a (verified) heartbeat, stamped
			// now or replayed with its original time.
			for _, at := range []time.Duration{sec(4), sec(1)} {
				if err := s.Heartbeat(h.at(at), "driving"); !errors.Is(err, ErrCommLost) {
					t.Errorf("Heartbeat at %v on dead session = %v, want ErrCommLost", at, err)
				}
			}
			if err := s.SafeState(h.at(sec(4))); !errors.Is(err, ErrCommLost) {
				t.Errorf("SafeState on dead session = %v", err)
			}
			h.runTo(sec(10))
			if h.state("TRK-1") != CommLost || h.metrics.stale.Load() != 2 {
				t.Errorf("state %v, %d stale heartbeats counted", h.state("TRK-1"), h.metrics.stale.Load())
			}
			if got := h.codes(); !slices.Equal(got, []string{codes.VehicleOnline, codes.VehicleSuspect, codes.CommLost}) {
				t.Errorf("events %v", got)
			}
		}},
		{"heartbeat_after_deadline_before_tick_does_not_hide_comm_loss", func(t *testing.T, h *harness) {
			// The tick loop is stalled (no Tick at all); the heartbeat
			// arrives 10 ms after the deadline.
			s := h.connect("TRK-1", 0)
			if err := s.Heartbeat(h.at(sec(3.01)), "driving"); !errors.Is(err, ErrCommLost) {
				t.Fatalf("Heartbeat = %v, want ErrCommLost", err)
			}
			if h.state("TRK-1") != CommLost {
				t.Error("late heartbeat kept the vehicle")
			}
		}},
		{"reconnect_after_deadline_before_tick_does_not_erase_the_loss", func(t *testing.T, h *harness) {
			s := h.connect("TRK-1", 0)
			s.Disconnected(h.at(sec(0.5)), DisconnectTransport)
			h.connect("TRK-1", sec(3.5))
			trs := h.transitions()
			if len(trs) != 3 || trs[1].To != CommLost || trs[1].Latency != sec(0.5) || trs[2].To != Online {
				t.Errorf("transitions %+v, want online, comm_lost (latency 500 ms), online", trs)
			}
		}},
		{"unclean_disconnect_does_not_mask_comm_loss_as_offline", func(t *testing.T, h *harness) {
			// A jammer or a cut link: the TCP connection dies, nobody says
			// goodbye. Offline would tell the TMS all is well.
			s := h.connect("TRK-1", 0)
			if err := s.Heartbeat(h.at(sec(1)), "driving"); err != nil {
				t.Fatal(err)
			}
			s.Disconnected(h.at(sec(1.2)), DisconnectTransport)
			h.runTo(sec(4.2))
			if h.state("TRK-1") != CommLost {
				t.Errorf("state %v after unclean disconnect and silence", h.state("TRK-1"))
			}
			if len(h.sink.ByCode(codes.VehicleOffline)) != 0 {
				t.Error("unclean disconnect reported as offline")
			}
			v, _ := h.m.State("TRK-1")
			if v.Connected {
				t.Error("disconnected vehicle shown as connected")
			}
		}},
		{"unset_disconnect_reason_is_treated_as_transport_failure", func(t *testing.T, h *harness) {
			s := h.connect("TRK-1", 0)
			var reason DisconnectReason // a caller that forgot to say
			s.Disconnected(h.at(sec(0.5)), reason)
			h.runTo(sec(4))
			if h.state("TRK-1") != CommLost {
				t.Errorf("state %v", h.state("TRK-1"))
			}
		}},
		{"superseded_session_cannot_take_reconnected_vehicle_offline", func(t *testing.T, h *harness) {
			old := h.connect("TRK-1", 0)
			cur := h.connect("TRK-1", sec(0.5)) // reconnect before the old conn noticed
			old.Disconnected(h.at(sec(0.6)), DisconnectGoodbye)
			if h.state("TRK-1") != Online {
				t.Errorf("old session's close moved the vehicle to %v", h.state("TRK-1"))
			}
			if !errors.Is(old.Err(), ErrSuperseded) || cur.Err() != nil {
				t.Errorf("old Err %v, current Err %v", old.Err(), cur.Err())
			}
			select {
			case <-old.Done():
			default:
				t.Error("superseded session's Done not closed")
			}
		}},
		{"superseded_session_cannot_keep_vehicle_alive", func(t *testing.T, h *harness) {
			old := h.connect("TRK-1", 0)
			h.connect("TRK-1", sec(0.5))
			// The new session goes silent; the old connection keeps
			// sending heartbeats it should not be able to credit.
			for i := 1; i <= 5; i++ {
				h.runTo(sec(float64(i)))
				if err := old.Heartbeat(h.at(sec(float64(i))), "driving"); !errors.Is(err, ErrSuperseded) {
					t.Fatalf("Heartbeat on superseded session = %v", err)
				}
			}
			if h.state("TRK-1") != CommLost {
				t.Errorf("state %v: a superseded session kept the vehicle alive", h.state("TRK-1"))
			}
		}},
		{"timestamp_going_backwards_does_not_move_the_deadline", func(t *testing.T, h *harness) {
			s := h.connect("TRK-1", sec(2))
			if err := s.Heartbeat(h.at(sec(1)), "safe_state"); err != nil {
				t.Fatal(err)
			}
			v, _ := h.m.State("TRK-1")
			if !v.Deadline.Equal(h.at(sec(5))) || !v.LastHeartbeat.IsZero() || v.State != Online {
				t.Errorf("out-of-order heartbeat changed the state: %+v", v)
			}
		}},
		{"invalid_vehicle_id_is_refused", func(t *testing.T, h *harness) {
			for _, id := range []string{"", "../etc", "TRK 1", "TRK-1\x00", ".hidden", strings.Repeat("A", 65)} {
				if _, err := h.m.Connected(id, h.at(0)); !errors.Is(err, ErrInvalidVehicle) {
					t.Errorf("Connected(%q) = %v", id, err)
				}
			}
			if len(h.m.Snapshot()) != 0 || len(h.codes()) != 0 {
				t.Error("a refused id left state or events")
			}
		}},
		{"fleet_exhaustion_refuses_new_vehicles_and_keeps_watching_known_ones", func(t *testing.T, h *harness) {
			h.m.cfg.MaxVehicles = 3
			for i := range 3 {
				h.connect(fmt.Sprintf("TRK-%d", i), 0)
			}
			if _, err := h.m.Connected("TRK-X", h.at(0)); !errors.Is(err, ErrVehicleLimit) {
				t.Errorf("4th vehicle: %v", err)
			}
			// A known vehicle may still reconnect, and is still watched.
			if _, err := h.m.Connected("TRK-0", h.at(sec(0.5))); err != nil {
				t.Errorf("known vehicle refused: %v", err)
			}
			h.runTo(sec(5))
			if c := h.m.Counts(); c[CommLost] != 3 {
				t.Errorf("Counts %v", c)
			}
			// Forgetting one makes room.
			h.m.Forget("TRK-1")
			if _, err := h.m.Connected("TRK-X", h.at(sec(5))); err != nil {
				t.Errorf("after Forget: %v", err)
			}
		}},
		{"unknown_reported_state_changes_nothing", func(t *testing.T, h *harness) {
			s := h.connect("TRK-1", 0)
			for _, st := range []string{"", "SAFE_STATE", "safe_state ", "flying", "online"} {
				if err := s.Heartbeat(h.at(sec(1)), st); !errors.Is(err, ErrInvalidState) {
					t.Errorf("Heartbeat(%q) = %v", st, err)
				}
			}
			v, _ := h.m.State("TRK-1")
			if !v.LastHeartbeat.IsZero() || !v.Deadline.Equal(h.at(sec(3))) || v.Reported != "" {
				t.Errorf("a refused heartbeat changed the state: %+v", v)
			}
		}},
		{"forgotten_vehicle_session_cannot_reregister_it", func(t *testing.T, h *harness) {
			s := h.connect("TRK-1", 0)
			h.m.Forget("TRK-1")
			if err := s.Heartbeat(h.at(sec(1)), "driving"); !errors.Is(err, ErrForgotten) {
				t.Errorf("Heartbeat after Forget = %v", err)
			}
			s.Disconnected(h.at(sec(1)), DisconnectGoodbye)
			if _, ok := h.m.State("TRK-1"); ok {
				t.Error("forgotten vehicle came back")
			}
			// Reconnecting is a new vehicle entry, not the old session.
			h.connect("TRK-1", sec(2))
			if err := s.Heartbeat(h.at(sec(2)), "safe_state"); !errors.Is(err, ErrForgotten) {
				t.Errorf("old handle after re-registration = %v", err)
			}
			if h.state("TRK-1") != Online {
				t.Errorf("old handle moved the vehicle to %v", h.state("TRK-1"))
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newHarness(t, Config{}, nil)) })
	}
}

// TestForgottenSlotReuseIsFenced forces a freed slab slot to be reused by
// another vehicle in the same shard and checks the old handle cannot act on
// the new occupant.
func TestForgottenSlotReuseIsFenced(t *testing.T) {
	h := newHarness(t, Config{}, nil)
	old := h.connect("TRK-old", 0)
	h.m.Forget("TRK-old")
	// Find another id hashing to the same shard: it takes the freed slot.
	var id string
	for i := 0; ; i++ {
		id = fmt.Sprintf("TRK-%d", i)
		if h.m.shardFor(id) == old.sh {
			break
		}
	}
	s := h.connect(id, 0)
	if s.idx != old.idx {
		t.Fatalf("slot not reused: %d vs %d", s.idx, old.idx)
	}
	if err := old.Heartbeat(h.at(time.Second), "safe_state"); !errors.Is(err, ErrForgotten) {
		t.Errorf("old handle = %v", err)
	}
	old.Disconnected(h.at(time.Second), DisconnectGoodbye)
	if h.state(id) != Online || s.Err() != nil {
		t.Errorf("old handle acted on the slot's new vehicle")
	}
}

// TestEventFloodOverflowsQueue: more transitions than the queue holds are
// never dropped silently: each is counted at once, the count is logged and
// recorded as a liveness_events_dropped event, and the fleet state is exact.
func TestEventFloodOverflowsQueue(t *testing.T) {
	var logBuf bytes.Buffer
	sink := &event.MemorySink{}
	metrics := &testMetrics{}
	clk := newFakeClock()
	cfg := Config{QueueSize: MinQueueSize}.withDefaults()
	m := build(cfg, Deps{
		Events: event.NewBus(slog.New(slog.DiscardHandler), nil, sink), Now: clk.Now, Metrics: metrics,
		Log: slog.New(slog.NewTextHandler(&logBuf, nil)),
	})
	const n = MinQueueSize + 500
	for i := range n {
		if _, err := m.Connected(fmt.Sprintf("TRK-%d", i), clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if got := metrics.undelivered.Load(); got != 500 {
		t.Errorf("Undelivered counted %d, want 500", got)
	}
	if delivered := m.Drain(context.Background()); delivered != MinQueueSize {
		t.Errorf("delivered %d", delivered)
	}
	if got := len(sink.ByCode(codes.VehicleOnline)); got != MinQueueSize {
		t.Errorf("%d online events", got)
	}
	dropped := sink.ByCode(codes.LivenessEventsDropped)
	if len(dropped) != 1 || dropped[0].Attrs["count"] != 500 || dropped[0].Severity != event.SeverityHigh {
		t.Errorf("dropped events %+v", dropped)
	}
	if !strings.Contains(logBuf.String(), "transition queue full") || !strings.Contains(logBuf.String(), "count=500") {
		t.Errorf("log: %s", logBuf.String())
	}
	if c := m.Counts(); c[Online] != n || metrics.count(Online) != n {
		t.Errorf("Counts %v, Transitioned %d: state must be exact despite drops", c, metrics.count(Online))
	}
	// The queue works again once drained.
	m.Forget("TRK-0")
	if _, err := m.Connected("TRK-0", clk.Now()); err != nil {
		t.Fatal(err)
	}
	if m.Drain(context.Background()) != 1 {
		t.Error("queue not usable after overflow")
	}
}

// failingEmitter refuses every event.
type failingEmitter struct{}

func (failingEmitter) Emit(context.Context, ...event.Event) error { return event.ErrSink }

// TestEmitterFailureIsCountedAndDoesNotStall: a sink that fails does not
// stop observers, detection, or later deliveries.
func TestEmitterFailureIsCountedAndDoesNotStall(t *testing.T) {
	h := newHarness(t, Config{}, failingEmitter{})
	h.connect("TRK-1", 0)
	h.runTo(4 * time.Second)
	if got := h.metrics.emitFailed.Load(); got != 3 {
		t.Errorf("EmitFailed counted %d events, want 3", got)
	}
	if trs := h.transitions(); len(trs) != 3 || trs[2].To != CommLost {
		t.Errorf("observer saw %+v", trs)
	}
}
