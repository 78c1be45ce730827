package sim

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

var testRoute = Route{{32.7767, -96.7970}, {32.9000, -96.7000}, {33.2000, -96.6000}}

// A stop from 25 m/s at −2.5 m/s² with the jerk limit takes about 11 s:
// well inside the 15 s safe-state SLA.
func TestStopFrom25mps(t *testing.T) {
	tr := &Truck{Route: testRoute, Cruise: 25, V: 25}
	t0 := time.Unix(0, 0)
	tr.Stop()
	now := t0
	var maxDecel float64
	for i := 0; i < 3000 && !tr.Stopped(); i++ {
		now = now.Add(10 * time.Millisecond)
		tr.Step(10*time.Millisecond, now)
		maxDecel = math.Max(maxDecel, -tr.A)
	}
	took := tr.StoppedAt.Sub(t0)
	if !tr.Stopped() || took < 10*time.Second || took > 12*time.Second {
		t.Fatalf("stop took %v (stopped=%v); want about 11 s", took, tr.Stopped())
	}
	if maxDecel > StopDecel+1e-9 {
		t.Fatalf("deceleration %.2f exceeds %.1f", maxDecel, StopDecel)
	}
	t.Logf("stop from 25 m/s: %v", took)
}

func TestCruiseAndResume(t *testing.T) {
	tr := &Truck{Route: testRoute, Cruise: 20}
	now := time.Unix(0, 0)
	for i := 0; i < 6000; i++ {
		now = now.Add(10 * time.Millisecond)
		tr.Step(10*time.Millisecond, now)
	}
	if math.Abs(tr.V-20) > 0.1 || tr.S <= 0 {
		t.Fatalf("cruise: v=%.2f s=%.1f", tr.V, tr.S)
	}
	p, hdg := tr.Position()
	if p.Lat < 32.77 || p.Lat > 33.3 || hdg < 0 || hdg >= 360 {
		t.Fatalf("position %v heading %v", p, hdg)
	}
}

func TestSensorFaults(t *testing.T) {
	tr := &Truck{Route: testRoute, Cruise: 25, V: 25}
	s := &Sensors{Rand: rand.New(rand.NewPCG(1, 2)), GNSSPosSigma: 2, GNSSSpeedSigma: 0.1, WheelRelSigma: 0.005}
	r := s.Read(tr)
	if math.Abs(r.GNSSSpeed-r.WheelSpeed) > 1 || r.Fix != "3d" {
		t.Fatalf("healthy reading disagrees: %+v", r)
	}
	s.WheelFactor = 0.5
	if r := s.Read(tr); r.WheelSpeed > 14 {
		t.Fatalf("wheel fault not applied: %+v", r)
	}
	s.GNSSOffset = Point{Lat: 0.5}
	if r2 := s.Read(tr); r2.Pos.Lat-r.Pos.Lat < 0.4 {
		t.Fatal("GNSS jump not applied")
	}
	s.GNSSFixLost = true
	if r := s.Read(tr); r.Fix != "none" {
		t.Fatal("fix loss not applied")
	}
}
