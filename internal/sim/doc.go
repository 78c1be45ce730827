// Package sim simulates trucks and, later, a TMS, for the demo, the drills
// and load tests.
//
// Simulated trucks are built on the public agent package only: if the
// simulator needs something the SDK lacks, the SDK grows it, so what is
// tested is what customers embed. The truck model (kinematics.go) moves
// along a route with a jerk-limited acceleration, stops at −2.5 m/s² when
// the agent starts a minimal-risk maneuver, and reads noisy sensors into
// which faults can be injected (GNSS jump or loss, wheel/GNSS disagreement,
// clock skew).
//
// # Security model
//
// None: the simulator is a client like any truck. It holds test credentials
// issued by the gateway's fleet CA and signs with keys it generates.
package sim
