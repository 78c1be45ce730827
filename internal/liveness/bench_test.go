package liveness

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// benchFleet returns a Monitor on a fake clock with fleet vehicles
// connected at epoch, their online transitions delivered.
func benchFleet(b *testing.B) (*Monitor, []*Session, *fakeClock) {
	b.Helper()
	clk := newFakeClock()
	m := build(Config{}.withDefaults(), Deps{Events: &discardEmitter{}, Now: clk.Now, Log: slog.New(slog.DiscardHandler)})
	ss := make([]*Session, fleet)
	for i := range ss {
		var err error
		if ss[i], err = m.Connected(vehicleID(i), epoch); err != nil {
			b.Fatal(err)
		}
	}
	m.Drain(context.Background())
	return m, ss, clk
}

// BenchmarkHeartbeat: one verified heartbeat reaching the Monitor, with
// 100,000 vehicles registered, each beating once per simulated second.
func BenchmarkHeartbeat(b *testing.B) {
	_, ss, _ := benchFleet(b)
	step := time.Second / fleet
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := ss[i%fleet].Heartbeat(epoch.Add(time.Duration(i+1)*step), "driving"); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkHeartbeatParallel: the same from as many goroutines as
// GOMAXPROCS, as session goroutines call it.
func BenchmarkHeartbeatParallel(b *testing.B) {
	_, ss, _ := benchFleet(b)
	step := time.Second / fleet
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// Each goroutine takes 1,024 consecutive beats at a time, so the
		// shared counter is not what is measured.
		var i, end int64
		for pb.Next() {
			if i == end {
				end = n.Add(1024)
				i = end - 1024
			}
			i++
			_ = ss[i%fleet].Heartbeat(epoch.Add(time.Duration(i)*step), "driving")
		}
	})
}

// BenchmarkTick measures the timer loop with 100,000 vehicles.
func BenchmarkTick(b *testing.B) {
	// steady: every vehicle heartbeats on time. One op is one 50 ms slice
	// of simulated time: its 5,000 heartbeats, then the tick. Nothing is
	// due, so the tick is the loop's fixed cost; it is timed on its own
	// and reported as ns/tick.
	b.Run("steady", func(b *testing.B) {
		m, ss, _ := benchFleet(b)
		step := time.Second / fleet
		perTick := int(DefaultTick / step)
		beat := 0
		var ticking time.Duration
		for b.Loop() {
			for range perTick {
				beat++
				_ = ss[beat%fleet].Heartbeat(epoch.Add(time.Duration(beat)*step), "driving")
			}
			now := epoch.Add(time.Duration(beat) * step)
			t0 := time.Now()
			m.Tick(now)
			ticking += time.Since(t0)
		}
		b.ReportMetric(float64(ticking.Nanoseconds())/float64(b.N), "ns/tick")
	})
	// partition: the whole fleet's deadline passes at once; one op is the
	// tick that declares all 100,000 comm_lost (and queues their
	// transitions). ns/vehicle is the cost of one declaration.
	b.Run("partition", func(b *testing.B) {
		m, ss, _ := benchFleet(b)
		ctx := context.Background()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			start := epoch.Add(time.Duration(i) * time.Minute)
			for j, s := range ss {
				if i > 0 {
					if s, _ = m.Connected(vehicleID(j), start); s == nil {
						b.Fatal("reconnect failed")
					}
					ss[j] = s
				}
			}
			m.Drain(ctx)
			now := start.Add(3*time.Second + DefaultTick)
			b.StartTimer()
			m.Tick(now)
			b.StopTimer()
			if got := m.Counts()[CommLost]; got != fleet {
				b.Fatalf("%d comm_lost", got)
			}
			m.Drain(ctx)
			b.StartTimer()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/fleet, "ns/vehicle")
	})
}

// BenchmarkSnapshot: the TMS read API's full fleet read.
func BenchmarkSnapshot(b *testing.B) {
	m, _, _ := benchFleet(b)
	for b.Loop() {
		if len(m.Snapshot()) != fleet {
			b.Fatal("short snapshot")
		}
	}
}

// BenchmarkMemory reports the heap per vehicle for 100,000 vehicles.
func BenchmarkMemory(b *testing.B) {
	var with, without float64
	for b.Loop() {
		with, without = measureFleet(fleet)
	}
	b.ReportMetric(with, "B/vehicle")
	b.ReportMetric(without, "B/vehicle-no-session")
}
