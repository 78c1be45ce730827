package drill

import (
	"github.com/fifthwheel/fifthwheel/internal/sim"
)

// Fleet is the SLA figures of a simulated fleet that drove against the
// same gateway while the drills ran (fifthwheel demo): the report's
// optional "fleet" member, absent when no fleet drove.
type Fleet struct {
	Vehicles   int     `json:"vehicles"`
	ScenarioMS float64 `json:"scenario_ms"`
	// Figures are the fleet's SLA rows, as 'sim fleet --check' judges them.
	Figures []FleetFigure `json:"figures"`
}

// FleetFigure is one of the fleet's SLA rows.
type FleetFigure struct {
	Name string `json:"name"`
	// Stat is what is compared with Limit: "p99", "max" (milliseconds) or
	// "count".
	Stat  string  `json:"stat"`
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	// N is how many samples the row has.
	N int `json:"n"`
	// P50MS, P99MS and MaxMS are the distribution of a row over durations
	// (absent for a count).
	P50MS *float64 `json:"p50_ms,omitempty"`
	P99MS *float64 `json:"p99_ms,omitempty"`
	MaxMS *float64 `json:"max_ms,omitempty"`
	// Outcome is pass, fail, or not_applicable (no samples, and the
	// scenario configured nothing that should have produced any).
	Outcome Outcome `json:"outcome"`
	Reason  string  `json:"reason,omitempty"`
}

// NotApplicable is a fleet figure's outcome when it had nothing to
// measure and was not expected to (never a drill's).
const NotApplicable Outcome = "not_applicable"

// Timed reports whether the figure is over durations (its Value and Limit
// in milliseconds).
func (f FleetFigure) Timed() bool { return f.Stat != "count" }

// FleetFrom summarizes a fleet run's report for the drill report; nil
// for nil.
func FleetFrom(r *sim.Report) *Fleet {
	if r == nil {
		return nil
	}
	f := &Fleet{Vehicles: r.Vehicles, ScenarioMS: r.ScenarioMS, Figures: []FleetFigure{}}
	for _, s := range r.SLAs {
		ff := FleetFigure{Name: s.Name, Stat: s.Stat, Value: s.Value, Limit: s.Limit, N: s.N, Reason: s.Reason}
		switch s.Result {
		case sim.Pass:
			ff.Outcome = Pass
		case sim.NotApplicable:
			ff.Outcome = NotApplicable
		default:
			ff.Outcome = Fail
		}
		if d := s.Dist; d != nil && d.N > 0 {
			p50, p99, mx := d.P50, d.P99, d.Max
			ff.P50MS, ff.P99MS, ff.MaxMS = &p50, &p99, &mx
		}
		f.Figures = append(f.Figures, ff)
	}
	return f
}
