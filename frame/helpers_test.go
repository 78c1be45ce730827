package frame

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// repoRoot finds the module root by walking up from the test's directory to
// the go.mod of github.com/fifthwheel/fifthwheel.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/fifthwheel/fifthwheel\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("cannot find the fifthwheel module root (go.mod) above the test directory")
		}
		dir = parent
	}
}

// vectors returns the path of a file or folder in the outside test vectors,
// ../shared/testvectors relative to the repository root. A missing folder
// fails the test: these vectors are required, never skipped.
func vectors(t testing.TB, rel string) string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "..", "shared", "testvectors")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("outside test vectors not found at %s (expected ../shared/testvectors beside the repository; see shared/testvectors/README.md): %v", dir, err)
	}
	p := filepath.Join(dir, rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test vector %s missing: %v", rel, err)
	}
	return p
}

func goldenDir(t testing.TB) string {
	return filepath.Join(repoRoot(t), "testdata", "frames")
}

// TEST-ONLY keys, derived from fixed labels so golden vectors are
// reproducible by any implementation. Never use them outside tests.
func testSeed(label string) []byte {
	h := sha256.Sum256([]byte("fifthwheel/frame TEST-ONLY " + label))
	return h[:]
}

const (
	testKIDEd25519 = "test-ed25519-1"
	testKIDES256   = "test-es256-1"
	testKIDHS256   = "test-hs256-1"
)

func testEd25519Priv() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(testSeed("Ed25519 key 1")) }

