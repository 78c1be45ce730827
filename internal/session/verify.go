package session

import (
	"context"
	"errors"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// verifyVehicleFrame checks a handshake frame (hello or
// challenge_response) with the pipeline's Authenticate, without archiving
// it: the checks, their order and their reason codes are those every frame
// passes (package ingest), and the registry is read through the pipeline's
// key cache. want is the one kind this step takes; wantKID, when set, the
// key id the frame must be signed under (the hello's). It returns the close
// spec of a refusal; a store that cannot answer refuses too (fail closed),
// with 1013 store_unavailable.
func (h *Handler) verifyVehicleFrame(ctx context.Context, peer principal.Principal, raw []byte, want frame.Kind, wantKID string) (*frame.Frame, *frame.Envelope, *closeSpec) {
	f, env, err := h.d.Pipeline.Authenticate(ctx, peer, ingest.Expect{Kinds: []frame.Kind{want}, KID: wantKID}, raw)
	var ref *ingest.Refusal
	switch {
	case errors.As(err, &ref):
		code := ref.Code
		if code == codes.FrameKindNotAllowed {
			// Each handshake step takes one kind; the protocol names
			// another one unexpected_kind (docs/PROTOCOL.md, "Handshake").
			code = codes.UnexpectedKind
		}
		return nil, nil, refusedClose(code, ref.Detail)
	case err != nil:
		h.log.Warn("session: handshake frame could not be checked", "vehicle", peer.ID, "err", err)
		return nil, nil, unavailableClose(codes.StoreUnavailable, "the vehicle registry is unavailable")
	}
	return f, env, nil
}
