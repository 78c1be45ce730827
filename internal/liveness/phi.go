package liveness

import "math"

// φ-accrual (Hayashibara et al., 2004): φ(t) = −log10 P(the next heartbeat
// arrives later than t), with P taken from the vehicle's learned
// inter-arrival distribution, modelled as normal. Like Akka's detector we use
// the logistic approximation of the normal tail,
//
//	P(X > t) ≈ 1 / (1 + e^z),  z = y·(1.5976 + 0.070566·y²),  y = (t − μ)/σ
//
// which gives φ = log10(1 + e^z) in closed form and can be inverted to find
// when φ will cross a threshold. It follows the normal distribution closely
// within 3σ; beyond, its tail is lighter, so φ grows faster than the exact
// normal's: φ = 8 is reached at y ≈ 5.23 rather than 5.61. Suspicion comes a
// little earlier, never later; the σ floor and the clamps in
// Monitor.suspectDelay matter more.

const (
	logisticA = 1.5976
	logisticB = 0.070566
)

// phiOf returns φ after elapsed time units of silence, for a mean and a
// standard deviation (> 0) in the same unit. It is finite for finite input.
func phiOf(elapsed, mean, std float64) float64 {
	y := (elapsed - mean) / std
	return softplus(y*(logisticA+logisticB*y*y)) / math.Ln10
}

// softplus returns ln(1 + e^z) without overflow.
func softplus(z float64) float64 {
	if z > 0 {
		return z + math.Log1p(math.Exp(-z))
	}
	return math.Log1p(math.Exp(z))
}

// crossingY returns the y at which φ reaches threshold (> log10 2, i.e. the
// crossing lies after the mean): the root of z(y) = ln(10^φ − 1), found by
// bisection once, when the Monitor is built. z is strictly increasing in y.
func crossingY(threshold float64) float64 {
	target := math.Log(math.Expm1(threshold * math.Ln10))
	lo, hi := 0.0, 100.0
	for range 200 {
		mid := (lo + hi) / 2
		if mid*(logisticA+logisticB*mid*mid) < target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// stats is a vehicle's inter-arrival statistics in milliseconds: an
// exponentially weighted mean and variance (Finch, "Incremental calculation
// of weighted mean and variance", 2009), 8 bytes instead of a sample ring.
type stats struct {
	mean float32 // ms
	vari float32 // ms²
}

// observe folds one inter-arrival sample (ms) in with weight alpha.
func (s *stats) observe(sample, alpha float64) {
	mean, vari := float64(s.mean), float64(s.vari)
	d := sample - mean
	mean += alpha * d
	vari = (1 - alpha) * (vari + alpha*d*d)
	s.mean, s.vari = float32(mean), float32(vari)
}

// std returns the standard deviation, floored at minStd.
func (s *stats) std(minStd float64) float64 {
	return max(math.Sqrt(float64(s.vari)), minStd)
}
