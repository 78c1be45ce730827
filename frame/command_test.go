package frame

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestCommandRoundTrip: every command type encodes, decodes to the same
// values and re-encodes to the same bytes.
func TestCommandRoundTrip(t *testing.T) {
	for _, typ := range []CommandType{CommandTender, CommandDispatch, CommandRouteUpdate, CommandCancel} {
		f := sampleTelemetry()
		f.Body = sampleCommand(typ)
		b, err := f.MarshalCanonical()
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		d, err := DecodeFrame(b)
		if err != nil {
			t.Fatalf("%s: %v\n%s", typ, err, b)
		}
		c := d.Body.(*Command)
		if c.CommandType != typ || c.CmdSeq != 41 || !c.ExpiresAt.Equal(f.Body.(*Command).ExpiresAt) {
			t.Fatalf("%s: decoded %+v", typ, c)
		}
		if len(c.Payload.Stops) != len(f.Body.(*Command).Payload.Stops) || len(c.Payload.Waypoints) != len(f.Body.(*Command).Payload.Waypoints) {
			t.Fatalf("%s: payload arrays differ", typ)
		}
		m, _ := d.MarshalCanonical()
		if !bytes.Equal(m, b) {
			t.Fatalf("%s: re-encoding differs", typ)
		}
	}
}

// TestCommandAtEveryBound: a command with every array full and every
// name at its length still fits a frame, or is refused as too_large, never
// sent larger than a receiver takes.
func TestCommandAtEveryBound(t *testing.T) {
	c := sampleCommand(CommandRouteUpdate)
	long := strings.Repeat("é", MaxNameLen/2)
	c.Payload.Stops, c.Payload.Waypoints = nil, nil
	for i := range MaxStops {
		s := sampleCommand(CommandTender).Payload.Stops[0]
		s.Seq, s.Facility, s.TZ = uint64(i), long, strings.Repeat("A", MaxTZLen)
		s.Lat, s.Lon = -89.12345678901234, -179.1234567890123
		c.Payload.Stops = append(c.Payload.Stops, s)
	}
	for i := range MaxWaypoints {
		c.Payload.Waypoints = append(c.Payload.Waypoints, Waypoint{Seq: MaxSafeInteger - MaxWaypoints + uint64(i), Lat: -89.12345678901234, Lon: -179.1234567890123, Name: "wp"})
	}
	f := sampleTelemetry()
	f.Body = c
	b, err := f.MarshalCanonical()
	if err != nil {
		t.Fatalf("a command at the array bounds with short waypoint names does not fit: %v", err)
	}
	if _, err := DecodeFrame(b); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes", len(b))
	// Names of quotes take twice their length on the wire (\"): this one
	// is over the frame size.
	for i := range c.Payload.Waypoints {
		c.Payload.Waypoints[i].Name = strings.Repeat(`"`, MaxNameLen)
	}
	if _, err := f.MarshalCanonical(); CodeOf(err) != CodeTooLarge {
		t.Fatalf("an oversize command: %v, want too_large", err)
	}
}

// TestSignCommand: only command frames, only under a command key's kid.
func TestSignCommand(t *testing.T) {
	k := newTestKeys(t)
	f := sampleTelemetry()
	f.Body = sampleCommand(CommandCancel)
	if _, err := SignCommand(k.ed, "gw-frame-key", f); CodeOf(err) != CodeBadKID {
		t.Fatalf("a command under a frame key's kid: %v", err)
	}
	if _, err := SignCommand(k.ed, CommandKIDPrefix+"k1", sampleTelemetry()); CodeOf(err) != CodeSchema {
		t.Fatalf("telemetry through SignCommand: %v", err)
	}
	env, err := SignCommand(k.ed, CommandKIDPrefix+"k1", f)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ParseEnvelope(env)
	if err != nil || e.Verify(k.ed.Public()) != nil || e.KID != CommandKIDPrefix+"k1" {
		t.Fatalf("%v", err)
	}
}

// TestCommandDigest: a command signed again under another epoch, seq and
// ts has the same digest; any change to what it commands changes it.
func TestCommandDigest(t *testing.T) {
	mk := func(edit func(f *Frame, c *Command)) [32]byte {
		f := sampleTelemetry()
		c := sampleCommand(CommandDispatch)
		f.Body = c
		edit(f, c)
		d, err := CommandDigest(f)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	base := mk(func(*Frame, *Command) {})
	if mk(func(f *Frame, _ *Command) { f.Epoch, f.Seq, f.TS = 9, 99, f.TS.Add(time.Hour) }) != base {
		t.Fatal("redelivery changes the digest")
	}
	for name, edit := range map[string]func(*Frame, *Command){
		"vehicle":  func(f *Frame, _ *Command) { f.VehicleID = "truck-0043" },
		"waypoint": func(_ *Frame, c *Command) { c.Payload.Waypoints[1].Lat += 1e-6 },
		"handoff":  func(_ *Frame, c *Command) { c.Payload.Waypoints[0].Handoff = true },
		"expiry":   func(_ *Frame, c *Command) { c.ExpiresAt = c.ExpiresAt.Add(time.Millisecond) },
		"nonce":    func(_ *Frame, c *Command) { c.Nonce = bytes.Repeat([]byte{1}, 16) },
		"cmd_seq":  func(_ *Frame, c *Command) { c.CmdSeq++ },
		"risk":     func(_ *Frame, c *Command) { c.Risk = RiskLow },
	} {
		if mk(edit) == base {
			t.Errorf("%s: the digest does not cover it", name)
		}
	}
	if _, err := CommandDigest(sampleTelemetry()); err == nil {
		t.Fatal("digest of telemetry")
	}
}

// FuzzDecodeCommand: the command and command_ack decoders (arrays of
// objects, per-type payload members) refuse with typed errors, and an
// accepted command re-encodes to exactly its bytes, validates, and has a
// digest that ignores only epoch, seq and ts.
func FuzzDecodeCommand(f *testing.F) {
	for _, typ := range []CommandType{CommandTender, CommandDispatch, CommandRouteUpdate, CommandCancel} {
		fr := sampleTelemetry()
		fr.Body = sampleCommand(typ)
		b, err := fr.MarshalCanonical()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, name := range []string{"command_ack", "command_ack_rejected"} {
		b, err := sampleBodies()[name].MarshalCanonical()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	k := newTestKeys(f)
	for _, r := range refusals() {
		if strings.HasPrefix(r.name, "command") {
			k.lastRawFrame = nil
			r.env(f, k)
			if k.lastRawFrame != nil {
				f.Add(k.lastRawFrame)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeFrame(b)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		m, err := fr.MarshalCanonical()
		if err != nil || !bytes.Equal(m, b) {
			t.Fatalf("accepted frame re-encodes differently (%v):\n got %q\nwant %q", err, m, b)
		}
		c, ok := fr.Body.(*Command)
		if !ok {
			return
		}
		if err := c.StaticValidate(); err != nil {
			t.Fatalf("decoded command fails StaticValidate: %v", err)
		}
		d1, err := CommandDigest(fr)
		if err != nil {
			t.Fatalf("digest: %v", err)
		}
		g := *fr
		g.Epoch, g.Seq = fr.Epoch^1, fr.Seq^1
		if d2, err := CommandDigest(&g); err != nil || d2 != d1 {
			t.Fatalf("digest depends on epoch or seq (%v)", err)
		}
	})
}
