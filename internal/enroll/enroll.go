// Package enroll is the HTTP front of the fleet PKI on the vehicle listener:
// POST /v1/pki/enroll, where a vehicle without a certificate trades a
// one-time join token and a CSR for its first certificate (and may register
// its frame-signing key), and POST /v1/pki/renew, where a vehicle, TMS
// client or operator with a valid certificate gets a new one over mTLS.
//
// # Security model
//
// Enrollment is the one endpoint a client without a certificate may reach;
// the server lets such connections reach nothing else. What authorizes it is
// the join token: 256 random bits, single use, bound to one vehicle (package
// pki). The certificate names exactly the token's vehicle, whatever the CSR
// or the body say. Renewal takes the identity from the verified chain of the
// connection (VerifiedChains[0][0]) and nothing else.
//
// Every request is decided once and recorded once: refusals that package
// pki makes carry its event; the ones made here (body too large, malformed,
// unusable frame key, suspended vehicle, renewal rate) emit their own.
// Renewals are limited per principal (RenewLimiter: 429 rate_limited with
// Retry-After): a stolen certificate cannot mint certificates at the CA's
// speed, and what the limit leaves is still cut off by a revocation of the
// principal (package pki). Refusals of a request that proved nothing yet (no
// client certificate, no live join token) carry its source
// (event.SourceOf), so that the gateway aggregates a flood of them per
// source and window. A refused request
// changes nothing: the frame key is checked and the vehicle's kid looked up
// before the token is consumed. Bodies are decoded strictly (unknown and
// duplicate members refused) and bounded (MaxBodyBytes). Errors are RFC 9457
// problem+json with a stable code; the token never reaches an event, a log
// or an answer.
//
// # Compatibility
//
// The request and response members and the reason codes are part of the
// vehicle protocol (docs/PROTOCOL.md): new optional members may be added,
// existing ones keep their meaning.
package enroll

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/httpapi"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
	"github.com/fifthwheel/fifthwheel/internal/ratelimit"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Store is what the endpoints need from the store.
type Store interface {
	GetVehicle(ctx context.Context, id string) (store.Vehicle, error)
	CreateVehicle(ctx context.Context, v store.Vehicle) error
	SetVehicleCarrier(ctx context.Context, id, carrier string) error
	GetVehicleKey(ctx context.Context, vehicleID, kid string) (store.VehicleKey, error)
	AddVehicleKey(ctx context.Context, k store.VehicleKey) error
	GetJoinToken(ctx context.Context, hash []byte) (store.JoinTokenRow, error)
}

// API serves the two endpoints. All fields are required but Now and
// RenewLimiter.
type API struct {
	CA     *pki.CA
	Store  Store
	Events event.Emitter
	Now    func() time.Time // nil: time.Now
	// RenewLimiter limits renewals per principal (NewRenewLimiter); nil: one
	// at DefaultRenewPerMinute and DefaultRenewBurst.
	RenewLimiter *ratelimit.Limiter

	once sync.Once
	rl   *ratelimit.Limiter
}

// NewRenewLimiter limits each principal to perMinute renewals, sustained,
// and burst at once.
func NewRenewLimiter(perMinute, burst int) *ratelimit.Limiter {
	return ratelimit.New(ratelimit.Config{PerSecond: float64(perMinute) / 60, Burst: burst})
}

func (a *API) renewLimiter() *ratelimit.Limiter {
	a.once.Do(func() {
		a.rl = a.RenewLimiter
		if a.rl == nil {
			a.rl = NewRenewLimiter(DefaultRenewPerMinute, DefaultRenewBurst)
		}
	})
	return a.rl
}

// Routes returns the handlers by ServeMux pattern.
func (a *API) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"POST /v1/pki/enroll": http.HandlerFunc(a.enroll),
		"POST /v1/pki/renew":  http.HandlerFunc(a.renew),
	}
}

// EnrollRequest is the body of POST /v1/pki/enroll.
type EnrollRequest struct {
	// Token is the join token `fifthwheel pki join-token` printed.
	Token string `json:"token"`
	// CSR is a PEM "CERTIFICATE REQUEST" (ECDSA P-256 or Ed25519) naming
	// the vehicle: one URI SAN urn:fifthwheel:vehicle:<id>.
	CSR string `json:"csr"`
	// FrameKey, optional, registers the vehicle's frame-signing key.
	FrameKey *FrameKey `json:"frame_key,omitempty"`
}

