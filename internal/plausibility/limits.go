package plausibility

// Defaults and bounds of the rules, in one place (docs/ARCHITECTURE.md,
// Defaults). Each default is a Config field too; the gateway's
// plausibility.* settings refer to these (internal/config).
const (
	// DefaultSpeedDisagreeRatio, DefaultSpeedDisagreeMinMPS and
	// DefaultSpeedDisagreeFrames: wheel and GNSS speed differing by more
	// than 20 % above 5 m/s for 3 consecutive frames. Healthy sensors
	// differ by a few percent (tire wear, load); below 5 m/s GNSS speed is
	// noisy; three frames ride out one bad fix.
	DefaultSpeedDisagreeRatio  = 0.20
	DefaultSpeedDisagreeMinMPS = 5.0
	DefaultSpeedDisagreeFrames = 3
	// DefaultMaxImpliedSpeedMPS: 60 m/s (216 km/h) is faster than any truck
	// plus GNSS error between fixes.
	DefaultMaxImpliedSpeedMPS = 60.0

	// MinSpeedDisagreeRatio: healthy wheel-speed sensors read a few percent
	// off GNSS (tire wear, pressure, load); below 5 % every truck
	// disagrees. MaxSpeedDisagreeRatio: two non-negative speeds never
	// differ by more than the larger, so towards 1 the rule can never fire.
	MinSpeedDisagreeRatio = 0.05
	MaxSpeedDisagreeRatio = 0.9
	// MinSpeedDisagreeMinMPS: below walking pace GNSS speed is noise.
	// MaxSpeedDisagreeMinMPS: 30 m/s (108 km/h) is above what a loaded
	// truck drives; a higher floor would turn the rule off.
	MinSpeedDisagreeMinMPS = 1.0
	MaxSpeedDisagreeMinMPS = 30.0
	// MaxSpeedDisagreeFrames: 100 frames is 10 s at 10 Hz; a longer run of
	// disagreement lets a spoofed position go unremarked for too long. At
	// least 1.
	MaxSpeedDisagreeFrames = 100
	// MinMaxImpliedSpeedMPS: 40 m/s (144 km/h) is a truck at speed plus
	// GNSS error between close fixes; lower raises findings on honest
	// driving. MaxMaxImpliedSpeedMPS: beyond the speed of sound only jumps
	// of continental size would be caught.
	MinMaxImpliedSpeedMPS = 40.0
	MaxMaxImpliedSpeedMPS = 340.0

	// MaxAreaVertices bounds an operating area: the rule walks every edge
	// for each telemetry fix, so the bound caps its cost per frame; an area
	// drawn by hand needs tens of vertices.
	MaxAreaVertices = 256
	// minAreaDeg2 is the smallest operating area accepted, in square
	// degrees (1e-6: about 100 m × 100 m at the equator, less elsewhere):
	// anything smaller is a mistake, and ruling it out keeps rounding from
	// passing three points on one line as an area.
	minAreaDeg2 = 1e-6

	// jumpNoiseMetres: two fixes with no time between them jump if they
	// are further apart than GNSS noise.
	jumpNoiseMetres = 50
)
