package sim

import (
	"math"
	"math/rand/v2"
	"time"
)

// Kinematics of a simulated truck: position along a route, speed and
// acceleration, with a jerk limit so stops look like a real heavy vehicle's
// (docs/ARCHITECTURE.md, Defaults: −2.5 m/s² from 25 m/s stops in about 11 s).

// Limits of the truck model.
const (
	// StopDecel is the minimal-risk-maneuver deceleration (Autoware's
	// emergency stop uses −2.5 m/s²).
	StopDecel = 2.5
	// CruiseAccel is how hard the truck speeds up to its cruise speed.
	CruiseAccel = 0.8
	// JerkLimit bounds the change of acceleration, m/s³, for comfort and load
	// security; it is what makes a stop from 25 m/s take ~11 s, not 10.
	JerkLimit = 2.5
)

// Point is a WGS 84 position in degrees.
type Point struct{ Lat, Lon float64 }

// Route is a polyline the truck follows.
type Route []Point

// Truck is the state of one simulated truck.
type Truck struct {
	Route     Route
	Cruise    float64 // target speed, m/s
	S         float64 // distance along the route, m
	V         float64 // speed, m/s
	A         float64 // acceleration, m/s²
	Odometer  float64 // m
	Heading   float64 // degrees
	Stopping  bool    // a minimal-risk maneuver is in progress
	StoppedAt time.Time
}

// Step advances the truck by dt.
func (t *Truck) Step(dt time.Duration, now time.Time) {
	h := dt.Seconds()
	var want float64
	switch {
	case t.Stopping && t.V > 0:
		want = -StopDecel
	case t.Stopping:
		want = 0
	case t.V < t.Cruise-0.05:
		want = CruiseAccel
	case t.V > t.Cruise+0.05:
		want = -CruiseAccel
	}
	// Jerk-limited approach of the wanted acceleration.
	maxDA := JerkLimit * h
	t.A += math.Max(-maxDA, math.Min(maxDA, want-t.A))
	t.V += t.A * h
	if t.V <= 0 {
		if t.Stopping && t.StoppedAt.IsZero() {
			t.StoppedAt = now
		}
		t.V, t.A = 0, 0
	}
	if !t.Stopping && math.Abs(t.V-t.Cruise) < 0.05 {
		t.V, t.A = t.Cruise, 0
	}
	d := t.V * h
	t.S += d
	t.Odometer += d
	if total := t.Route.Length(); total > 0 && t.S > total {
		t.S = math.Mod(t.S, total) // loop the route
	}
}

// Stop starts a minimal-risk maneuver: decelerate to a standstill.
func (t *Truck) Stop() { t.Stopping = true }

// Resume ends the maneuver; the truck accelerates back to cruise speed.
func (t *Truck) Resume() { t.Stopping, t.StoppedAt = false, time.Time{} }

// Stopped reports whether the truck stands still.
func (t *Truck) Stopped() bool { return t.V == 0 }

// Position returns where the truck is on its route and its heading.
func (t *Truck) Position() (Point, float64) {
	return t.Route.At(t.S)
}

// Length returns the route length in metres.
func (r Route) Length() float64 {
	var l float64
	for i := 1; i < len(r); i++ {
		l += distance(r[i-1], r[i])
	}
	return l
}

// At returns the point at distance s along the route and the heading there.
func (r Route) At(s float64) (Point, float64) {
	if len(r) == 0 {
		return Point{}, 0
	}
	for i := 1; i < len(r); i++ {
		seg := distance(r[i-1], r[i])
		if s <= seg || i == len(r)-1 {
			f := 0.0
			if seg > 0 {
				f = math.Min(1, s/seg)
			}
			p := Point{r[i-1].Lat + f*(r[i].Lat-r[i-1].Lat), r[i-1].Lon + f*(r[i].Lon-r[i-1].Lon)}
			return p, bearing(r[i-1], r[i])
		}
		s -= seg
	}
	return r[len(r)-1], 0
}

func distance(a, b Point) float64 {
	const R = 6371000.0
	rad := math.Pi / 180
	dLat, dLon := (b.Lat-a.Lat)*rad, (b.Lon-a.Lon)*rad
	x := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * R * math.Asin(math.Min(1, math.Sqrt(x)))
}

func bearing(a, b Point) float64 {
	rad := math.Pi / 180
	y := math.Sin((b.Lon-a.Lon)*rad) * math.Cos(b.Lat*rad)
	x := math.Cos(a.Lat*rad)*math.Sin(b.Lat*rad) - math.Sin(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Cos((b.Lon-a.Lon)*rad)
	deg := math.Atan2(y, x) / rad
	if deg < 0 {
		deg += 360
	}
	if deg >= 360 {
		deg -= 360
	}
	return deg
}

// Sensors reads the truck's sensors with noise and injected faults.
type Sensors struct {
	Rand *rand.Rand
	// Noise: GNSS position σ in metres, speed σ in m/s; wheel speed relative σ.
	GNSSPosSigma, GNSSSpeedSigma, WheelRelSigma float64
	// Faults.
	GNSSOffset     Point   // added to the reported position (a spoof or jump)
	WheelFactor    float64 // multiplies wheel speed; 1 when healthy
	GNSSFixLost    bool
	ClockSkew      time.Duration // added to the frame timestamps
	ReportedStatic bool          // report zero speed (stuck sensor)
}

// Reading is one sample of the sensors.
type Reading struct {
	Pos        Point
	Heading    float64
	GNSSSpeed  float64
	WheelSpeed float64
	Fix        string
	HDOP       float64
}

// Read samples the sensors of t.
func (s *Sensors) Read(t *Truck) Reading {
	p, hdg := t.Position()
	n := func(sigma float64) float64 {
		if s.Rand == nil || sigma == 0 {
			return 0
		}
		return s.Rand.NormFloat64() * sigma
	}
	const mPerDegLat = 111_320.0
	p.Lat += n(s.GNSSPosSigma)/mPerDegLat + s.GNSSOffset.Lat
	p.Lon += n(s.GNSSPosSigma)/(mPerDegLat*math.Cos(p.Lat*math.Pi/180)) + s.GNSSOffset.Lon
	wf := s.WheelFactor
	if wf == 0 {
		wf = 1
	}
	r := Reading{Pos: p, Heading: hdg, GNSSSpeed: math.Max(0, t.V+n(s.GNSSSpeedSigma)),
		WheelSpeed: math.Max(0, t.V*wf*(1+n(s.WheelRelSigma))), Fix: "3d", HDOP: 0.9}
	if t.V == 0 {
		r.GNSSSpeed, r.WheelSpeed = 0, 0
	}
	if s.GNSSFixLost {
		r.Fix, r.HDOP = "none", 99
	}
	return r
}
