package liveness

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestPhiMatchesNormalTail(t *testing.T) {
	const mean, std = 1000.0, 100.0
	if got := phiOf(mean, mean, std); math.Abs(got-math.Log10(2)) > 1e-9 {
		t.Errorf("φ at the mean = %v, want log10 2", got)
	}
	prev := -1.0
	for y := -3.0; y <= 8; y += 0.25 {
		got := phiOf(mean+y*std, mean, std)
		if got <= prev {
			t.Errorf("φ not increasing at y=%v", y)
		}
		prev = got
		exact := -math.Log10(0.5 * math.Erfc(y/math.Sqrt2))
		switch {
		case y >= -3 && y <= 3:
			if math.Abs(got-exact) > 0.05*max(1, exact) {
				t.Errorf("y=%v: φ %v, exact normal tail %v", y, got, exact)
			}
		case y > 3:
			// The logistic tail is lighter than the normal's, so φ grows
			// faster: suspicion comes a little earlier, never later.
			if got < exact {
				t.Errorf("y=%v: φ %v below the exact %v", y, got, exact)
			}
		}
	}
	if got := phiOf(1e12, mean, std); math.IsInf(got, 0) || math.IsNaN(got) {
		t.Errorf("φ after a very long silence = %v, want finite (events are JSON)", got)
	}
}

func TestCrossingY(t *testing.T) {
	for _, th := range []float64{MinPhiSuspect, 3, DefaultPhiSuspect, 12, MaxPhiSuspect} {
		y := crossingY(th)
		if got := phiOf(y, 0, 1); math.Abs(got-th) > 1e-9 {
			t.Errorf("threshold %v: φ(y*=%v) = %v", th, y, got)
		}
	}
	if y := crossingY(DefaultPhiSuspect); y < 5 || y > 5.5 {
		t.Errorf("y* for φ=8 is %v, want ≈5.2", y)
	}
}

func TestStatsConverge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := stats{mean: 1000, vari: 250 * 250}
	alpha := 2.0 / (DefaultPhiWindow + 1)
	for range 5000 {
		s.observe(1200+rng.NormFloat64()*60, alpha)
	}
	if math.Abs(float64(s.mean)-1200) > 30 || math.Abs(s.std(0)-60) > 20 {
		t.Errorf("mean %v σ %v, want ≈1200 and ≈60", s.mean, s.std(0))
	}
	if s.std(100) != 100 {
		t.Errorf("floor not applied: %v", s.std(100))
	}
}

func BenchmarkPhi(b *testing.B) {
	var sink float64
	for i := 0; b.Loop(); i++ {
		sink += phiOf(float64(1000+i%2000), 1000, 100)
	}
	_ = sink
}