func testES256Priv(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), testSeed("ES256 key 1"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testHS256Secret() []byte { return testSeed("HS256 key 1") }

type testKeys struct {
	ed      *Ed25519Signer
	es      *ES256Signer
	hs      *HS256Key
	byKID   map[string]Verifier
	signers map[Alg]Signer
	kids    map[Alg]string

	lastRawFrame []byte // the frame bytes rawEnv last signed
}

func newTestKeys(t testing.TB) *testKeys {
	t.Helper()
	ed, err := NewEd25519Signer(testEd25519Priv())
	if err != nil {
		t.Fatal(err)
	}
	es, err := NewES256Signer(testES256Priv(t))
	if err != nil {
		t.Fatal(err)
	}
	hs, err := NewHS256Key(testHS256Secret())
	if err != nil {
		t.Fatal(err)
	}
	return &testKeys{
		ed: ed, es: es, hs: hs,
		byKID:   map[string]Verifier{testKIDEd25519: ed.Public(), testKIDES256: es.Public(), testKIDHS256: hs},
		signers: map[Alg]Signer{AlgEd25519: ed, AlgES256: es, AlgHS256: hs},
		kids:    map[Alg]string{AlgEd25519: testKIDEd25519, AlgES256: testKIDES256, AlgHS256: testKIDHS256},
	}
}

// open runs the whole receiving pipeline this package offers: parse, look
// the key up by kid, verify, decode.
func (k *testKeys) open(b []byte) (*Frame, error) {
	env, err := ParseEnvelope(b)
	if err != nil {
		return nil, err
	}
	v, ok := k.byKID[env.KID]
	if !ok {
		return nil, &Error{Code: CodeUnknownKID}
	}
	if err := env.Verify(v); err != nil {
		return nil, err
	}
	return env.DecodeFrame()
}

var testTS = time.Date(2026, 11, 24, 21, 0, 0, 123e6, time.UTC)

func sampleTelemetry() *Frame {
	return &Frame{
		VehicleID: "truck-0042",
		Epoch:     3,
		Seq:       1842,
		TS:        testTS,
		Body: &Telemetry{
			GNSS: GNSS{
				Lat: 41.878113, Lon: -87.629799, SpeedMPS: 24.6,
				HeadingDeg: 271.5, Fix: FixRTK, HDOP: 0.8,
			},
			WheelSpeedMPS: 24.7,
			OdometerM:     1523467.25,
			State:         StateDriving,
			Health: Health{
				CPUTempC: 61.5,
				BatteryV: 27.6,
				Faults:   []string{},
			},
		},
	}
}

// benchTelemetry is a telemetry frame of about 580 bytes (the size
// docs/PERFORMANCE.md's per-frame cost figures assume): a sample with active faults.
func benchTelemetry() *Frame {
	f := sampleTelemetry()
	f.Body.(*Telemetry).Health.Faults = []string{
		"P0300", "P0171", "lidar_front_degraded", "radar_left_blocked",
		"camera_rear_soiled", "gnss_multipath", "tire_pressure_low_axle3",
		"brake_wear_axle2", "coolant_temp_high", "def_level_low", "u0100",
		"imu_bias_drift", "v2x_cert_expiring", "axle_load_sensor_fault",
	}
	return f
}

// sampleExtInput is an AV stack's ext as it might serialize it: whitespace,
// members unsorted, escapes where none are needed, numbers in other forms.
// Names and strings hold escapes, non-ASCII (Latin, CJK, an astral emoji),
// markup, U+2028, DEL and a noncharacter; the names include two whose
// UTF-16 and UTF-8 orders differ (U+FF61 and U+1F600). It nests exactly
// MaxExtDepth deep (ext, trailer, axles, an axle, tires_psi).
const sampleExtInput = `{
  "trailer": {"axles": [{"tires_psi": [110, 111.50]}, {"tires_psi": [109, null]}], "reefer_c": -18.5, "door_open": false},
  "autonomy": {"mode": "L4", "stack": "av-\u0073tack 2.3.1"},
  "note": "quote \" backslash \\ slash \/ tab \t nl \n ctrl \u001F del \u007f <b>&amp;</b> ls \u2028 nbsp \u00a0",
  "nonchar": "\uFFFF",
  "text": "Gr\u00fc\u00dfe aus K\u00f6ln \u2014 \u65e5\u672c\u8a9e \u2014 \ud83d\ude00",
  "\uff61": 1E2,
  "\ud83d\ude00": 1e21,
  "\u00e9": 0.0000001,
  "": true
}`

// sampleExtCanonical is sampleExtInput's RFC 8785 form, written out by
// hand from the RFC's rules: names in UTF-16 code unit order ("" first,
// U+1F600 (D83D DE00) before U+FF61), only " \ and controls escaped
// (\u001f in lower case), everything else literal UTF-8, numbers in
// ECMAScript form (111.5, 1e-7, 1e+21, 100).
const sampleExtCanonical = `{"":true,"autonomy":{"mode":"L4","stack":"av-stack 2.3.1"},"nonchar":"` + "\uffff" + `",` +
	`"note":"quote \" backslash \\ slash / tab \t nl \n ctrl \u001f del ` + "\x7f" + ` <b>&amp;</b> ls ` + "\u2028" + ` nbsp ` + "\u00a0" + `",` +
	`"text":"Grüße aus Köln — 日本語 — 😀",` +
	`"trailer":{"axles":[{"tires_psi":[110,111.5]},{"tires_psi":[109,null]}],"door_open":false,"reefer_c":-18.5},` +
	`"é":1e-7,"😀":1e+21,"｡":100}`

// sampleTelemetryExt is the sample telemetry frame with sampleExtCanonical
// as its ext.
func sampleTelemetryExt() *Frame {
	f := sampleTelemetry()
	f.Body.(*Telemetry).Ext = Ext(sampleExtCanonical)
	return f
}

// sampleTelemetryETA is the sample telemetry frame with an eta.
func sampleTelemetryETA() *Frame {
	f := sampleTelemetry()
	f.Body.(*Telemetry).ETA = &ETA{TenderID: "T-204-88172", StopSeq: 2, At: time.Date(2026, 11, 25, 2, 10, 0, 0, time.UTC)}
	return f
}

func sampleBodies() map[string]*Frame {
	mk := func(b Body) *Frame {
		f := sampleTelemetry()
		f.Body = b
		return f
	}
	nonce := make([]byte, 32)
	for i := range nonce {
		nonce[i] = byte(i * 7)
	}
	return map[string]*Frame{
		"telemetry":          sampleTelemetry(),
		"telemetry_ext":      sampleTelemetryExt(),
		"heartbeat":          mk(&Heartbeat{State: StateDriving}),
		"hello":              mk(&Hello{Nonce: nonce, State: StateSafeState}),
		"challenge_response": mk(&ChallengeResponse{Nonce: nonce[:16]}),
		"ack":                mk(&Ack{AckEpoch: 3, AckSeq: 1841}),
		"challenge":          mk(&Challenge{Nonce: nonce[:16], PeerNonce: nonce}),
		"ready":              mk(&Ready{Nonce: nonce[:16]}),
		"resume":             mk(&Resume{Nonce: nonce[:16]}),
		"nack":               mk(&Nack{AckEpoch: 3, AckSeq: 1841, Reason: "clock_skew"}),
		"command_ack":        mk(&CommandAck{CommandID: "cmd-7f3a", CmdSeq: 41, Verdict: VerdictAccepted}),
		"command_ack_rejected": mk(&CommandAck{
			CommandID: "cmd-7f3b", CmdSeq: 42, Verdict: VerdictRejected, Reason: "command_infeasible",
			Detail: "Höhe 4,2 m: the bridge on I-55 exit 290 is too low",
		}),
		"stop_event": mk(&StopEvent{TenderID: "T-204-88172", StopSeq: 1, Status: StopArrived,
			At: time.Date(2026, 11, 24, 20, 58, 12, 250e6, time.UTC), Lat: 41.525031, Lon: -88.081725}),
		"stop_event_delivered": mk(&StopEvent{TenderID: "T-204-88172", StopSeq: 2, Status: StopDelivered,
			At: time.Date(2026, 11, 24, 20, 59, 0, 0, time.UTC), Lat: 35.149534, Lon: -90.04898}),
		"telemetry_eta":        sampleTelemetryETA(),
		"command_tender":       mk(sampleCommand(CommandTender)),
		"command_dispatch":     mk(sampleCommand(CommandDispatch)),
		"command_route_update": mk(sampleCommand(CommandRouteUpdate)),
		"command_cancel":       mk(sampleCommand(CommandCancel)),
	}
}

// sampleCommand is a command of type typ with the payload members that
// type defines, as the gateway would sign it.
func sampleCommand(typ CommandType) *Command {
	issued := time.Date(2026, 11, 24, 20, 59, 59, 500e6, time.UTC)
	c := &Command{CommandID: "cmd-7f3a", CommandType: typ, CmdSeq: 41, Risk: RiskLow,
		Nonce:    []byte{0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87, 0x98, 0xa9, 0xba, 0xcb, 0xdc, 0xed, 0xfe, 0x0f},
		IssuedAt: issued, ExpiresAt: issued.Add(15 * time.Minute)}
	stops := []Stop{
		{Seq: 1, Type: StopPickup, Facility: "Joliet DC 4 — Dock 12", Lat: 41.525031, Lon: -88.081725, TZ: "America/Chicago",
			WindowStart: time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC), WindowEnd: time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)},
		{Seq: 2, Type: StopDelivery, Facility: "Memphis Crossdock", Lat: 35.149534, Lon: -90.04898, TZ: "America/Chicago",
			WindowStart: time.Date(2026, 11, 26, 1, 30, 0, 0, time.UTC), WindowEnd: time.Date(2026, 11, 26, 3, 30, 0, 0, time.UTC)},
	}
	waypoints := []Waypoint{
		{Seq: 1, Lat: 41.525031, Lon: -88.081725, Name: "Joliet DC 4"},
		{Seq: 2, Lat: 39.801055, Lon: -89.643604, Name: "Springfield hub", Handoff: true},
		{Seq: 3, Lat: 35.149534, Lon: -90.04898},
	}
	switch typ {
	case CommandTender:
		c.Payload = CommandPayload{TenderID: "T-204-88172", Stops: stops}
	case CommandDispatch:
		c.Risk = RiskHigh
		c.Payload = CommandPayload{TenderID: "T-204-88172", Stops: stops, Waypoints: waypoints}
	case CommandRouteUpdate:
		c.Payload = CommandPayload{TenderID: "T-204-88172", Revision: 2, Reason: "road_closure", Stops: stops, Waypoints: waypoints[1:]}
	case CommandCancel:
		c.Payload = CommandPayload{Cancels: "cmd-7f39", Reason: "load_cancelled"}
	}
	return c
}
