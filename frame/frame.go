package frame

import (
	"bytes"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// Version is the frame schema version this package reads and writes, the
// value of every frame's v member.
const Version = 1

// TSLayout is the one accepted ts form: RFC 3339, UTC ("Z"), exactly three
// fraction digits.
const TSLayout = "2006-01-02T15:04:05.000Z"

// Kind is a frame's kind member. The set is closed per version: a frame
// of another kind is refused with CodeUnknownKind.
type Kind string

const (
	// KindTelemetry: a vehicle's position, speed, state and health.
	KindTelemetry Kind = "telemetry"
	// KindHeartbeat: a vehicle's liveness beat, with its state.
	KindHeartbeat Kind = "heartbeat"
	// KindHello: a vehicle opens a session.
	KindHello Kind = "hello"
	// KindChallengeResponse: a vehicle signs the gateway's challenge nonce.
	KindChallengeResponse Kind = "challenge_response"
	// KindAck: the gateway acknowledges a vehicle frame (heartbeat acks).
	KindAck Kind = "ack"
	// KindCommandAck: a vehicle answers a command (kind command, in
	// command.go).
	KindCommandAck Kind = "command_ack"
	// KindStopEvent: a vehicle reports a stop of a load (stopevent.go).
)

// newBody returns an empty body for k, or nil if k is not a known kind.
//
// Adding a kind: define its body type in kinds.go with StaticValidate,
// required, decodeMember and encodeMembers; add a case here; give its
// members names that no other kind uses with another type; document it in
// docs/PROTOCOL.md; add a golden vector. Receivers must be upgraded before
// senders use a new kind.
func newBody(k Kind) Body {
	switch k {
	case KindTelemetry:
		return new(Telemetry)
	case KindHeartbeat:
		return new(Heartbeat)
	case KindHello:
		return new(Hello)
	case KindChallengeResponse:
		return new(ChallengeResponse)
	case KindAck:
		return new(Ack)
	case KindCommandAck:
		return new(CommandAck)
	case KindStopEvent:
		return new(StopEvent)
	case KindCommand:
		return new(Command)
	case KindChallenge:
		return new(Challenge)
	case KindReady:
		return new(Ready)
	case KindResume:
		return new(Resume)
	case KindNack:
		return new(Nack)
	}
	return nil
}

// Body is the kind-specific part of a frame: *Telemetry, *Heartbeat,
// *Hello, *ChallengeResponse, *Ack, *CommandAck, *StopEvent, the gateway's session
// kinds *Challenge, *Ready, *Resume and *Nack, and the gateway's *Command. Its members sit beside
// the common ones in the frame object. The interface is sealed: only this
// package's kinds exist on the wire.
type Body interface {
	// Kind is the value of the frame's kind member for this body.
	Kind() Kind
	// StaticValidate checks the body's values against the schema, without
	// any state (no clocks, no counters). Pointers in its errors are
	// relative to the frame.
	StaticValidate() error

	required() []string
	decodeMember(name string, r *reader) (bool, error)
	encodeMembers(w *writer)
}

// Frame is a decoded frame. The common members are fields; the
// kind-specific ones are in Body. A Frame from DecodeFrame has passed
// StaticValidate and re-encodes to exactly the bytes it was decoded from.
type Frame struct {
	// VehicleID is the sending (or, for acks, the addressed) vehicle:
	// 1..MaxVehicleIDLen characters of [A-Za-z0-9._-]. The receiver must
	// check it equals the id in the peer's verified certificate.
	VehicleID string
	// Epoch and Seq order a vehicle's frames: (Epoch, Seq) strictly
	// increases. Epoch changes when the sender's counter state is reset.
	// Both are 0..MaxSafeInteger.
	Epoch uint64
	Seq   uint64
	// TS is when the frame was made, at millisecond precision, in years
	// 2000 to 9999.
	TS time.Time
	// Body holds the kind-specific members; its Kind is the frame's kind.
	Body Body
}

// Kind returns the frame's kind, or "" if it has no body.
func (f *Frame) Kind() Kind {
	if f.Body == nil {
		return ""
	}
	return f.Body.Kind()
}

// StaticValidate checks every value of f against the schema: identifiers,
// integer ranges, ts precision, and the body's own StaticValidate. It needs
// no state. MarshalCanonical and Sign call it; DecodeFrame's result has
// passed it.
func (f *Frame) StaticValidate() error {
	if !validID(f.VehicleID, MaxVehicleIDLen) {
		return newError(CodeSchema, "/vehicle_id", "vehicle_id is not 1 to "+strconv.Itoa(MaxVehicleIDLen)+" characters of [A-Za-z0-9._-]")
	}
	if f.Epoch > MaxSafeInteger {
		return newError(CodeNumberOutOfRange, "/epoch", "integer is above 2^53-1")
	}
	if f.Seq > MaxSafeInteger {
		return newError(CodeNumberOutOfRange, "/seq", "integer is above 2^53-1")
	}
	if err := checkTS(f.TS); err != nil {
		return err
	}
	if f.Body == nil {
		return newError(CodeMissingMember, "/kind", "frame has no body")
	}
	return f.Body.StaticValidate()
}

func checkTS(t time.Time) error {
	t = t.UTC()
	if y := t.Year(); y < 2000 || y > 9999 {
		return newError(CodeBadTS, "/ts", "ts is not in years 2000 to 9999")
	}
	if t.Nanosecond()%int(time.Millisecond) != 0 {
		return newError(CodeBadTS, "/ts", "ts has more than millisecond precision")
	}
	return nil
}

// parseTS parses the one accepted ts form.
func parseTS(s string) (time.Time, error) {
	t, err := time.Parse(TSLayout, s)
	if err != nil || t.Format(TSLayout) != s {
		return time.Time{}, newError(CodeBadTS, "/ts", "ts is not RFC 3339 UTC with milliseconds, like 2026-11-24T21:00:00.123Z")
	}
	if err := checkTS(t); err != nil {
		return time.Time{}, err
	}
	return t, nil
}

// MarshalCanonical returns f's RFC 8785 canonical bytes, the form that is
// signed and sent. It returns an *Error if f fails StaticValidate, or with
// CodeTooLarge if the bytes are over MaxFrameSize (a command with every
// array at its bound and long names can be).
func (f *Frame) MarshalCanonical() ([]byte, error) {
	if err := f.StaticValidate(); err != nil {
		return nil, err
	}
	b := f.appendCanonical(nil)
	if len(b) > MaxFrameSize {
		return nil, newError(CodeTooLarge, "", "frame is larger than "+strconv.Itoa(MaxFrameSize)+" bytes")
	}
	return b, nil
}

func (f *Frame) appendCanonical(dst []byte) []byte {
	w := writer{buf: make([]byte, 0, 1024)}
	w.uint("epoch", f.Epoch)
	w.str("kind", string(f.Body.Kind()))
	w.uint("seq", f.Seq)
	w.str("ts", f.TS.UTC().Format(TSLayout))
	w.uint("v", Version)
	w.str("vehicle_id", f.VehicleID)
	f.Body.encodeMembers(&w)
	return w.append(dst)
}

// DecodeFrame decodes frame bytes strictly. It returns an *Error whose Code
// says why they were refused; checks run in this order, the first failure
// reported:
//
//  1. size: at most MaxFrameSize bytes (CodeTooLarge);
//  2. strict JSON as in ParseEnvelope, depth at most MaxFrameDepth;
//  3. a JSON object (CodeSchema);
//  4. RFC 8785 canonical form (CodeNotCanonical);
//  5. v is present (CodeMissingMember) and 1 (CodeUnsupportedVersion);
//  6. kind is present (CodeMissingMember), a string (CodeSchema) and known
//     (CodeUnknownKind);
//  7. members, in byte order: each defined for this kind
//     (CodeUnknownMember) and of the right type (CodeSchema,
//     CodeNumberOutOfRange, CodeBadTS);
//  8. required members present, first missing in name order
//     (CodeMissingMember);
//  9. StaticValidate: values in range (CodeSchema, CodeBadTS), a telemetry
//     ext within MaxExtSize (CodeTooLarge).
//
// An accepted frame re-encodes with MarshalCanonical to exactly raw.
// DecodeFrame does not verify any signature: use it on the bytes of an
// envelope whose signature has been (or will be) verified.
func DecodeFrame(raw []byte) (*Frame, error) {
	if len(raw) > MaxFrameSize {
		return nil, newError(CodeTooLarge, "", "frame is larger than "+strconv.Itoa(MaxFrameSize)+" bytes")
	}
	top, err := walk(raw, MaxFrameDepth, nil)
	if err != nil {
		return nil, err
	}
	if top != '{' {
		return nil, newError(CodeSchema, "", "frame is not a JSON object")
	}
	if err := checkCanonical(raw); err != nil {
		return nil, err
	}
	return decodeSchema(raw)
}

// decodeSchema runs steps 5 to 9 of DecodeFrame on bytes that have passed
// steps 1 to 4 (here or in ParseEnvelope), and the final re-encoding check.
func decodeSchema(raw []byte) (*Frame, error) {
	// Version first, so that a frame of a later version is reported as such
	// rather than by the first member this version does not know; then the
	// kind, which says what the other members are.
	var (
		haveV, haveKind bool
		vKind, kindKind jsontext.Kind
		vText, kindText string
	)
	r := newReader(raw)
	err := r.object("", func(name string) error {
		var err error
		switch name {
		case "v":
			var tok jsontext.Token
			tok, err = r.token()
			haveV, vKind, vText = true, tok.Kind(), tok.String()
		case "kind":
			var tok jsontext.Token
			tok, err = r.token()
			haveKind, kindKind, kindText = true, tok.Kind(), tok.String()
		default:
			err = r.dec.SkipValue()
		}
		return err
	})
	switch {
	case err != nil:
		return nil, newError(CodeBadJSON, "", "not one JSON value")
	case !haveV:
		return nil, newError(CodeMissingMember, "/v", "required member is missing")
	case vKind != '0':
		return nil, newError(CodeSchema, "/v", "not a number")
	case vText != strconv.Itoa(Version):
		return nil, newError(CodeUnsupportedVersion, "/v", "frame version is not "+strconv.Itoa(Version))
	case !haveKind:
		return nil, newError(CodeMissingMember, "/kind", "required member is missing")
	case kindKind != '"':
		return nil, newError(CodeSchema, "/kind", "not a string")
	}
	body := newBody(Kind(kindText))
	if body == nil {
		return nil, newError(CodeUnknownKind, "/kind", "kind is not one of this version's kinds")
	}

	f := &Frame{Body: body}
	sn := make(seen, 0, 16)
	r.reset(raw)
	err = r.object("", func(name string) error {
		sn.add(name)
		var err error
		switch name {
		case "v":
			_, err = r.uint53("/v")
		case "kind":
			_, err = r.str("/kind")
		case "vehicle_id":
			f.VehicleID, err = r.str("/vehicle_id")
		case "epoch":
			f.Epoch, err = r.uint53("/epoch")
		case "seq":
			f.Seq, err = r.uint53("/seq")
		case "ts":
			var s string
			if s, err = r.str("/ts"); err == nil {
				f.TS, err = parseTS(s)
			}
		default:
			var ok bool
			ok, err = body.decodeMember(name, r)
			if err == nil && !ok {
				err = unknown("", name)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := sn.missing("", mergeSorted(
		[]string{"epoch", "kind", "seq", "ts", "v", "vehicle_id"}, // the common members, all required
		body.required())...); err != nil {
		return nil, err
	}
	if err := f.StaticValidate(); err != nil {
		return nil, err
	}
	// The decoded frame must mean exactly the signed bytes: nothing skipped,
	// nothing rounded. Given the checks above this cannot fail; if it ever
	// does, fail closed.
	if !bytes.Equal(f.appendCanonical(make([]byte, 0, len(raw))), raw) {
		return nil, newError(CodeNotCanonical, "", "frame does not re-encode to its bytes")
	}
	return f, nil
}

// mergeSorted merges two sorted name lists.
func mergeSorted(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		if j == len(b) || (i < len(a) && a[i] < b[j]) {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	return out
}

// validID reports whether s is 1..max characters of [A-Za-z0-9._-].
func validID(s string, max int) bool {
	return s != "" && len(s) <= max && isIDString(s, "")
}
