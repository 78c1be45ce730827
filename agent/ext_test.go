package agent

import (
	"bytes"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
)

func extTelemetry(ext frame.Ext) frame.Telemetry {
	return frame.Telemetry{
		GNSS:          frame.GNSS{Lat: 32.7767, Lon: -96.797, SpeedMPS: 0, HeadingDeg: 91.5, Fix: frame.Fix3D, HDOP: 0.8},
		WheelSpeedMPS: 0, OdometerM: 1234567.8, State: frame.StateParked,
		Health: frame.Health{CPUTempC: 61.5, BatteryV: 27.6, Faults: []string{}},
		Ext:    ext,
	}
}

// TestSendTelemetryExt: the AV stack's ext reaches the gateway byte for
// byte, signed with the frame, even when the stack reuses its buffer right
// after SendTelemetry returns (the agent signs later, when it sends, so it
// keeps its own copy). An ext that is not canonical is refused at once
// with a typed error and nothing is queued.
func TestSendTelemetryExt(t *testing.T) {
	pub, priv := frameKey(t)
	got := make(chan frame.Ext, 1)
	g := newFakeGW(t, pub, func(c *fakeConn) {
		c.frames(func(f *frame.Frame) bool {
			c.send(ackOf(f))
			if tm, ok := f.Body.(*frame.Telemetry); ok {
				got <- tm.Ext
				return false
			}
			return true
		})
	})
	a, _, _ := newTestAgent(t, g, priv)

	if err := a.SendTelemetry(time.Now(), extTelemetry(frame.Ext(`{"b":1,"a":2}`))); frame.CodeOf(err) != frame.CodeNotCanonical {
		t.Fatalf("SendTelemetry with a non-canonical ext: %v, want not_canonical", err)
	}
	ext, err := frame.MarshalExt(map[string]any{"autonomy": map[string]string{"mode": "L4"}, "note": "Köln <&> \u2028"})
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(ext)
	if err := a.SendTelemetry(time.Now(), extTelemetry(ext)); err != nil {
		t.Fatal(err)
	}
	for i := range ext {
		ext[i] = 'x' // the AV stack reuses its buffer
	}
	run(t, a)
	select {
	case e := <-got:
		if !bytes.Equal(e, want) {
			t.Fatalf("the gateway received ext %s, want %s", e, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no telemetry reached the gateway")
	}
}
