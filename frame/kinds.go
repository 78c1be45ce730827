package frame

import (
	"encoding/base64"
	"slices"
	"strconv"
)

// State is a vehicle's driving state.
type State string

const (
	StateDriving   State = "driving"
	StateStopping  State = "stopping"
	StateSafeState State = "safe_state"
	StateParked    State = "parked"
)

func (s State) valid() bool {
	switch s {
	case StateDriving, StateStopping, StateSafeState, StateParked:
		return true
	}
	return false
}

// Fix is the GNSS fix quality.
type Fix string

const (
	FixNone Fix = "none"
	Fix2D   Fix = "2d"
	Fix3D   Fix = "3d"
	FixRTK  Fix = "rtk"
)

func (f Fix) valid() bool {
	switch f {
	case FixNone, Fix2D, Fix3D, FixRTK:
		return true
	}
	return false
}

// inRange reports lo <= x <= hi; false for NaN.
func inRange(x, lo, hi float64) bool { return x >= lo && x <= hi }

func rangeError(ptr string, lo, hi float64) error {
	return newError(CodeSchema, ptr, "value is outside "+strconv.FormatFloat(lo, 'g', -1, 64)+".."+strconv.FormatFloat(hi, 'g', -1, 64))
}

// Telemetry is the body of a telemetry frame.
type Telemetry struct {
	GNSS GNSS
	// WheelSpeedMPS is the wheel-odometry speed, 0..MaxSpeedMPS m/s.
	WheelSpeedMPS float64
	// OdometerM is the total distance, 0..MaxOdometerM m.
	OdometerM float64
	State     State
	Health    Health
	// Ext is the optional extension member: the AV stack's own data, any
	// canonical I-JSON object within MaxExtSize and MaxExtDepth. Empty
	// (nil) when absent. See Ext.
	Ext Ext
	// ETA is the optional estimate of the arrival at the next stop of the
	// load the vehicle carries; nil when absent (and then the frame's
	// bytes are exactly those of a telemetry frame before eta existed).
	ETA *ETA
}

// GNSS is a telemetry frame's satellite position. With FixNone the other
// values are the receiver's last ones and carry no position claim.
type GNSS struct {
	// Lat and Lon are WGS 84 degrees, -90..90 and -180..180.
	Lat, Lon float64
	// SpeedMPS is the ground speed, 0..MaxSpeedMPS m/s.
	SpeedMPS float64
	// HeadingDeg is the course over ground, 0 (inclusive) to 360
	// (exclusive), clockwise from true north.
	HeadingDeg float64
	Fix        Fix
	// HDOP is the horizontal dilution of precision, 0..MaxHDOP.
	HDOP float64
}

// Health is a telemetry frame's compute and power health.
type Health struct {
	// CPUTempC is the main compute temperature, MinCPUTempC..MaxCPUTempC °C.
	CPUTempC float64
	// BatteryV is the vehicle supply voltage, 0..MaxBatteryV V.
	BatteryV float64
	// Faults are the active fault codes: at most MaxFaults distinct codes of
	// 1..MaxFaultCodeLen characters of [A-Za-z0-9._-], in any order. Empty
	// (not nil) when there are none; nil encodes as [] too.
	Faults []string
}

func (*Telemetry) Kind() Kind { return KindTelemetry }

func (*Telemetry) required() []string {
	return []string{"gnss", "health", "odometer_m", "state", "wheel_speed_mps"}
}

func (t *Telemetry) StaticValidate() error {
	g := &t.GNSS
	switch {
	case !g.Fix.valid():
		return newError(CodeSchema, "/gnss/fix", "fix is not none, 2d, 3d or rtk")
	case !inRange(g.HDOP, 0, MaxHDOP):
		return rangeError("/gnss/hdop", 0, MaxHDOP)
	case !(g.HeadingDeg >= 0 && g.HeadingDeg < 360):
		return newError(CodeSchema, "/gnss/heading_deg", "value is outside 0..<360")
	case !inRange(g.Lat, -90, 90):
		return rangeError("/gnss/lat", -90, 90)
	case !inRange(g.Lon, -180, 180):
		return rangeError("/gnss/lon", -180, 180)
	case !inRange(g.SpeedMPS, 0, MaxSpeedMPS):
		return rangeError("/gnss/speed_mps", 0, MaxSpeedMPS)
	}
	h := &t.Health
	switch {
	case !inRange(h.BatteryV, 0, MaxBatteryV):
		return rangeError("/health/battery_v", 0, MaxBatteryV)
	case !inRange(h.CPUTempC, MinCPUTempC, MaxCPUTempC):
		return rangeError("/health/cpu_temp_c", MinCPUTempC, MaxCPUTempC)
	case len(h.Faults) > MaxFaults:
		return newError(CodeSchema, "/health/faults", "more than "+strconv.Itoa(MaxFaults)+" faults")
	}
	for i, c := range h.Faults {
		ptr := "/health/faults/" + strconv.Itoa(i)
		if !validID(c, MaxFaultCodeLen) {
			return newError(CodeSchema, ptr, "fault code is not 1 to "+strconv.Itoa(MaxFaultCodeLen)+" characters of [A-Za-z0-9._-]")
		}
		if slices.Contains(h.Faults[:i], c) {
			return newError(CodeSchema, ptr, "fault code is listed twice")
		}
	}
	switch {
	case !inRange(t.OdometerM, 0, MaxOdometerM):
		return rangeError("/odometer_m", 0, MaxOdometerM)
	case !t.State.valid():
		return newError(CodeSchema, "/state", "state is not driving, stopping, safe_state or parked")
	case !inRange(t.WheelSpeedMPS, 0, MaxSpeedMPS):
		return rangeError("/wheel_speed_mps", 0, MaxSpeedMPS)
	}
	if t.ETA != nil {
		if err := t.ETA.check(); err != nil {
			return err
		}
	}
	return t.Ext.check()
}

