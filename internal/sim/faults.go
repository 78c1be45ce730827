package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Window is a span of the scenario: from At after the scenario starts (every
// truck driving, see Config) for For.
type Window struct {
	At, For time.Duration
}

func (w Window) contains(t0, t time.Time) bool {
	s := t0.Add(w.At)
	return !t.Before(s) && t.Before(s.Add(w.For))
}

// Faults are what can go wrong with one truck. The zero value is a healthy
// truck. Link faults act on its TCP connections (Deps.DialContext of its
// agent); sensor faults on its telemetry.
//
// The link is modelled as TCP experiences it, because that is what carries
// the session: latency and jitter delay each write, in order; a lost
// segment is retransmitted after an RTO (200 ms, doubling), so loss shows
// up as delay and head-of-line blocking, never as a gap in the byte stream
// (which TLS would turn into a broken connection at once).
type Faults struct {
	// Latency and Jitter delay every write, each direction: one way takes
	// Latency plus a uniform [0, Jitter], so a round trip sees up to
	// 2 × (Latency + Jitter). Order is kept.
	Latency, Jitter time.Duration
	// Loss is the probability (0 … 1) that a write's segment is lost and
	// retransmitted.
	Loss float64
	// Blackout is a silent outage (a dead zone), enabled when For > 0:
	// nothing gets through either way, new connections hang (their SYN
	// unanswered), and open ones notice nothing by themselves; what was
	// written is delivered when the link comes back, if the other end has
	// not given up by then.
	Blackout Window
	// FlapEvery, when > 0, makes the link flap during FlapWindow: down for
	// FlapEvery, up for FlapEvery, and so on. Each down is a carrier loss:
	// open connections reset on the truck's side (the gateway sees
	// silence) and new ones are refused until the link is up. FlapWindow.For
	// 0 flaps until the end of the run.
	FlapEvery  time.Duration
	FlapWindow Window
	// ClockSkew offsets the truck's clock (frame timestamps and the
	// agent's own clock). Beyond the gateway's ±5 s the truck is refused.
	ClockSkew time.Duration
	// GNSSJump, enabled when For > 0, offsets the GNSS position by about
	// 5.6 km during the window (a spoof or a receiver glitch).
	GNSSJump Window
	// SpeedDisagreement, enabled when For > 0, makes the wheel speed read
	// 60 % of the GNSS speed during the window.
	SpeedDisagreement Window
}

// hasLink reports whether the link needs the fault-injecting dialer.
func (f Faults) hasLink() bool {
	return f.Latency > 0 || f.Jitter > 0 || f.Loss > 0 || f.Blackout.For > 0 || f.FlapEvery > 0
}

func (f Faults) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if f.Latency < 0 || f.Latency > time.Minute || f.Jitter < 0 || f.Jitter > time.Minute {
		bad("latency and jitter must be between 0 and 1m")
	}
	if !(f.Loss >= 0 && f.Loss < 1) {
		bad("loss must be a probability in [0, 1)")
	}
	for name, w := range map[string]Window{"blackout": f.Blackout, "flap": f.FlapWindow, "gnss jump": f.GNSSJump, "speed disagreement": f.SpeedDisagreement} {
		if w.At < 0 || w.For < 0 {
			bad("%s: times must not be negative", name)
		}
	}
	if f.FlapEvery < 0 || (f.FlapEvery > 0 && f.FlapEvery < 10*time.Millisecond) {
		bad("flap period must be 0 (off) or at least 10ms")
	}
	if f.ClockSkew < -time.Hour || f.ClockSkew > time.Hour {
		bad("clock skew must be within ±1h")
	}
	return errors.Join(errs...)
}

// merge overlays o's set fields on f: a truck chosen by several groups has
// the faults of all of them (the later group wins a field both set).
func (f Faults) merge(o Faults) Faults {
	pick := func(a, b time.Duration) time.Duration {
		if b != 0 {
			return b
		}
		return a
	}
	f.Latency, f.Jitter = pick(f.Latency, o.Latency), pick(f.Jitter, o.Jitter)
	if o.Loss != 0 {
		f.Loss = o.Loss
	}
	if o.Blackout.For > 0 {
		f.Blackout = o.Blackout
	}
	if o.FlapEvery > 0 {
		f.FlapEvery, f.FlapWindow = o.FlapEvery, o.FlapWindow
	}
	f.ClockSkew = pick(f.ClockSkew, o.ClockSkew)
	if o.GNSSJump.For > 0 {
		f.GNSSJump = o.GNSSJump
	}
	if o.SpeedDisagreement.For > 0 {
		f.SpeedDisagreement = o.SpeedDisagreement
	}
	return f
}

// FaultGroup applies Faults to a fraction of the fleet.
type FaultGroup struct {
	// Name labels the group in the report ("blackout", "jitter", ...).
	Name string
	// Fraction of the trucks, 0 … 1, chosen at random (from Config.Seed)
	// independently of the other groups; round(Fraction × N) trucks.
	Fraction float64
	Faults   Faults
}