// FrameKey is a frame-signing public key offered at enrollment. HS256
// secrets are not taken here: a shared secret is registered by an operator.
type FrameKey struct {
	Alg       string `json:"alg"`           // Ed25519 or ES256
	PublicKey string `json:"public_key"`    // PEM "PUBLIC KEY"
	KID       string `json:"kid,omitempty"` // default: derived from the key
}

// RenewRequest is the body of POST /v1/pki/renew.
type RenewRequest struct {
	CSR string `json:"csr"`
}

// Response answers both endpoints (201 Created).
type Response struct {
	// Certificate is the PEM chain to present: the leaf, then its
	// intermediate.
	Certificate string `json:"certificate"`
	// CA is the fleet root (PEM): what the client trusts for the gateway.
	CA       string    `json:"ca"`
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"not_after"`
	// FrameKID is the kid the frame key was registered under, if one was
	// given.
	FrameKID string `json:"frame_kid,omitempty"`
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// refuse answers pe and records it (class pki, activity), as the one event
// of this decision. A refusal that names nobody (who is zero) of a request
// without a verified client certificate is about a peer that has not proven
// who it is: its event carries the request's source, for the gateway's
// aggregator.
func (a *API) refuse(w http.ResponseWriter, r *http.Request, activity string, who principal.Principal, pe *problem.Error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), pki.EmitTimeout)
	defer cancel()
	sev := codes.SeverityOf(pe.Code, event.SeverityLow)
	var source string
	if who.IsZero() {
		source = unauthenticatedSource(r)
	}
	_ = a.Events.Emit(ctx, event.Event{Class: event.ClassPKI, Activity: activity, Severity: sev, Verdict: event.Reject,
		Code: pe.Code, Actor: who, Resource: who.String(), Source: source, Attrs: map[string]any{"detail": pe.Detail}})
	problem.Write(w, r, pe)
}

// unauthenticatedSource is event.SourceOf the request's address when it
// came without a verified client certificate, else "".
func unauthenticatedSource(r *http.Request) string {
	if _, ok := pki.Peer(r); ok {
		return ""
	}
	return event.SourceOf(r.RemoteAddr)
}

// readJSON reads a bounded application/json body into v, strictly.
func readJSON(w http.ResponseWriter, r *http.Request, v any) *problem.Error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return problem.New(http.StatusUnsupportedMediaType, codes.UnsupportedMediaType, "the body must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return problem.New(http.StatusRequestEntityTooLarge, codes.RequestTooLarge,
				fmt.Sprintf("the body is over %d bytes", MaxBodyBytes))
		}
		return problem.New(http.StatusBadRequest, codes.MalformedRequest, "the body could not be read")
	}
	if err := json.Unmarshal(body, v, json.RejectUnknownMembers(true)); err != nil {
		return problem.New(http.StatusBadRequest, codes.MalformedRequest,
			"the body must be one JSON object with only the documented members, each once")
	}
	return nil
}

func (a *API) enroll(w http.ResponseWriter, r *http.Request) {
	const activity = "enroll"
	var req EnrollRequest
	if pe := readJSON(w, r, &req); pe != nil {
		a.refuse(w, r, activity, principal.Principal{}, pe)
		return
	}
	if req.Token == "" || req.CSR == "" {
		a.refuse(w, r, activity, principal.Principal{}, problem.New(http.StatusBadRequest, codes.MalformedRequest, "token and csr are required"))
		return
	}
	ctx := r.Context()
	now := a.now()

	// Check the frame key, and that its kid is free, before the token is
	// consumed: a refused request must leave the token usable.
	var key *store.VehicleKey
	if fk := req.FrameKey; fk != nil {
		alg := frame.Alg(fk.Alg)
		if alg != frame.AlgEd25519 && alg != frame.AlgES256 {
			a.refuse(w, r, activity, principal.Principal{}, problem.New(http.StatusBadRequest, string(frame.CodeBadKey),
				"frame_key.alg must be Ed25519 or ES256; HS256 secrets are registered by an operator"))
			return
		}
		k, err := ingest.NewVehicleKey("", alg, []byte(fk.PublicKey), fk.KID, now)
		if err != nil {
			a.refuse(w, r, activity, principal.Principal{}, problem.New(http.StatusBadRequest, string(frame.CodeBadKey),
				"frame_key is refused: "+keyDetail(err)))
			return
		}
		key = &k
		if hash, err := pki.HashJoinToken(req.Token); err == nil {
			// Only a live token names its vehicle: a spent or expired one
			// proves nothing and is refused by Enroll, as a bad token.
			if tok, err := a.Store.GetJoinToken(ctx, hash[:]); err == nil && tok.UsedAt.IsZero() && now.Before(tok.ExpiresAt) {
				who := principal.Principal{Kind: principal.Vehicle, ID: tok.VehicleID}
				if pe := a.kidFree(ctx, tok.VehicleID, k); pe != nil {
					a.refuse(w, r, activity, who, pe)
					return
				}
			}
		} // a bad, unknown, used or expired token is refused by Enroll, with its event
	}

	is, err := a.CA.Enroll(ctx, req.Token, []byte(req.CSR), unauthenticatedSource(r))
	if err != nil {
		problem.Write(w, r, err) // Enroll emitted the refusal
		return
	}
	vehicle := is.Record.Principal()
	resp := a.response(is)
	if err := a.ensureVehicle(ctx, vehicle, a.tokenCarrier(ctx, req.Token), now); err != nil {
		problem.Write(w, r, problem.Wrap(err, http.StatusServiceUnavailable, codes.StoreUnavailable,
			"the certificate was issued but the vehicle could not be registered; ask an operator"))
		return
	}
	if key != nil {
		key.VehicleID = vehicle.ID
		if err := a.Store.AddVehicleKey(ctx, *key); err != nil && !errors.Is(err, store.ErrConflict) {
			problem.Write(w, r, problem.Wrap(err, http.StatusServiceUnavailable, codes.StoreUnavailable,
				"the certificate was issued but the frame key could not be registered; ask an operator"))
			return
		}
		// ErrConflict here means the same key was registered meanwhile
		// (kidFree saw it free or equal): the registration stands.
		if err := a.Events.Emit(ctx, event.Event{Class: event.ClassTelemetry, Activity: "frame_key_add", Verdict: event.Accept,
			Severity: event.SeverityInfo, Code: codes.FrameKeyRegistered, Actor: vehicle, Resource: vehicle.String(),
			Attrs: map[string]any{"kid": key.KID, "alg": key.Alg, "via": "enrollment"}}); err != nil {
			problem.Write(w, r, problem.Wrap(err, http.StatusServiceUnavailable, codes.StoreUnavailable,
				"the frame key registration could not be recorded; retry the key registration with an operator"))
			return
		}
		resp.FrameKID = key.KID
	}
	httpapi.WriteJSON(w, r, http.StatusCreated, resp)
}

// kidFree refuses a kid the vehicle already uses for another key. The same
// key under the same kid is fine (a retried enrollment).
func (a *API) kidFree(ctx context.Context, vehicleID string, k store.VehicleKey) *problem.Error {
	have, err := a.Store.GetVehicleKey(ctx, vehicleID, k.KID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return problem.Wrap(err, http.StatusServiceUnavailable, codes.StoreUnavailable, "the key registry is unavailable")
	case have.Alg == k.Alg && bytes.Equal(have.Material, k.Material) && have.Status == store.KeyActive:
		return nil
	}
	return problem.New(http.StatusConflict, codes.KIDConflict, "the vehicle already has another key under this kid (kids are never reused)")
}

// tokenCarrier returns the carrier the join token (just consumed by Enroll)
// names; "" if it names none or cannot be read (the vehicle is then
// registered without a carrier, which no client sees: fail closed, and an
// operator sets it with 'fifthwheel vehicle carrier set').
func (a *API) tokenCarrier(ctx context.Context, token string) string {
	hash, err := pki.HashJoinToken(token)
	if err != nil {
		return ""
	}
	tok, err := a.Store.GetJoinToken(ctx, hash[:])
	if err != nil {
		return ""
	}
	return tok.Carrier
}

// ensureVehicle registers the vehicle, of carrier, if the registry does not
// know it; one registered without a carrier gets carrier. A vehicle of
// another carrier keeps its own: the token does not move it.
func (a *API) ensureVehicle(ctx context.Context, v principal.Principal, carrier string, now time.Time) error {
	if cur, err := a.Store.GetVehicle(ctx, v.ID); err == nil {
		if cur.Carrier != "" || carrier == "" {
			return nil
		}
		if err := a.Store.SetVehicleCarrier(ctx, v.ID, carrier); err != nil {
			return err
		}
		return a.Events.Emit(ctx, event.Event{Class: event.ClassAuthorization, Activity: "vehicle_carrier_set", Verdict: event.Info,
			Severity: event.SeverityMedium, Code: codes.VehicleCarrierChanged, Actor: v, Resource: v.String(),
			Attrs: map[string]any{"via": "enrollment", "from": "", "to": carrier}})
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	err := a.Store.CreateVehicle(ctx, store.Vehicle{ID: v.ID, Status: store.VehicleActive, CreatedAt: now.UTC(), Carrier: carrier})
	if errors.Is(err, store.ErrConflict) {
		return nil // registered meanwhile
	}
	if err != nil {
		return err
	}
	return a.Events.Emit(ctx, event.Event{Class: event.ClassAuthorization, Activity: "vehicle_add", Verdict: event.Accept,
		Severity: event.SeverityInfo, Code: codes.VehicleRegistered, Actor: v, Resource: v.String(),
		Attrs: map[string]any{"via": "enrollment", "carrier": carrier}})
}

func (a *API) renew(w http.ResponseWriter, r *http.Request) {
	const activity = "renew"
	p, ok := pki.Peer(r)
	if !ok {
		a.refuse(w, r, activity, principal.Principal{}, problem.New(http.StatusForbidden, codes.Unauthenticated,
			"renewal needs the client certificate being renewed"))
		return
	}
	if ok, wait := a.renewLimiter().AllowN(p.String(), 1); !ok {
		pe := problem.New(http.StatusTooManyRequests, codes.RateLimited, "too many renewals for this certificate's identity; retry after the Retry-After delay")
		pe.RetryAfter = ratelimit.RetryAfterSeconds(wait)
		a.refuse(w, r, activity, p, pe)
		return
	}
	var req RenewRequest
	if pe := readJSON(w, r, &req); pe != nil {
		a.refuse(w, r, activity, p, pe)
		return
	}
	if req.CSR == "" {
		a.refuse(w, r, activity, p, problem.New(http.StatusBadRequest, codes.MalformedRequest, "csr is required"))
		return
	}
	if p.Kind == principal.Vehicle {
		v, err := a.Store.GetVehicle(r.Context(), p.ID)
		switch {
		case err == nil && v.Status != store.VehicleActive:
			a.refuse(w, r, activity, p, problem.New(http.StatusForbidden, codes.VehicleSuspended, "the vehicle is "+string(v.Status)))
			return
		case err != nil && !errors.Is(err, store.ErrNotFound):
			problem.Write(w, r, problem.Wrap(err, http.StatusServiceUnavailable, codes.StoreUnavailable, "the vehicle registry is unavailable"))
			return
		}
	}
	is, err := a.CA.Renew(r.Context(), r.TLS.VerifiedChains, []byte(req.CSR))
	if err != nil {
		problem.Write(w, r, err) // Renew emitted the refusal
		return
	}
	httpapi.WriteJSON(w, r, http.StatusCreated, a.response(is))
}

func (a *API) response(is *pki.Issued) Response {
	return Response{Certificate: string(is.ChainPEM()), CA: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.CA.Root().Raw})),
		Serial: is.Record.Serial, NotAfter: is.Record.NotAfter}
}

// keyDetail is the client-safe reason a frame key was refused.
func keyDetail(err error) string {
	if errors.Is(err, ingest.ErrBadKID) {
		return "kid must be 1 to 64 characters of [A-Za-z0-9._:-]"
	}
	return "not a usable public key for its alg (PEM PUBLIC KEY; small-order Ed25519 points and other curves are refused)"
}
