package command

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/approval"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Store is what the service needs of the store (store.CommandStore).
type Store interface {
	CreateCommand(ctx context.Context, c store.Command, actor, reason string, idem *store.IdempotencyRecord) error
	GetCommand(ctx context.Context, id string) (store.Command, error)
	ListCommands(ctx context.Context, f store.CommandFilter) ([]store.Command, error)
	TransitionCommand(ctx context.Context, tr store.CommandTransition) (store.Command, error)
	QueueCommand(ctx context.Context, tr store.CommandTransition, nonce []byte, issuedAt time.Time) (store.Command, error)
	AddApproval(ctx context.Context, a store.Approval) error
	ListApprovals(ctx context.Context, command string) ([]store.Approval, error)
	GetIdempotency(ctx context.Context, client, key string, requestSHA256 []byte) (store.IdempotencyRecord, error)
	GetVehicleHold(ctx context.Context, vehicle string) (store.VehicleHold, error)
}

// Approvers answers whether a principal holds the approver role now
// (package authz's live directory, wired by cmd/fifthwheel). An error
// fails the decision closed.
type Approvers interface {
	HoldsApprover(ctx context.Context, p principal.Principal) (bool, error)
}

// Config configures the service. It is data only.
type Config struct {
	Policy approval.Policy
}

// Deps are the service's live dependencies.
type Deps struct {
	Store     Store
	Approvers Approvers
	// Online, if set, reports whether a vehicle has a session now; it
	// only names the reason of the queued transition (vehicle_offline).
	Online func(vehicle string) bool
	// Queued, if set, is told of every command this service queues, after
	// the store committed it (the in-process signal to the delivery side;
	// on PostgreSQL the store notifies store.CommandsChannel too). It must
	// not block.
	Queued func(vehicle string)
	// Now and Rand default to time.Now and crypto/rand.
	Now  func() time.Time
	Rand io.Reader
}

// Service makes the command decisions: creation under the risk policy,
// approvals, cancellation, delivery, answers and expiry. Every method
// returns the security events of its decision in a Decision, which the
// caller emits whatever the error: a refusal is an event too.
type Service struct {
	policy approval.Policy
	st     Store
	appr   Approvers
	online func(string) bool
	queued func(string)
	now    func() time.Time
	rand   io.Reader
}