func (t *Telemetry) decodeMember(name string, r *reader) (bool, error) {
	var err error
	switch name {
	case "eta":
		t.ETA = new(ETA)
		err = t.ETA.decode(r)
	case "ext":
		t.Ext, err = decodeExt(r)
	case "gnss":
		err = t.GNSS.decode(r)
	case "health":
		err = t.Health.decode(r)
	case "odometer_m":
		t.OdometerM, err = r.float("/odometer_m")
	case "state":
		var s string
		s, err = r.str("/state")
		t.State = State(s)
	case "wheel_speed_mps":
		t.WheelSpeedMPS, err = r.float("/wheel_speed_mps")
	default:
		return false, nil
	}
	return true, err
}

func (g *GNSS) decode(r *reader) error {
	var sn seen
	err := r.object("/gnss", func(name string) error {
		sn.add(name)
		var err error
		switch name {
		case "fix":
			var s string
			s, err = r.str("/gnss/fix")
			g.Fix = Fix(s)
		case "hdop":
			g.HDOP, err = r.float("/gnss/hdop")
		case "heading_deg":
			g.HeadingDeg, err = r.float("/gnss/heading_deg")
		case "lat":
			g.Lat, err = r.float("/gnss/lat")
		case "lon":
			g.Lon, err = r.float("/gnss/lon")
		case "speed_mps":
			g.SpeedMPS, err = r.float("/gnss/speed_mps")
		default:
			err = unknown("/gnss", name)
		}
		return err
	})
	if err != nil {
		return err
	}
	return sn.missing("/gnss", "fix", "hdop", "heading_deg", "lat", "lon", "speed_mps")
}

func (h *Health) decode(r *reader) error {
	var sn seen
	err := r.object("/health", func(name string) error {
		sn.add(name)
		var err error
		switch name {
		case "battery_v":
			h.BatteryV, err = r.float("/health/battery_v")
		case "cpu_temp_c":
			h.CPUTempC, err = r.float("/health/cpu_temp_c")
		case "faults":
			h.Faults, err = r.strings("/health/faults", MaxFaults)
		default:
			err = unknown("/health", name)
		}
		return err
	})
	if err != nil {
		return err
	}
	return sn.missing("/health", "battery_v", "cpu_temp_c", "faults")
}

func (t *Telemetry) encodeMembers(w *writer) {
	g := writer{buf: make([]byte, 0, 256)}
	g.str("fix", string(t.GNSS.Fix))
	g.num("hdop", t.GNSS.HDOP)
	g.num("heading_deg", t.GNSS.HeadingDeg)
	g.num("lat", t.GNSS.Lat)
	g.num("lon", t.GNSS.Lon)
	g.num("speed_mps", t.GNSS.SpeedMPS)
	w.object("gnss", &g)
	h := writer{buf: make([]byte, 0, 64+24*len(t.Health.Faults))}
	h.num("battery_v", t.Health.BatteryV)
	h.num("cpu_temp_c", t.Health.CPUTempC)
	h.strings("faults", t.Health.Faults)
	w.object("health", &h)
	w.num("odometer_m", t.OdometerM)
	w.str("state", string(t.State))
	w.num("wheel_speed_mps", t.WheelSpeedMPS)
	if t.ETA != nil {
		t.ETA.encode(w)
	}
	if len(t.Ext) > 0 {
		w.raw("ext", t.Ext) // canonical already: StaticValidate checked it
	}
}

// Heartbeat is the body of a heartbeat frame: the vehicle is alive and in
// State.
type Heartbeat struct {
	State State
}

