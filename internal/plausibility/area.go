package plausibility

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseArea parses an operating area (the gateway's
// plausibility.operating_area) into its vertices, each (lat, lon) in decimal
// degrees, or nil when s is empty (the outside_operating_area rule is off).
// The error is a message for the operator: it names vertices by position,
// never by value.
//
// The form is "lat,lon; lat,lon; lat,lon; ...": at least three vertices, in
// order around the area (either direction), spaces allowed, as a map shows a
// point ("32.7767, -96.7970"). The polygon is closed implicitly; a last
// vertex repeating the first (as GeoJSON writes rings) is dropped. Refused:
// a latitude outside ±90 or longitude outside ±180, more than
// MaxAreaVertices vertices, a vertex given twice, edges that cross
// (vertices out of order), an edge spanning more than 180° of longitude (the
// rule treats degrees as planar, so an area cannot cross the antimeridian),
// and vertices that enclose no area. A bounding box is the four corners.
func ParseArea(s string) (Polygon, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.Split(s, ";")
	if len(parts) > MaxAreaVertices+1 { // +1: a closing repeat
		return nil, fmt.Errorf("has more than %d vertices", MaxAreaVertices)
	}
	var area Polygon
	for i, p := range parts {
		lat, lon, ok := strings.Cut(p, ",")
		if !ok {
			return nil, fmt.Errorf(`vertex %d: must be "lat,lon" in decimal degrees; vertices are separated by ";"`, i+1)
		}
		la, err1 := strconv.ParseFloat(strings.TrimSpace(lat), 64)
		lo, err2 := strconv.ParseFloat(strings.TrimSpace(lon), 64)
		switch {
		case err1 != nil || err2 != nil || math.IsNaN(la) || math.IsNaN(lo):
			return nil, fmt.Errorf(`vertex %d: must be "lat,lon" in decimal degrees; vertices are separated by ";"`, i+1)
		case la < -90 || la > 90:
			return nil, fmt.Errorf("vertex %d: latitude must be between -90 and 90", i+1)
		case lo < -180 || lo > 180:
			return nil, fmt.Errorf("vertex %d: longitude must be between -180 and 180", i+1)
		}
		area = append(area, [2]float64{la, lo})
	}
	if n := len(area); n > 1 && area[n-1] == area[0] {
		area = area[:n-1]
	}
	n := len(area)
	switch {
	case n < 3:
		return nil, errors.New("needs at least 3 vertices (a bounding box is its 4 corners)")
	case n > MaxAreaVertices:
		return nil, fmt.Errorf("has more than %d vertices", MaxAreaVertices)
	}
	for i := range n {
		for j := range i {
			if area[i] == area[j] {
				return nil, fmt.Errorf("vertex %d repeats vertex %d", i+1, j+1)
			}
		}
		if math.Abs(area[i][1]-area[(i+1)%n][1]) > 180 {
			return nil, errors.New("must not cross the antimeridian (±180° longitude): split the fleet's area or draw it on one side")
		}
	}
	for i := range n {
		for j := i + 2; j < n; j++ {
			if i == 0 && j == n-1 {
				continue // adjacent through the closing edge
			}
			if segmentsMeet(area[i], area[(i+1)%n], area[j], area[(j+1)%n]) {
				return nil, fmt.Errorf("edges %d-%d and %d-%d cross: list the vertices in order around the area",
					i+1, (i+1)%n+1, j+1, (j+1)%n+1)
			}
		}
	}
	var twice float64 // shoelace: twice the signed area
	for i := range n {
		a, b := area[i], area[(i+1)%n]
		twice += a[1]*b[0] - b[1]*a[0]
	}
	// Compared with a square of ~100 m, not 0: vertices on one line in
	// decimal degrees leave a rounding error, not a zero.
	if math.Abs(twice) < 2*minAreaDeg2 {
		return nil, errors.New("encloses no area (the vertices lie on one line)")
	}
	return area, nil
}

// segmentsMeet reports whether segments pq and rs share a point.
func segmentsMeet(p, q, r, s [2]float64) bool {
	o1, o2 := orient(p, q, r), orient(p, q, s)
	o3, o4 := orient(r, s, p), orient(r, s, q)
	if o1 != o2 && o3 != o4 {
		return true
	}
	return o1 == 0 && within(p, q, r) || o2 == 0 && within(p, q, s) ||
		o3 == 0 && within(r, s, p) || o4 == 0 && within(r, s, q)
}

// orient is the sign of the turn p → q → r: 1, -1, or 0 when collinear.
func orient(p, q, r [2]float64) int {
	v := (q[0]-p[0])*(r[1]-p[1]) - (q[1]-p[1])*(r[0]-p[0])
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// within reports whether r, collinear with pq, lies on segment pq.
func within(p, q, r [2]float64) bool {
	return math.Min(p[0], q[0]) <= r[0] && r[0] <= math.Max(p[0], q[0]) &&
		math.Min(p[1], q[1]) <= r[1] && r[1] <= math.Max(p[1], q[1])
}
