package frame

import "time"

// Every bound this package enforces, in one place. They are wire constants:
// docs/PROTOCOL.md states each one, and changing one changes the protocol,
// so a change needs a PROTOCOL.md change and new golden vectors.

// Sizes and shapes.
const (
	// MaxFrameSize bounds the frame member's bytes (the signature input).
	// 16 KiB is the protocol's default (docs/ARCHITECTURE.md, Defaults): a
	// full telemetry frame without ext is about 0.5 KiB, so this leaves 30x
	// headroom (and room for ext) while bounding the work an unauthenticated
	// sender can cause before the signature is checked.
	MaxFrameSize = 16 << 10

	// MaxEnvelopeSize bounds a whole envelope: a maximal frame plus 1 KiB for
	// alg, kid, sig and whitespace (they need under 300 bytes).
	MaxEnvelopeSize = MaxFrameSize + 1<<10

	// MaxFrameDepth bounds the nesting of objects and arrays in a frame,
	// counting the frame object itself as 1. The schema's own members need
	// 4 (a command: frame, payload, waypoints, a waypoint); the deepest
	// legitimate frame is a
	// telemetry frame whose ext nests MaxExtDepth levels, one below the
	// frame. The bound stops nesting bombs before any schema code runs.
	MaxFrameDepth = 1 + MaxExtDepth

	// MaxEnvelopeDepth is MaxFrameDepth plus the envelope object.
	MaxEnvelopeDepth = MaxFrameDepth + 1

	// MaxSafeInteger is the largest integer member value, 2^53-1: the
	// largest n such that n and n+1 are both exact IEEE 754 doubles, so
	// every JSON implementation (RFC 7493 I-JSON §2.2) reads it the same.
	MaxSafeInteger = 1<<53 - 1

	// MaxKIDLen bounds kid. Key ids are short labels or base64url
	// thumbprints (43 bytes for SHA-256); 64 fits both and keeps them
	// cheap to index and log.
	MaxKIDLen = 64

	// MaxVehicleIDLen bounds vehicle_id. It must be no shorter than the
	// longest vehicle id the fleet CA issues in its URI SAN.
	MaxVehicleIDLen = 64
)

// Telemetry value ranges. They reject values no truck can produce (and NaN),
// not implausible ones: plausibility (speed jumps, wheel vs GNSS) is judged
// by ingest over several frames, so the schema must not pre-empt it.
const (
	// MaxSpeedMPS bounds speed_mps and wheel_speed_mps: 100 m/s (360 km/h)
	// is far above any truck (about 40 m/s) and above ingest's 60 m/s
	// implied-speed rule, so that rule, not the schema, flags spoofing.
	MaxSpeedMPS = 100.0

	// MaxOdometerM bounds odometer_m: 10^10 m (10 million km) exceeds any
	// vehicle's life, and stays an exact double to well below a millimetre.
	MaxOdometerM = 1e10

	// MaxHDOP bounds hdop. Receivers report 99.9 or less; 100 allows that.
	MaxHDOP = 100.0

	// MinCPUTempC and MaxCPUTempC bound cpu_temp_c: automotive-grade parts
	// are rated -40..125 °C; the margin keeps a failing sensor's extreme
	// readings reportable, which is what health is for.
	MinCPUTempC = -60.0
	MaxCPUTempC = 150.0

	// MaxBatteryV bounds battery_v (minimum 0): trucks run 24 V (up to 32 V
	// charging) or 48 V systems; 100 V keeps faulty readings reportable.
	MaxBatteryV = 100.0

	// MaxFaults bounds the faults array. More than 32 active faults is
	// a vehicle that should already be in safe_state; the bound keeps a
	// frame's size predictable.
	MaxFaults = 32

	// MaxFaultCodeLen bounds one fault code (OBD-II DTCs are 5 bytes,
	// descriptive codes like "lidar_front_degraded" about 20).
	MaxFaultCodeLen = 32
)

// The telemetry extension member, ext: the AV stack's own data, any I-JSON
// object in canonical form. The gateway stores and returns it verbatim and
// never interprets it, so these bounds are all it checks beyond strict
// decoding.
const (
	// MaxExtSize bounds ext's canonical bytes, from its { to its }. The
	// rest of a telemetry frame needs under 2 KiB even at every bound (32
	// faults of 32 bytes, a 64-byte vehicle_id, 17-digit numbers), so a
	// maximal ext beside a maximal schema still fits in MaxFrameSize (a
	// test proves it), and 12 KiB is 20 times a typical frame: room for
	// diagnostics, trailer and cargo sensors, not for bulk data.
	MaxExtSize = 12 << 10

	// MaxExtDepth bounds ext's nesting, counting the ext object itself as
	// 1. Five levels hold a subsystem, a list of components, a component
	// and a list of its readings (ext.trailer.axles[i].tires[j]); deeper
	// data is flattened by the sender. With the frame object it makes
	// MaxFrameDepth 6, the frame-wide bound published since version 1:
	// adding ext did not change it.
	MaxExtDepth = 5
)

// Session and command members.
const (
	// MinNonceSize and MaxNonceSize bound a decoded nonce: at least 128 bits
	// so a challenge never repeats by chance, at most 512 bits.
	MinNonceSize = 16
	MaxNonceSize = 64

	// MaxCommandIDLen bounds command_id (command and command_ack) and the
	// payload's tender_id and cancels, like the other identifiers.
	MaxCommandIDLen = 64

	// MaxDetailLen bounds a command_ack's optional detail: a sentence for
	// people (why a route is infeasible), not a report.
	MaxDetailLen = 256
)

// Commands (kind command): the payload's arrays of objects. They bound
// the work and memory of decoding before any handler sees a command; the
// frame as a whole stays within MaxFrameSize (MarshalCanonical refuses a
// command that is not, with too_large), and the frame-wide MaxFrameDepth
// holds: frame, payload, an array, its objects nest 4 deep.
const (
	// MaxStops bounds a command's stops. An EDI 204 load has a pickup, a
	// delivery and a few intermediate stops; 16 leaves room for
	// multi-stop routes.
	MaxStops = 16

	// MaxWaypoints bounds a command's waypoints: the planned route's
	// decision points and handoff hubs, not a polyline (the AV stack plans
	// its own path between them). 64 waypoints of short names take about
	// 6 KiB, so a command at both array bounds still fits a frame.
	MaxWaypoints = 64

	// MaxNameLen bounds a facility or waypoint name in bytes of UTF-8.
	MaxNameLen = 64

	// MaxTZLen bounds an IANA time zone name; the longest in the tz
	// database today is 32 bytes (America/Argentina/ComodRivadavia).
	MaxTZLen = 48

	// MaxCommandLifetime bounds expires_at - issued_at. A tender may wait
	// for an offline truck, but a command older than a week describes a
	// world that has moved on; the bound also keeps the vehicle's
	// executed-command log from having to remember commands forever.
	MaxCommandLifetime = 7 * 24 * time.Hour

	// MaxReasonLen bounds the reason code in a nack, a command_ack and a
	// command's payload. Reason codes are short
	// snake_case words (the longest today is 20 bytes); 64 matches the
	// other identifiers.
	MaxReasonLen = 64
)

// Keys.
const (
	// MinHS256SecretSize is the shortest HS256 secret: 32 bytes, the
	// SHA-256 output size (RFC 7518 §3.2 requires a key at least that long).
	MinHS256SecretSize = 32

	// MaxHS256SecretSize is the longest HS256 secret: 64 bytes, the SHA-256
	// block size; longer keys are hashed by HMAC and gain nothing.
	MaxHS256SecretSize = 64
)
