package agent

import (
	"github.com/fifthwheel/fifthwheel/frame"
)

// gatewayFrames checks what the gateway sends on one session. Every frame
// must be an envelope signed by a pinned gateway key of the frame's
// purpose (a command by a pinned command key, every other kind by a pinned
// frame key), addressed to this vehicle, of a gateway kind, and strictly
// newer, by the gateway's (epoch, seq), than every frame accepted before
// on the session. The gateway's ts is not checked against the truck's
// clock: freshness comes from binding instead (challenges echo the hello
// nonce, ready and resume the challenge nonce, acks a heartbeat seq the
// truck just chose; a command has its own expiry), so a truck with a bad
// clock is not cut off.
type gatewayFrames struct {
	keys    map[string]frame.Verifier // frame keys: session kinds
	cmdKeys map[string]frame.Verifier // command keys: commands only
	vehicle string
	seen    bool
	epoch   uint64
	seq     uint64
}

// open verifies raw. On refusal it returns the reason and, when the bytes
// could be decoded at all, the frame they claim to be (untrusted: for
// events, and to name the command a refusal answers).
//
// The key set is chosen by the kind the frame claims, before the signature
// is checked: a claimed command is verified only with the pinned command
// keys, anything else only with the frame keys. The claim cannot be
// changed without breaking the signature (it is inside the signed bytes),
// so a frame key can never authorize a command, nor a command key a
// resume.
func (g *gatewayFrames) open(raw []byte) (f *frame.Frame, why Reason, untrusted *frame.Frame) {
	env, err := frame.ParseEnvelope(raw)
	if err != nil {
		switch frame.CodeOf(err) {
		case frame.CodeMissingAlg, frame.CodeAlgNotAllowed, frame.CodeMissingMember, frame.CodeBadSigEncoding, frame.CodeMissingKID:
			return nil, ReasonUnsigned, nil
		}
		return nil, ReasonMalformed, nil
	}
	untrusted, _ = env.DecodeFrame()
	keys := g.keys
	if untrusted != nil && untrusted.Kind() == frame.KindCommand {
		keys = g.cmdKeys
	}
	v, ok := keys[env.KID]
	if !ok {
		return nil, ReasonUnknownKey, untrusted
	}
	if err := env.Verify(v); err != nil {
		return nil, ReasonBadSignature, untrusted
	}
	f, err = env.DecodeFrame()
	if err != nil {
		return nil, ReasonMalformed, untrusted
	}
	if f.VehicleID != g.vehicle {
		return nil, ReasonWrongVehicle, f
	}
	switch f.Kind() {
	case frame.KindChallenge, frame.KindReady, frame.KindAck, frame.KindNack, frame.KindResume, frame.KindCommand:
	default:
		return nil, ReasonUnexpectedKind, f
	}
	if g.seen && (f.Epoch < g.epoch || (f.Epoch == g.epoch && f.Seq <= g.seq)) {
		return nil, ReasonReplayed, f
	}
	g.seen, g.epoch, g.seq = true, f.Epoch, f.Seq
	return f, "", untrusted
}

// claimedKind is the kind an untrusted frame claims, "" if none.
func claimedKind(f *frame.Frame) frame.Kind {
	if f == nil {
		return ""
	}
	return f.Kind()
}
