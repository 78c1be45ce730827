package frame

import (
	"bytes"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestNewExtCanonicalizes: NewExt turns an AV stack's serialization into
// the RFC 8785 form written out by hand in sampleExtCanonical (escapes,
// non-ASCII names in UTF-16 order, ECMAScript numbers), and is idempotent.
func TestNewExtCanonicalizes(t *testing.T) {
	e, err := NewExt([]byte(sampleExtInput))
	if err != nil {
		t.Fatal(err)
	}
	if string(e) != sampleExtCanonical {
		t.Fatalf("NewExt:\n got %s\nwant %s", e, sampleExtCanonical)
	}
	again, err := NewExt(e)
	if err != nil || !bytes.Equal(again, e) {
		t.Fatalf("NewExt of a canonical ext: %s, %v", again, err)
	}
	if err := e.check(); err != nil {
		t.Fatalf("check: %v", err)
	}
}

func TestMarshalExt(t *testing.T) {
	type tire struct {
		PSI float64 `json:"psi"`
	}
	e, err := MarshalExt(map[string]any{
		"mode":  "L4 <&> é",
		"tires": []tire{{110.5}, {109}},
		"ok":    true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"mode":"L4 <&> é","ok":true,"tires":[{"psi":110.5},{"psi":109}]}`; string(e) != want {
		t.Fatalf("MarshalExt:\n got %s\nwant %s", e, want)
	}
	for name, v := range map[string]any{
		"NaN":               map[string]float64{"a": math.NaN()},
		"invalid UTF-8":     map[string]string{"a": "\xff"},
		"not an object":     []int{1},
		"unmarshalable":     map[string]any{"f": func() {}},
		"over MaxExtDepth":  map[string]any{"a": []any{[]any{[]any{[]any{map[string]int{}}}}}},
		"over MaxExtSize":   map[string]string{"a": strings.Repeat("x", MaxExtSize)},
		"over MaxFrameSize": map[string]string{"a": strings.Repeat("x", MaxFrameSize)},
	} {
		if e, err := MarshalExt(v); err == nil {
			t.Errorf("%s: accepted as %s", name, e)
		} else if CodeOf(err) == "" {
			t.Errorf("%s: untyped error %v", name, err)
		}
	}
}

// maximalTelemetry is a telemetry frame at every bound of the schema: the
// longest vehicle_id, the most and longest fault codes, the longest
// number forms, the largest integers.
func maximalTelemetry() *Frame {
	faults := make([]string, MaxFaults)
	for i := range faults {
		faults[i] = strings.Repeat("F", MaxFaultCodeLen-3) + strconv.Itoa(100+i)
	}
	const neg, pos = -1.2345678901234567e-100, 1.2345678901234567e-100 // 24 and 23 bytes
	return &Frame{
		VehicleID: strings.Repeat("v", MaxVehicleIDLen),
		Epoch:     MaxSafeInteger,
		Seq:       MaxSafeInteger,
		TS:        testTS,
		Body: &Telemetry{
			GNSS:          GNSS{Lat: neg, Lon: neg, SpeedMPS: pos, HeadingDeg: pos, Fix: FixNone, HDOP: pos},
			WheelSpeedMPS: pos,
			OdometerM:     pos,
			State:         StateSafeState,
			Health:        Health{CPUTempC: neg, BatteryV: pos, Faults: faults},
		},
	}
}

// TestExtFitsInFrame: a maximal ext (MaxExtSize bytes, MaxExtDepth deep)
// beside a telemetry frame at every other bound is within MaxFrameSize, so
// the ext bounds, not the frame's, are what a sender meets; it signs,
// verifies and decodes to the same values.
func TestExtFitsInFrame(t *testing.T) {
	k := newTestKeys(t)
	f := maximalTelemetry()
	bare, err := f.MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	f.Body.(*Telemetry).Ext = maximalExt(t)
	fb, err := f.MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("maximal telemetry: %d bytes without ext, %d with a %d-byte ext (limit %d)", len(bare), len(fb), MaxExtSize, MaxFrameSize)
	if len(fb) > MaxFrameSize {
		t.Fatalf("a maximal telemetry frame with a maximal ext is %d bytes, over MaxFrameSize %d", len(fb), MaxFrameSize)
	}
	got, err := k.open(k.signedEnv(t, f))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, f) {
		t.Fatal("decoded frame differs")
	}
}

// maximalExt is an ext of exactly MaxExtSize bytes nesting exactly
// MaxExtDepth deep.
func maximalExt(t testing.TB) Ext {
	t.Helper()
	deep := `{"d":[[[[1]]]],"pad":""}`
	pad := strings.Repeat("p", MaxExtSize-len(deep))
	e := Ext(strings.Replace(deep, `""`, `"`+pad+`"`, 1))
	if len(e) != MaxExtSize {
		t.Fatalf("maximal ext is %d bytes", len(e))
	}
	if err := e.check(); err != nil {
		t.Fatalf("maximal ext refused: %v", err)
	}
	return e
}

// extFrame returns the sample telemetry frame with ext as given, unchecked.
func extFrame(ext string) *Frame {
	f := sampleTelemetry()
	f.Body.(*Telemetry).Ext = Ext(ext)
	return f
}

// refusedBothWays checks that a frame with ext is refused with code at
// /ext by the sender (MarshalCanonical, so Sign) and, signed anyway as
// raw bytes, by the receiver (the envelope pipeline and DecodeFrame).
func refusedBothWays(t *testing.T, k *testKeys, ext string, code Code) {
	t.Helper()
	f := extFrame(ext)
	if _, err := f.MarshalCanonical(); CodeOf(err) != code || err.(*Error).Pointer != "/ext" {
		t.Errorf("sender: MarshalCanonical = %v, want %s at /ext", err, code)
	}
	if _, err := Sign(k.ed, testKIDEd25519, f); CodeOf(err) != code {
		t.Errorf("sender: Sign = %v, want %s", err, code)
	}
	raw := f.appendCanonical(nil) // what a sender without the check would sign
	if _, err := k.open(k.rawEnv(t, raw)); CodeOf(err) != code {
		t.Errorf("receiver: %v, want %s", err, code)
	}
	if _, err := DecodeFrame(raw); CodeOf(err) != code {
		t.Errorf("receiver: DecodeFrame = %v, want %s", err, code)
	}
}

// TestAttackExtNestingBomb: deep nesting inside ext, one level over
// MaxExtDepth or thousands, is refused (too_deep) by sender and receiver,
// and by NewExt before any canonicalization.
func TestAttackExtNestingBomb(t *testing.T) {
	k := newTestKeys(t)
	refusedBothWays(t, k, `{"a":[[[[{}]]]]}`, CodeTooDeep)
	bomb := `{"a":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`
	if _, err := NewExt([]byte(bomb)); CodeOf(err) != CodeTooDeep {
		t.Errorf("NewExt(bomb) = %v, want too_deep", err)
	}
	if _, err := DecodeFrame(f2b(t, extFrame(bomb))); CodeOf(err) != CodeTooDeep {
		t.Errorf("DecodeFrame(bomb) = %v, want too_deep", err)
	}
}

// f2b encodes f without checks.
func f2b(t testing.TB, f *Frame) []byte { t.Helper(); return f.appendCanonical(nil) }

// TestAttackExtOversize: an ext over MaxExtSize is refused (too_large at
// /ext) although the frame around it is within MaxFrameSize: a sender
// cannot spend the whole frame budget, and the bound is the same on
// every path.
func TestAttackExtOversize(t *testing.T) {
	k := newTestKeys(t)
	ext := `{"pad":"` + strings.Repeat("a", MaxExtSize+1-len(`{"pad":""}`)) + `"}`
	if n := len(f2b(t, extFrame(ext))); n > MaxFrameSize {
		t.Fatalf("fixture: the frame is %d bytes, over MaxFrameSize: the frame bound would refuse it", n)
	}
	refusedBothWays(t, k, ext, CodeTooLarge)
	// Numbers that canonicalize longer (1e20 is 21 digits) are measured
	// after canonicalization.
	grow := `{"a":[` + strings.Repeat("1e20,", MaxExtSize/21) + `1]}`
	if len(grow) > MaxExtSize {
		t.Fatal("fixture: input already over MaxExtSize")
	}
	if _, err := NewExt([]byte(grow)); CodeOf(err) != CodeTooLarge {
		t.Errorf("NewExt(numbers growing past MaxExtSize) = %v, want too_large", err)
	}
	if _, err := NewExt(bytes.Repeat([]byte(" "), MaxFrameSize+1)); CodeOf(err) != CodeTooLarge {
		t.Errorf("NewExt(input over MaxFrameSize) = %v, want too_large", err)
	}
}

// TestAttackExtParserDifferential: inside ext, everything that would let
// two parsers read the signed bytes differently is refused, on the sender
// and the receiver, as in the rest of the frame: duplicate names (plain
// and hidden by an escape), lone surrogates, invalid UTF-8, non-finite
// numbers, and any form but the canonical one (names sorted by UTF-8
// bytes instead of UTF-16 code units, needless escapes, other number
// forms, whitespace).
func TestAttackExtParserDifferential(t *testing.T) {
	k := newTestKeys(t)
	for _, c := range []struct {
		ext  string
		code Code
	}{
		{`{"mode":"L2","mode":"L4"}`, CodeDuplicateMember},
		{`{"m\u006fde":"L4","mode":"L2"}`, CodeDuplicateMember},
		{`{"a":{"x":1,"x":2}}`, CodeDuplicateMember},
		{`{"a":"\ud83d"}`, CodeInvalidUTF8},
		{`{"\udc00":1}`, CodeInvalidUTF8},
		{"{\"a\":\"\xed\xa0\x80\"}", CodeInvalidUTF8},
		{`{"a":[1e400]}`, CodeNumberOutOfRange},
		{`{"a":-1e400}`, CodeNumberOutOfRange},
		{`{"｡":1,"😀":2}`, CodeNotCanonical},
		{`{"a":"\u00e9"}`, CodeNotCanonical},
		{`{"a":1E3}`, CodeNotCanonical},
		{`{"a":-0}`, CodeNotCanonical},
		{`{"a": 1}`, CodeNotCanonical},
	} {
		t.Run(c.ext, func(t *testing.T) { refusedBothWays(t, k, c.ext, c.code) })
	}
}

// TestAttackExtNotAnObject: ext is an object or absent; an array, a
// string holding JSON, a number or null is refused (schema at /ext), so
// "no ext" has one encoding and readers can rely on the type.
func TestAttackExtNotAnObject(t *testing.T) {
	k := newTestKeys(t)
	for _, ext := range []string{`[1,2]`, `"{\"a\":1}"`, `1`, `null`, `true`} {
		t.Run(ext, func(t *testing.T) { refusedBothWays(t, k, ext, CodeSchema) })
	}
}

// TestAttackExtShadowsSchemaMembers: members inside ext named like the
// schema's (vehicle_id, seq, kind, v, state, gnss) are data, nothing
// more: the frame is accepted and every decoded value is the top-level
// one, so ext cannot stand in for what the gateway checks.
func TestAttackExtShadowsSchemaMembers(t *testing.T) {
	k := newTestKeys(t)
	ext, err := NewExt([]byte(`{"vehicle_id":"truck-9999","epoch":9,"seq":1,"kind":"heartbeat","v":2,"ts":"2030-01-01T00:00:00.000Z",` +
		`"state":"parked","gnss":{"fix":"rtk","hdop":0,"heading_deg":0,"lat":0,"lon":0,"speed_mps":99},"wheel_speed_mps":0}`))
	if err != nil {
		t.Fatal(err)
	}
	want := sampleTelemetry()
	want.Body.(*Telemetry).Ext = ext
	got, err := k.open(k.signedEnv(t, want))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded frame differs from its top-level members:\n got %+v\nwant %+v", got, want)
	}
}

// TestExtEmptyAndAbsent: an absent ext decodes to nil and encodes as no
// member; {} is a present, empty ext that round-trips.
func TestExtEmptyAndAbsent(t *testing.T) {
	k := newTestKeys(t)
	b := sampleFrameBytes(t)
	if bytes.Contains(b, []byte(`"ext"`)) {
		t.Fatalf("a frame without ext has an ext member: %s", b)
	}
	f := extFrame(`{}`)
	got, err := k.open(k.signedEnv(t, f))
	if err != nil {
		t.Fatal(err)
	}
	if e := got.Body.(*Telemetry).Ext; string(e) != `{}` {
		t.Fatalf("ext {} decoded as %q", e)
	}
}