// assignFaults returns each truck's merged faults and, per group, the
// indexes of the trucks it chose.
func assignFaults(n int, groups []FaultGroup, seed uint64) ([]Faults, [][]int) {
	out := make([]Faults, n)
	chosen := make([][]int, len(groups))
	for g, grp := range groups {
		k := groupTrucks(grp.Fraction, n)
		r := rand.New(rand.NewPCG(seed, uint64(g)+1))
		perm := r.Perm(n)[:k]
		for _, i := range perm {
			out[i] = out[i].merge(grp.Faults)
		}
		chosen[g] = perm
	}
	return out, chosen
}

// groupTrucks is how many of n trucks a group's fraction selects.
func groupTrucks(frac float64, n int) int { return int(math.Round(frac * float64(n))) }

// ScenarioProblem is a configured fault the scenario cannot show.
type ScenarioProblem struct {
	// Group is the FaultGroup's Name.
	Group string
	// Field is what to change: "fraction", "at", "for", "every" (the
	// group's), or "duration" (the scenario's).
	Field string
	// Outside: the fault cannot happen at all (it selects no truck, or it
	// starts at or after the scenario's end). New refuses such a
	// configuration. Otherwise the fault happens but a figure it should
	// produce cannot be measured whole; `sim fleet --check` refuses that
	// too.
	Outside bool
	Msg     string
}

func (p ScenarioProblem) String() string { return p.Group + " " + p.Field + ": " + p.Msg }

// ScenarioProblems lists the configured faults the scenario cannot show.
// A group with Fraction 0 is not configured. The rules, for a scenario of
// Duration D (with D = 0, until the context ends, only the fractions are
// checked) and the deadline S = HeartbeatInterval × Misses:
//
//   - every group must select at least one truck (round(Fraction × N) ≥ 1);
//   - every fault window must start before D;
//   - a blackout must last at least S + 1 s (shorter ones the gateway need
//     not declare, so its comm_lost figures would have nothing to count),
//     and D must be at least its start + max(its length + S + 1 s, 15 s):
//     it ends, the gateway's declaration is due and counted, and a truck
//     that stopped at its start has had its whole safe-state budget;
//   - flapping must fit one full down period, and end by D if it has a
//     length; a sensor fault window must end by D.
func (c Config) ScenarioProblems() []ScenarioProblem {
	c = c.withDefaults()
	span := time.Duration(c.Misses) * c.HeartbeatInterval
	var ps []ScenarioProblem
	for _, g := range c.Faults {
		if g.Fraction <= 0 {
			continue
		}
		add := func(field string, outside bool, format string, a ...any) {
			ps = append(ps, ScenarioProblem{Group: g.Name, Field: field, Outside: outside, Msg: fmt.Sprintf(format, a...)})
		}
		if groupTrucks(g.Fraction, c.Vehicles) == 0 {
			add("fraction", true, "selects none of the %d trucks (%g × %d rounds to 0)", c.Vehicles, g.Fraction, c.Vehicles)
		}
		d := c.Duration
		if d <= 0 {
			continue
		}
		starts := func(what string, at time.Duration) bool {
			if at >= d {
				add("at", true, "the %s starts %v into a %v scenario: it never happens", what, at, d)
				return false
			}
			return true
		}
		f := g.Faults
		if b := f.Blackout; b.For > 0 && starts("blackout", b.At) {
			if min := span + outageSlack; b.For < min {
				add("for", false, "a %v blackout is shorter than the deadline (heartbeat interval × misses, %v) + %v: the gateway need not declare it, so there is nothing to measure", b.For, span, outageSlack)
			}
			if need := b.At + max(b.For+span+outageSlack, SafeStateSLA); d < need {
				add("duration", false, "a %v scenario is too short for a blackout %v in for %v: its figures need %v (start + max(length + %v deadline + %v, the %v safe-state budget))",
					d, b.At, b.For, need, span, outageSlack, SafeStateSLA)
			}
		}
		if f.FlapEvery > 0 && starts("flapping", f.FlapWindow.At) {
			w := f.FlapWindow
			if w.At+f.FlapEvery > d {
				add("every", false, "flapping %v in, every %v, does not complete one down period within the %v scenario", w.At, f.FlapEvery, d)
			} else if w.For > 0 && w.At+w.For > d {
				add("for", false, "flapping %v in for %v ends after the %v scenario", w.At, w.For, d)
			}
		}
		for _, sw := range []struct {
			what string
			w    Window
		}{{"GNSS jump", f.GNSSJump}, {"speed disagreement", f.SpeedDisagreement}} {
			what, w := sw.what, sw.w
			if w.For > 0 && starts(what, w.At) && w.At+w.For > d {
				add("for", false, "the %s %v in for %v ends after the %v scenario", what, w.At, w.For, d)
			}
		}
	}
	return ps
}