// New returns a service; cfg.Policy's zero fields take their defaults.
func New(cfg Config, d Deps) (*Service, error) {
	p := cfg.Policy.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if d.Store == nil || d.Approvers == nil {
		return nil, errors.New("command: a store and an approver directory are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Rand == nil {
		d.Rand = rand.Reader
	}
	return &Service{policy: p, st: d.Store, appr: d.Approvers, online: d.Online, queued: d.Queued, now: d.Now, rand: d.Rand}, nil
}

// Policy returns the policy in force (defaults applied).
func (s *Service) Policy() approval.Policy { return s.policy }

// Decision is the outcome of one call: the command as it now is (zero if
// none was found or made) and the security events to emit, in order.
type Decision struct {
	Command store.Command
	Events  []event.Event
}

// Error is a refusal: Code is a catalogue code (package codes) whose
// Status the HTTP layer answers with; Detail is safe to show the client.
type Error struct {
	Code   string
	Detail string
}

func (e *Error) Error() string { return "command: " + e.Code + ": " + e.Detail }

// Sentinel errors callers match with errors.Is.
var (
	// ErrNotFound: no such command (the HTTP layer answers not_found).
	ErrNotFound = errors.New("command: not found")
	// ErrDuplicateRequest: a request under the same Idempotency-Key, with
	// the same body, was stored first (a retry racing the original):
	// answer with the stored response (Replay).
	ErrDuplicateRequest = errors.New("command: a request with this Idempotency-Key is already stored")
)

// System is the actor of the gateway's own transitions (queueing,
// expiry, delivery).
var System = principal.Principal{Kind: principal.System, ID: "gateway"}

// Request is a command a TMS principal asks for.
type Request struct {
	// ID is the command id; "" makes a new one (NewID).
	ID string
	// Vehicle and Carrier: the addressee and its carrier (the caller has
	// checked that the requester may see it).
	Vehicle, Carrier string
	RequestedBy      principal.Principal
	Type             Type
	TenderID         string
	// TenderRevision, when above 0, is the revision of tender
	// (RequestedBy, TenderID) the command was made from: the store creates
	// the command only if the tender is still at it and not cancelled
	// (refused tender_conflict otherwise). A dispatch sets it.
	TenderRevision int64
	Payload        []byte // JSON object, at most MaxPayloadBytes
	// HazmatLines, GrossKg, Handoffs and RiskScore feed the policy
	// (approval.Risk).
	HazmatLines int
	GrossKg     float64
	Handoffs    int
	RiskScore   int
	// TTL: the command's lifetime; 0 takes the policy's CommandTTL.
	TTL time.Duration
	// Idempotency, if set, is stored with the command, atomically.
	Idempotency *Idempotency
}

// Idempotency is a request's Idempotency-Key and how to render the
// response a retry gets.
type Idempotency struct {
	Key           string
	RequestSHA256 []byte
	// Response renders the response to the request that creates c.
	Response func(c store.Command) (status int, body []byte, err error)
}

// NewID returns a new command id: "cmd-", the creation time in
// milliseconds and 80 random bits, in hex, so ids sort by creation time
// (the list's cursor) and never collide by chance.
func (s *Service) NewID() (string, error) {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(s.now().UnixMilli())<<16)
	if _, err := io.ReadFull(s.rand, b[6:]); err != nil {
		return "", fmt.Errorf("command: random id: %v", err)
	}
	return "cmd-" + hex.EncodeToString(b[:]), nil
}

// activities names each code's event activity: the step of the lifecycle
// that decided.
var activities = map[string]string{
	codes.CommandCreated: "command_create", codes.CommandInvalid: "command_create", codes.VehicleCommandsHeld: "command_create", codes.IdempotencyKeyReused: "command_create",
	codes.CommandApprovalRecorded: "command_approve", codes.CommandApprovalRefusedSelf: "command_approve",
	codes.CommandApprovalRefusedDuplicate: "command_approve", codes.CommandApprovalRefusedRole: "command_approve",
	codes.CommandApprovalRefusedState: "command_approve", codes.CommandApprovalExpired: "command_approve", codes.CommandApproved: "command_approve",
	codes.CommandQueued: "command_queue", codes.CommandDelivered: "command_deliver", codes.CommandDeliveryRefused: "command_deliver",
	codes.CommandAccepted: "command_answer", codes.CommandRejected: "command_answer", codes.VehicleMismatch: "command_answer",
	codes.CommandStateConflict: "command_transition", codes.CommandCancelled: "command_cancel", codes.CommandCancelRefused: "command_cancel",
	codes.CommandExpired: "command_expire",
}

// ev builds one event of the command c.
func ev(code string, verdict event.Verdict, actor principal.Principal, c store.Command, attrs map[string]any) event.Event {
	class := event.ClassCommand
	switch code {
	case codes.CommandApprovalRecorded, codes.CommandApprovalRefusedSelf, codes.CommandApprovalRefusedDuplicate,
		codes.CommandApprovalRefusedRole, codes.CommandApprovalRefusedState, codes.CommandApprovalExpired:
		class = event.ClassAuthorization
	}
	if attrs == nil {
		attrs = map[string]any{}
	}
	if c.Vehicle != "" {
		attrs["vehicle"] = c.Vehicle
	}
	if c.Type != "" {
		attrs["type"] = c.Type
	}
	if c.State != "" {
		attrs["state"] = string(c.State)
	}
	res := ""
	if c.ID != "" {
		res = "command:" + c.ID
	}
	return event.Event{Class: class, Activity: activities[code], Severity: codes.SeverityOf(code, event.SeverityInfo), Actor: actor,
		Resource: res, Verdict: verdict, Code: code, Attrs: attrs}
}

