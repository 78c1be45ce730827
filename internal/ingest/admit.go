package ingest

import (
	"context"
	"fmt"
	"github.com/fifthwheel/fifthwheel/codes"
	"slices"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Refusal is a frame refused by a check: a stable reason code
// (docs/PROTOCOL.md) and a detail for the event. The detail never holds a
// secret; the peer is told only the code.
type Refusal struct {
	Code   string
	Detail string
}

func (r *Refusal) Error() string { return "ingest: frame refused: " + r.Code + ": " + r.Detail }

func refused(code, detail string) *Refusal { return &Refusal{Code: code, Detail: detail} }

// refusedBy is the refusal of a package frame error (decoding, signature).
func refusedBy(err error) *Refusal { return refused(string(frame.CodeOf(err)), err.Error()) }

// Expect is what a path takes.
type Expect struct {
	// Kinds are the frame kinds the path takes; another is refused
	// (kind_not_allowed).
	Kinds []frame.Kind
	// KID, if set, is the one key id taken: a session binds the key of its
	// hello. Another is refused (kid_changed) before any key is looked up.
	KID string
}

// admitted is a frame that passed admission: decoded, sent by the peer, of
// a kind the path takes, under an active key of the peer's active vehicle.
// Nothing in it is trusted until its signature is verified (verify).
type admitted struct {
	i   int // its index in the input of Process
	env *frame.Envelope
	f   *frame.Frame
	key frame.Verifier
}

// admit is the first stage, for one envelope: decode (strict, canonical),
// identity, kind, registry status, key under kid, retired key. It reads the
// store only through the key cache. The frame is returned whenever it
// decoded, refused or not. An error (ErrUnavailable) means a lookup could
// not complete: nothing was decided.
func (p *Pipeline) admit(ctx context.Context, peer principal.Principal, want Expect, raw []byte) (admitted, *Refusal, error) {
	env, err := frame.ParseEnvelope(raw)
	if err != nil {
		return admitted{}, refusedBy(err), nil
	}
	f, err := env.DecodeFrame()
	if err != nil {
		return admitted{}, refusedBy(err), nil
	}
	return p.admitParsed(ctx, peer, want, env, f)
}

// admitParsed is admit after decoding: env and f are what ParseEnvelope
// and DecodeFrame returned.
func (p *Pipeline) admitParsed(ctx context.Context, peer principal.Principal, want Expect, env *frame.Envelope, f *frame.Frame) (admitted, *Refusal, error) {
	a := admitted{env: env, f: f}
	// Identity: only the verified certificate names the sender.
	if peer.Kind != principal.Vehicle || f.VehicleID != peer.ID {
		return a, refused(codes.VehicleMismatch, "vehicle_id does not match the client certificate"), nil
	}
	if !slices.Contains(want.Kinds, f.Kind()) {
		return a, refused(codes.FrameKindNotAllowed, "this path does not take "+string(f.Kind())+" frames"), nil
	}
	if want.KID != "" && env.KID != want.KID {
		return a, refused(codes.KIDChanged, "the frame must be signed under the session's key ("+want.KID+")"), nil
	}
	status, err := p.keys.vehicleStatus(ctx, p.keySt, peer.ID)
	if err != nil {
		return a, nil, fmt.Errorf("%w: vehicle lookup: %v", ErrUnavailable, err)
	}
	switch status {
	case "":
		return a, refused(codes.VehicleUnknown, "vehicle is not registered"), nil
	case "active":
	default:
		return a, refused(codes.VehicleSuspended, "vehicle is "+string(status)), nil
	}
	v, kstatus, ok, err := p.keys.key(ctx, p.keySt, peer.ID, env.KID)
	if err != nil {
		return a, nil, fmt.Errorf("%w: key lookup: %v", ErrUnavailable, err)
	}
	if !ok {
		return a, refused(string(frame.CodeUnknownKID), "no key registered under this kid for the vehicle"), nil
	}
	if kstatus != store.KeyActive {
		return a, refused(codes.RetiredKID, "the key under this kid is retired"), nil
	}
	a.key = v
	return a, nil, nil
}

// verify is the second stage: each admitted frame's signature under its
// key, whose alg must be the envelope's (alg_mismatch, bad_signature).
// Ed25519 signatures are checked together (the batch equation, with a
// result per envelope). It returns each frame's refusal, nil if authentic.
func verify(as []admitted) []*Refusal {
	var bv frame.BatchVerifier
	for _, a := range as {
		bv.Add(a.env, a.key)
	}
	refs := make([]*Refusal, len(as))
	for i, err := range bv.Verify() {
		if err != nil {
			refs[i] = refusedBy(err)
		}
	}
	return refs
}

// Authenticate checks one live frame as Process checks any frame, and
// stores nothing: admission (identity, kind, registry status, key through
// the key cache, retired key), the signature, and ts within ±ClockSkew.
// The session handshake checks hello and challenge_response with it, so
// the same input gets the same reason code there as on any other path,
// and a handshake reads the registry only when the key cache has to.
//
// A refusal is a *Refusal (use errors.As); a lookup that could not
// complete is ErrUnavailable (errors.Is): fail closed. It records no
// event: the caller records its decision.
func (p *Pipeline) Authenticate(ctx context.Context, peer principal.Principal, want Expect, raw []byte) (*frame.Frame, *frame.Envelope, error) {
	a, ref, err := p.admit(ctx, peer, want, raw)
	switch {
	case err != nil:
		return nil, nil, err
	case ref != nil:
		return nil, nil, ref
	}
	if ref := verify([]admitted{a})[0]; ref != nil {
		return nil, nil, ref
	}
	if ref := p.fresh(Live, a.f.TS, p.now()); ref != nil {
		return nil, nil, ref
	}
	return a.f, a.env, nil
}
