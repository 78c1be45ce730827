package agent

import (
	"github.com/fifthwheel/fifthwheel/frame"
)

// gatewayFrames checks what the gateway sends on one session. Every frame
// must be an envelope signed by a pinned gateway key, addressed to this
// vehicle, of a gateway kind, and strictly newer, by the gateway's (epoch,
// seq), than every frame accepted before on the session. The gateway's ts
// is not checked against the truck's clock: freshness comes from binding
// instead (challenges echo the hello nonce, ready and resume the challenge
// nonce, acks a heartbeat seq the truck just chose), so a truck with a bad
// clock is not cut off.
type gatewayFrames struct {
	keys    map[string]frame.Verifier
	vehicle string
	seen    bool
	epoch   uint64
	seq     uint64
}

// open verifies raw. On refusal it returns the reason and, when the bytes
// could be read, the kind the message claims (untrusted, for events).
func (g *gatewayFrames) open(raw []byte) (f *frame.Frame, why Reason, claimed frame.Kind) {
	env, err := frame.ParseEnvelope(raw)
	if err != nil {
		switch frame.CodeOf(err) {
		case frame.CodeMissingAlg, frame.CodeAlgNotAllowed, frame.CodeMissingMember, frame.CodeBadSigEncoding, frame.CodeMissingKID:
			return nil, ReasonUnsigned, ""
		}
		return nil, ReasonMalformed, ""
	}
	if untrusted, err := env.DecodeFrame(); err == nil {
		claimed = untrusted.Kind()
	}
	v, ok := g.keys[env.KID]
	if !ok {
		return nil, ReasonUnknownKey, claimed
	}
	if err := env.Verify(v); err != nil {
		return nil, ReasonBadSignature, claimed
	}
	f, err = env.DecodeFrame()
	if err != nil {
		return nil, ReasonMalformed, claimed
	}
	if f.VehicleID != g.vehicle {
		return nil, ReasonWrongVehicle, claimed
	}
	switch f.Kind() {
	case frame.KindChallenge, frame.KindReady, frame.KindAck, frame.KindNack, frame.KindResume:
	default:
		return nil, ReasonUnexpectedKind, claimed
	}
	if g.seen && (f.Epoch < g.epoch || (f.Epoch == g.epoch && f.Seq <= g.seq)) {
		return nil, ReasonReplayed, claimed
	}
	g.seen, g.epoch, g.seq = true, f.Epoch, f.Seq
	return f, "", claimed
}