// refuse is a refusal with its event.
func refuse(code, detail string, actor principal.Principal, c store.Command, attrs map[string]any) (Decision, error) {
	if attrs == nil {
		attrs = map[string]any{}
	}
	attrs["detail"] = detail
	return Decision{Command: c, Events: []event.Event{ev(code, event.Reject, actor, c, attrs)}}, &Error{Code: code, Detail: detail}
}

// Create validates r, weighs it with the policy and stores the command:
// pending_approval when it needs approvals, else approved and queued at
// once. Refusals: command_invalid, vehicle_commands_held,
// idempotency_key_reused, tender_conflict (r.TenderRevision is no longer
// the tender's, or the tender was cancelled).
func (s *Service) Create(ctx context.Context, r Request) (Decision, error) {
	now := s.now().UTC()
	if r.ID == "" {
		id, err := s.NewID()
		if err != nil {
			return Decision{}, err
		}
		r.ID = id
	}
	ttl := r.TTL
	if ttl == 0 {
		ttl = s.policy.CommandTTL
	}
	c := store.Command{ID: r.ID, Vehicle: r.Vehicle, Carrier: r.Carrier, RequestedBy: r.RequestedBy.String(), Type: string(r.Type),
		TenderID: r.TenderID, Payload: r.Payload, ExpiresAt: now.Add(ttl), CreatedAt: now, UpdatedAt: now, TenderRevision: r.TenderRevision}
	if why := s.invalid(r, ttl); why != "" {
		return refuse(codes.CommandInvalid, why, r.RequestedBy, store.Command{Vehicle: r.Vehicle, Type: string(r.Type)}, nil)
	}
	// A vehicle whose commands an incident's containment holds gets none
	// (package incident); the store also refuses to deliver to it, which
	// covers a hold placed after this check.
	if _, err := s.st.GetVehicleHold(ctx, r.Vehicle); err == nil {
		return refuse(codes.VehicleCommandsHeld, "the vehicle's commands are held by an incident's containment", r.RequestedBy,
			store.Command{Vehicle: r.Vehicle, Type: string(r.Type)}, nil)
	} else if !errors.Is(err, store.ErrNotFound) {
		return Decision{}, err
	}
	a := s.policy.Assess(approval.Risk{RouteUpdate: r.Type == TypeRouteUpdate, Handover: r.Type == TypeHandover,
		HazmatLines: r.HazmatLines, GrossKg: r.GrossKg, Handoffs: r.Handoffs, Score: r.RiskScore})
	c.RiskClass, c.ApprovalsRequired, c.State = string(a.Class), a.Required, PendingApproval
	if a.Required == 0 {
		c.State = Approved
	}
	var idem *store.IdempotencyRecord
	if r.Idempotency != nil {
		status, body, err := r.Idempotency.Response(c)
		if err != nil {
			return Decision{}, err
		}
		idem = &store.IdempotencyRecord{Client: r.RequestedBy.String(), Key: r.Idempotency.Key, RequestSHA256: r.Idempotency.RequestSHA256,
			Status: status, Body: body, Created: now}
	}
	switch err := s.st.CreateCommand(ctx, c, c.RequestedBy, "requested", idem); {
	case errors.Is(err, store.ErrIdempotencyKeyReused):
		return refuse(codes.IdempotencyKeyReused, "the Idempotency-Key was used for another request body", r.RequestedBy, store.Command{}, nil)
	case errors.Is(err, store.ErrTenderChanged):
		return refuse(codes.TenderConflict, "the tender was changed or cancelled while this command was made from it; read it and send the request again",
			r.RequestedBy, store.Command{Vehicle: r.Vehicle, Type: string(r.Type)}, map[string]any{"tender_id": r.TenderID})
	case errors.Is(err, store.ErrConflict) && idem != nil:
		return Decision{}, ErrDuplicateRequest
	case err != nil:
		return Decision{}, err
	}
	d := Decision{Command: c, Events: []event.Event{ev(codes.CommandCreated, event.Accept, r.RequestedBy, c, map[string]any{
		"risk_class": c.RiskClass, "approvals_required": c.ApprovalsRequired, "reasons": a.Reasons, "risk_score": r.RiskScore,
		"expires_at": c.ExpiresAt.Format(time.RFC3339)})}}
	if c.State == Approved {
		s.queue(ctx, &d, now)
	}
	return d, nil
}

