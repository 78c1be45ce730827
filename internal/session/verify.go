package session

import (
	"context"
	"errors"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// verifyVehicleFrame checks a handshake frame (hello or
// challenge_response) the way the pipeline checks any frame, without
// archiving it: strict decoding and canonical bytes, the kind, the vehicle
// id against the certificate, the vehicle's registry status, its key under
// kid (which must be wantKID when set), the signature, and ts within
// ±ClockSkew. The order is the pipeline's, so the same input gets the same
// reason code. It returns the close spec of a refusal; a store that cannot
// answer refuses too (fail closed), with 1013 store_unavailable.
func (h *Handler) verifyVehicleFrame(ctx context.Context, peer principal.Principal, raw []byte, want frame.Kind, wantKID string) (*frame.Frame, *frame.Envelope, *closeSpec) {
	env, err := frame.ParseEnvelope(raw)
	if err != nil {
		return nil, nil, refusedClose(string(frame.CodeOf(err)), err.Error())
	}
	f, err := env.DecodeFrame()
	if err != nil {
		return nil, nil, refusedClose(string(frame.CodeOf(err)), err.Error())
	}
	if f.VehicleID != peer.ID {
		return nil, nil, refusedClose(codes.VehicleMismatch, "vehicle_id does not match the client certificate")
	}
	if f.Kind() != want {
		return nil, nil, refusedClose(codes.UnexpectedKind, "expected a "+string(want)+" frame")
	}
	if wantKID != "" && env.KID != wantKID {
		return nil, nil, refusedClose(codes.KIDChanged, "the challenge_response must be signed with the hello's key")
	}
	v, err := h.d.Keys.GetVehicle(ctx, peer.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil, refusedClose(codes.VehicleUnknown, "the vehicle is not registered")
	case err != nil:
		h.log.Warn("session: vehicle lookup failed", "vehicle", peer.ID, "err", err)
		return nil, nil, unavailableClose(codes.StoreUnavailable, "the vehicle registry is unavailable")
	case v.Status != store.VehicleActive:
		return nil, nil, refusedClose(codes.VehicleSuspended, "the vehicle is "+string(v.Status))
	}
	k, err := h.d.Keys.GetVehicleKey(ctx, peer.ID, env.KID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil, refusedClose(string(frame.CodeUnknownKID), "no key is registered under this kid for the vehicle")
	case err != nil:
		h.log.Warn("session: key lookup failed", "vehicle", peer.ID, "err", err)
		return nil, nil, unavailableClose(codes.StoreUnavailable, "the key registry is unavailable")
	case k.Status != store.KeyActive:
		return nil, nil, refusedClose(codes.RetiredKID, "the key under this kid is retired")
	}
	ver, err := ingest.VerifierFor(k)
	if err != nil {
		h.log.Error("session: stored key does not load", "vehicle", peer.ID, "kid", env.KID, "err", err)
		return nil, nil, refusedClose(string(frame.CodeUnknownKID), "the key under this kid cannot be used")
	}
	if err := env.Verify(ver); err != nil {
		return nil, nil, refusedClose(string(frame.CodeOf(err)), err.Error())
	}
	if d := f.TS.Sub(h.now()); d > h.cfg.ClockSkew || -d > h.cfg.ClockSkew {
		return nil, nil, refusedClose(codes.ClockSkew, "ts is outside the allowed clock skew")
	}
	return f, env, nil
}
