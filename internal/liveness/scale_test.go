package liveness

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/fifthwheel/fifthwheel/codes"
)

const fleet = 100_000

var recordSize = unsafe.Sizeof(record{})

func vehicleID(i int) string { return fmt.Sprintf("TRK-%06d", i) }

// TestFleetOf100kGoesSilent: 100,000 vehicles heartbeat once at random
// moments, then all go silent at once (a partition on the gateway's side).
// Every one is declared comm_lost exactly once, never before its deadline
// and within one tick of it, with the fake clock ticking every 50 ms.
func TestFleetOf100kGoesSilent(t *testing.T) {
	em := &discardEmitter{}
	h := newHarness(t, Config{}, em)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range fleet {
		s := h.connect(vehicleID(i), 0)
		if err := s.Heartbeat(h.at(time.Duration(rng.Int64N(int64(time.Second)))), "driving"); err != nil {
			t.Fatal(err)
		}
	}
	// Tick (and deliver) every 50 ms for 5 s, as Run would.
	for now := time.Duration(0); now <= 5*time.Second; now += h.cfg.Tick {
		h.clk.Set(h.at(now))
		h.m.Tick(h.at(now))
		h.drain()
	}
	if c := h.m.Counts(); c[CommLost] != fleet {
		t.Fatalf("Counts %v, want all %d comm_lost", c, fleet)
	}
	if got := em.count(codes.CommLost); got != fleet {
		t.Errorf("%d comm_lost events, want %d", got, fleet)
	}
	if got := em.count(codes.VehicleSuspect); got != fleet {
		t.Errorf("%d suspect events, want %d", got, fleet)
	}
	if u := h.metrics.undelivered.Load(); u != 0 {
		t.Errorf("%d transitions undelivered", u)
	}
	lat := h.metrics.latencies
	if len(lat) != fleet {
		t.Fatalf("%d comm_lost transitions, want %d", len(lat), fleet)
	}
	slices.Sort(lat)
	if lat[0] <= 0 || lat[len(lat)-1] > h.cfg.Tick {
		t.Errorf("detection latency from %v to %v, want within (0, %v]", lat[0], lat[len(lat)-1], h.cfg.Tick)
	}
	t.Logf("detection latency (fake clock, 50 ms ticks): p50 %v, p99 %v, max %v",
		lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
}

// heapAlloc returns the live heap after a full collection.
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// measureFleet registers n vehicles (one session and one heartbeat each)
// and returns the heap bytes per vehicle with their sessions held, as the
// session layer holds them, and after every session ended, which leaves the
// records alone. Vehicle ids are built inside the measurement, since the
// Monitor keeps them.
func measureFleet(n int) (withSessions, recordsOnly float64) {
	clk := newFakeClock()
	before := heapAlloc()
	m := build(Config{}.withDefaults(), Deps{Events: &discardEmitter{}, Now: clk.Now, Log: slog.New(slog.DiscardHandler)})
	ss := make([]*Session, n)
	for i := range ss {
		ss[i], _ = m.Connected(vehicleID(i), epoch)
		_ = ss[i].Heartbeat(epoch.Add(time.Millisecond), "driving")
	}
	m.Drain(context.Background())
	withSessions = float64(heapAlloc()-before) / float64(n)
	for _, s := range ss {
		s.Disconnected(epoch.Add(2*time.Millisecond), DisconnectTransport)
	}
	ss = nil
	recordsOnly = float64(heapAlloc()-before) / float64(n)
	runtime.KeepAlive(m)
	return withSessions, recordsOnly
}

// TestMemoryPerVehicle measures, and only loosely bounds, the heap the
// Monitor needs per vehicle.
func TestMemoryPerVehicle(t *testing.T) {
	with, without := measureFleet(fleet)
	t.Logf("%d vehicles: %.0f B/vehicle with a live Session, %.0f B/vehicle records only (record struct %d B)",
		fleet, with, without, recordSize)
	if with > 2048 {
		t.Errorf("%.0f B/vehicle: far above the few hundred bytes intended", with)
	}
}