// invalid says what is wrong with r, or "".
func (s *Service) invalid(r Request, ttl time.Duration) string {
	switch {
	case !r.Type.Valid():
		return "unknown command type"
	case !principal.ValidID(r.Vehicle):
		return "invalid vehicle id"
	case r.RequestedBy.IsZero():
		return "no requester"
	case !principal.ValidID(r.ID):
		return "invalid command id"
	case len(r.Payload) > MaxPayloadBytes:
		return fmt.Sprintf("payload over %d bytes", MaxPayloadBytes)
	case len(r.Payload) == 0 || r.Payload[0] != '{' || !json.Valid(r.Payload):
		return "payload is not a JSON object"
	case ttl <= 0 || ttl > s.policy.MaxCommandTTL:
		return fmt.Sprintf("expiry must be within %v", s.policy.MaxCommandTTL)
	case r.TenderID != "" && !principal.ValidID(r.TenderID):
		return "invalid tender id"
	}
	return ""
}

// Replay looks up a request's Idempotency-Key before anything is done:
// (record, nil) answers the retry with the stored response; (nil, nil)
// means none is stored, go ahead; idempotency_key_reused when the key was
// used for another body.
func (s *Service) Replay(ctx context.Context, client principal.Principal, key string, requestSHA256 []byte) (*store.IdempotencyRecord, Decision, error) {
	rec, err := s.st.GetIdempotency(ctx, client.String(), key, requestSHA256)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, Decision{}, nil
	case errors.Is(err, store.ErrIdempotencyKeyReused):
		d, err := refuse(codes.IdempotencyKeyReused, "the Idempotency-Key was used for another request body", client, store.Command{}, nil)
		return nil, d, err
	case err != nil:
		return nil, Decision{}, err
	}
	return &rec, Decision{}, nil
}

// Get returns a command; ErrNotFound if absent.
func (s *Service) Get(ctx context.Context, id string) (store.Command, error) {
	c, err := s.st.GetCommand(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Command{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return c, err
}

// queue moves d.Command from approved to queued with a fresh nonce; the
// store assigns the vehicle's next cmd_seq in the same transaction. A
// failure leaves the command approved for Sweep to queue; it is not the
// caller's error (its own decision stands).
func (s *Service) queue(ctx context.Context, d *Decision, now time.Time) {
	nonce := make([]byte, NonceBytes)
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return
	}
	reason := "awaiting_delivery"
	if s.online != nil {
		reason = codes.VehicleOnline
		if !s.online(d.Command.Vehicle) {
			reason = codes.VehicleOffline
		}
	}
	c, err := s.st.QueueCommand(ctx, store.CommandTransition{ID: d.Command.ID, From: Approved, To: Queued, At: now, Actor: System.String(), Reason: reason}, nonce, now)
	if err != nil {
		if cur, gerr := s.st.GetCommand(ctx, d.Command.ID); gerr == nil {
			d.Command = cur
		}
		return
	}
	d.Command = c
	if s.queued != nil {
		s.queued(c.Vehicle)
	}
	d.Events = append(d.Events, ev(codes.CommandQueued, event.Info, System, c, map[string]any{"cmd_seq": c.CmdSeq, "reason": reason}))
}