func (*Heartbeat) Kind() Kind         { return KindHeartbeat }
func (*Heartbeat) required() []string { return []string{"state"} }

func (h *Heartbeat) StaticValidate() error {
	if !h.State.valid() {
		return newError(CodeSchema, "/state", "state is not driving, stopping, safe_state or parked")
	}
	return nil
}

func (h *Heartbeat) decodeMember(name string, r *reader) (bool, error) {
	if name != "state" {
		return false, nil
	}
	s, err := r.str("/state")
	h.State = State(s)
	return true, err
}

func (h *Heartbeat) encodeMembers(w *writer) { w.str("state", string(h.State)) }

// Hello is the body of a vehicle's first session frame. Nonce is fresh
// randomness chosen by the vehicle (32 bytes recommended), so the signed
// hello cannot be replayed into another session; the gateway's challenge
// echoes it. State is the vehicle's state as it connects: the gateway's
// resume policy reads it.
type Hello struct {
	// Nonce is MinNonceSize..MaxNonceSize bytes, sent as unpadded base64url.
	Nonce []byte
	State State
}

func (*Hello) Kind() Kind         { return KindHello }
func (*Hello) required() []string { return []string{"nonce", "state"} }

func (h *Hello) StaticValidate() error {
	if err := checkNonce(h.Nonce); err != nil {
		return err
	}
	if !h.State.valid() {
		return newError(CodeSchema, "/state", "state is not driving, stopping, safe_state or parked")
	}
	return nil
}

func (h *Hello) decodeMember(name string, r *reader) (bool, error) {
	if name == "state" {
		s, err := r.str("/state")
		h.State = State(s)
		return true, err
	}
	return decodeNonce(name, r, &h.Nonce)
}

func (h *Hello) encodeMembers(w *writer) {
	encodeNonce(w, h.Nonce)
	w.str("state", string(h.State))
}

// ChallengeResponse is the body of the vehicle's answer to the gateway's
// challenge: Nonce is the gateway's challenge nonce, echoed and signed.
type ChallengeResponse struct {
	// Nonce is MinNonceSize..MaxNonceSize bytes, sent as unpadded base64url.
	Nonce []byte
}

func (*ChallengeResponse) Kind() Kind              { return KindChallengeResponse }
func (*ChallengeResponse) required() []string      { return []string{"nonce"} }
func (c *ChallengeResponse) StaticValidate() error { return checkNonce(c.Nonce) }
func (c *ChallengeResponse) decodeMember(n string, r *reader) (bool, error) {
	return decodeNonce(n, r, &c.Nonce)
}
func (c *ChallengeResponse) encodeMembers(w *writer) { encodeNonce(w, c.Nonce) }

func checkNonce(n []byte) error {
	if len(n) < MinNonceSize || len(n) > MaxNonceSize {
		return newError(CodeSchema, "/nonce", "nonce is not "+strconv.Itoa(MinNonceSize)+" to "+strconv.Itoa(MaxNonceSize)+" bytes")
	}
	return nil
}

func decodeNonce(name string, r *reader, dst *[]byte) (bool, error) {
	if name != "nonce" {
		return false, nil
	}
	var err error
	*dst, err = r.bytes64("/nonce")
	return true, err
}

func encodeNonce(w *writer, n []byte) {
	w.raw("nonce", appendString(nil, base64.RawURLEncoding.EncodeToString(n)))
}

// Ack is the body of the gateway's acknowledgement of a vehicle frame (the
// heartbeat ack). The Ack frame's own epoch and seq are the gateway's
// sequence towards VehicleID; AckEpoch and AckSeq name the acknowledged
// frame.
type Ack struct {
	AckEpoch uint64
	AckSeq   uint64
}

func (*Ack) Kind() Kind         { return KindAck }
func (*Ack) required() []string { return []string{"ack_epoch", "ack_seq"} }

func (a *Ack) StaticValidate() error {
	if a.AckEpoch > MaxSafeInteger {
		return newError(CodeNumberOutOfRange, "/ack_epoch", "integer is above 2^53-1")
	}
	if a.AckSeq > MaxSafeInteger {
		return newError(CodeNumberOutOfRange, "/ack_seq", "integer is above 2^53-1")
	}
	return nil
}

func (a *Ack) decodeMember(name string, r *reader) (bool, error) {
	var err error
	switch name {
	case "ack_epoch":
		a.AckEpoch, err = r.uint53("/ack_epoch")
	case "ack_seq":
		a.AckSeq, err = r.uint53("/ack_seq")
	default:
		return false, nil
	}
	return true, err
}

func (a *Ack) encodeMembers(w *writer) {
	w.uint("ack_epoch", a.AckEpoch)
	w.uint("ack_seq", a.AckSeq)
}
