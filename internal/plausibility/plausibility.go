package plausibility

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
)

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

// Config holds the rule thresholds and the fleet's operating area. Data
// only; zero thresholds take the defaults in limits.go.
type Config struct {
	SpeedDisagreeRatio  float64 // relative difference that counts as disagreement
	SpeedDisagreeMinMPS float64 // below this speed disagreement is noise
	SpeedDisagreeFrames int     // consecutive disagreeing frames before a finding
	MaxImpliedSpeedMPS  float64 // faster than any truck: a jump
	// Area is the fleet's operating area (the gateway's
	// plausibility.operating_area, parsed by ParseArea); fewer than 3
	// vertices: none, and outside_operating_area never fires.
	Area Polygon
}

// WithDefaults returns c with each zero threshold set to its default.
func (c Config) WithDefaults() Config {
	if c.SpeedDisagreeRatio == 0 {
		c.SpeedDisagreeRatio = DefaultSpeedDisagreeRatio
	}
	if c.SpeedDisagreeMinMPS == 0 {
		c.SpeedDisagreeMinMPS = DefaultSpeedDisagreeMinMPS
	}
	if c.SpeedDisagreeFrames == 0 {
		c.SpeedDisagreeFrames = DefaultSpeedDisagreeFrames
	}
	if c.MaxImpliedSpeedMPS == 0 {
		c.MaxImpliedSpeedMPS = DefaultMaxImpliedSpeedMPS
	}
	return c
}

// Validate refuses thresholds outside the bounds in limits.go, naming each
// one wrong; NaN is outside every bound.
func (c Config) Validate() error {
	var errs []string
	if !(c.SpeedDisagreeRatio >= MinSpeedDisagreeRatio && c.SpeedDisagreeRatio <= MaxSpeedDisagreeRatio) {
		errs = append(errs, fmt.Sprintf("speed disagree ratio: must be between %v and %v", MinSpeedDisagreeRatio, MaxSpeedDisagreeRatio))
	}
	if !(c.SpeedDisagreeMinMPS >= MinSpeedDisagreeMinMPS && c.SpeedDisagreeMinMPS <= MaxSpeedDisagreeMinMPS) {
		errs = append(errs, fmt.Sprintf("speed disagree min m/s: must be between %v and %v", MinSpeedDisagreeMinMPS, MaxSpeedDisagreeMinMPS))
	}
	if c.SpeedDisagreeFrames < 1 || c.SpeedDisagreeFrames > MaxSpeedDisagreeFrames {
		errs = append(errs, fmt.Sprintf("speed disagree frames: must be between 1 and %d", MaxSpeedDisagreeFrames))
	}
	if !(c.MaxImpliedSpeedMPS >= MinMaxImpliedSpeedMPS && c.MaxImpliedSpeedMPS <= MaxMaxImpliedSpeedMPS) {
		errs = append(errs, fmt.Sprintf("max implied speed m/s: must be between %v and %v", MinMaxImpliedSpeedMPS, MaxMaxImpliedSpeedMPS))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
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

// Checker evaluates samples per vehicle.
type Checker struct {
	cfg  Config
	mu   sync.Mutex
	byID map[string]*vehiclePlaus
}

// New returns a Checker with cfg, its zero thresholds defaulted, after
// validating it.
func New(cfg Config) (*Checker, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Checker{cfg: cfg, byID: map[string]*vehiclePlaus{}}, nil
}

// Check evaluates s for vehicle and returns the findings it raises. area may
// be nil (no operating area configured). A condition that persists raises
// its finding once, when it starts; it re-arms when the condition clears.
func (p *Checker) Check(vehicle string, s Sample, area Polygon) []string {
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
			// |dt|: a backfilled frame is older than the live one before it,
			// and the truck drove between them either way.
			dt := math.Abs(s.TS.Sub(st.last.TS).Seconds())
			d := haversine(st.last.Lat, st.last.Lon, s.Lat, s.Lon)
			// A jump: too far for the time between the fixes. Frames with no
			// time between them jump if they moved at all beyond GNSS noise.
			if (dt > 0 && d/dt > p.cfg.MaxImpliedSpeedMPS) || (dt == 0 && d > jumpNoiseMetres) {
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
