package ingest

import (
	"math"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
)

// Cross-sensor plausibility. A finding never rejects a frame (the frame is
// authentic: the vehicle signed it); it is kept with the frame and raised as
// a finding event for detection. The state behind the rules is per replica
// and in memory: with several replicas, a vehicle's frames reach them in
// turns and a run of disagreeing frames may be split, so a finding may come
// later, never falsely.

// Sample is what plausibility reads from a telemetry frame.
type Sample struct {
	TS            time.Time
	Lat, Lon      float64
	GNSSSpeed     float64 // m/s
	WheelSpeed    float64 // m/s
	Fix           string  // "none" means no fix
	HasPosition   bool
	HasWheelSpeed bool
}

// PlausibilityConfig holds the rule thresholds and the fleet's operating
// area. Data only; zero thresholds take the defaults in limits.go.
type PlausibilityConfig struct {
	SpeedDisagreeRatio  float64 // relative difference that counts as disagreement
	SpeedDisagreeMinMPS float64 // below this speed disagreement is noise
	SpeedDisagreeFrames int     // consecutive disagreeing frames before a finding
	MaxImpliedSpeedMPS  float64 // faster than any truck: a jump
	// Area is the fleet's operating area (the gateway's
	// plausibility.operating_area, validated there); fewer than 3 vertices:
	// none, and outside_operating_area never fires.
	Area Polygon
}

// Polygon is an operating area: vertices as (lat, lon), implicitly closed.
type Polygon [][2]float64

// Contains reports whether (lat, lon) is inside p (ray casting; areas are
// small enough that treating degrees as planar is adequate).
func (p Polygon) Contains(lat, lon float64) bool {
	in := false
	for i, j := 0, len(p)-1; i < len(p); j, i = i, i+1 {
		yi, xi := p[i][0], p[i][1]
		yj, xj := p[j][0], p[j][1]
		if (yi > lat) != (yj > lat) && lon < (xj-xi)*(lat-yi)/(yj-yi)+xi {
			in = !in
		}
	}
	return in
}

type vehiclePlaus struct {
	last      Sample
	haveLast  bool
	disagree  int
	fixLost   bool
	outside   bool
	raisedSpd bool
}

// Plausibility evaluates samples per vehicle.
type Plausibility struct {
	cfg  PlausibilityConfig
	mu   sync.Mutex
	byID map[string]*vehiclePlaus
}

// NewPlausibility returns an evaluator with cfg.
func NewPlausibility(cfg PlausibilityConfig) *Plausibility {
	return &Plausibility{cfg: cfg, byID: map[string]*vehiclePlaus{}}
}

// Check evaluates s for vehicle and returns the findings it raises. area may
// be nil (no operating area configured). A condition that persists raises
// its finding once, when it starts; it re-arms when the condition clears.
func (p *Plausibility) Check(vehicle string, s Sample, area Polygon) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.byID[vehicle]
	if st == nil {
		st = &vehiclePlaus{}
		p.byID[vehicle] = st
	}
	var out []string

	if s.HasWheelSpeed {
		hi := math.Max(s.GNSSSpeed, s.WheelSpeed)
		if hi > p.cfg.SpeedDisagreeMinMPS && math.Abs(s.GNSSSpeed-s.WheelSpeed) > p.cfg.SpeedDisagreeRatio*hi {
			st.disagree++
		} else {
			st.disagree, st.raisedSpd = 0, false
		}
		if st.disagree >= p.cfg.SpeedDisagreeFrames && !st.raisedSpd {
			out = append(out, codes.SpeedDisagreement)
			st.raisedSpd = true
		}
	}

	lost := s.Fix == "none"
	if lost && !st.fixLost {
		out = append(out, codes.GNSSFixLost)
	}
	st.fixLost = lost

	if s.HasPosition && !lost {
		if st.haveLast {
			dt := s.TS.Sub(st.last.TS).Seconds()
			d := haversine(st.last.Lat, st.last.Lon, s.Lat, s.Lon)
			// A jump: too far for the time elapsed. Frames with no time between
			// them (dt <= 0) jump if they moved at all beyond GNSS noise.
			if (dt > 0 && d/dt > p.cfg.MaxImpliedSpeedMPS) || (dt <= 0 && d > 50) {
				out = append(out, codes.PositionJump)
			}
		}
		st.last, st.haveLast = s, true
		if len(area) >= 3 {
			outside := !area.Contains(s.Lat, s.Lon)
			if outside && !st.outside {
				out = append(out, codes.OutsideOperatingArea)
			}
			st.outside = outside
		}
	}
	return out
}

// haversine returns the great-circle distance in metres.
func haversine(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371000.0
	toRad := math.Pi / 180
	dLat := (lat2 - lat1) * toRad
	dLon := (lon2 - lon1) * toRad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*toRad)*math.Cos(lat2*toRad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}
