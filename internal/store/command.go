package store

import (
	"context"
	"errors"
	"time"
)

// CommandStore holds the commands the TMS sends trucks (issue 20): tenders
// as received and answered, commands with their state and every
// transition, approvals, the per-vehicle command counter, Idempotency-Key
// records and the webhook outbox. The store keeps rows and decides races;
// what a state means, which transitions are allowed, how many approvals a
// command needs and whether one counts are package command's.
//
// Races are decided here, once, by whichever replica asks first: a state
// change is a conditional update ("to, where the state is still from"), so
// of a cancel and a delivery of the same queued command exactly one
// succeeds and the other gets ErrConflict; an approval's key is (command,
// approver), so a principal approving twice gets ErrConflict; a vehicle's
// cmd_seq is taken from its counter in the transaction that queues the
// command, so no two commands of a vehicle ever share one, across replicas;
// a dispatch is stored only if its tender is still at the revision it was
// made from and not cancelled (Command.TenderRevision), and a change
// (ReviseTender) only if no dispatch of the tender exists, so of a change
// and a dispatch of one tender exactly one wins.
type CommandStore interface {
	// CreateTender stores a tender and its answer, with idem (if not nil)
	// in the same transaction. ErrConflict if the client's tender id
	// exists; idem's errors as PutIdempotency's.
	CreateTender(ctx context.Context, t Tender, idem *IdempotencyRecord) error
	// GetTender returns a client's tender (its current revision) or
	// ErrNotFound.
	GetTender(ctx context.Context, client, id string) (Tender, error)
	// ReviseTender replaces a client's tender with t, its next revision
	// (t.Revision, one above the stored one), and keeps the replaced
	// revision in its history (TenderRevisions), with idem (if not nil),
	// in one transaction. ErrNotFound if the tender does not exist;
	// ErrConflict if its revision is not t.Revision-1 or it is cancelled;
	// ErrTenderDispatched if a dispatch of it exists (a command was made
	// from its content); idem's errors as PutIdempotency's. Nothing is
	// changed on any error. t.Created and t.Cancelled are ignored (the
	// revision is stored at t.Updated).
	ReviseTender(ctx context.Context, t Tender, idem *IdempotencyRecord) error
	// CancelTender marks a client's tender cancelled by by at at, and
	// returns it as it now is; cancelled is false if it was cancelled
	// already (then nothing changes: the first cancel's time and actor
	// stay). ErrNotFound if it does not exist.
	CancelTender(ctx context.Context, client, id, by string, at time.Time) (t Tender, cancelled bool, err error)
	// TenderRevisions returns the superseded revisions of a client's
	// tender, oldest first (the current one is GetTender's).
	TenderRevisions(ctx context.Context, client, id string) ([]Tender, error)
	// TenderCommands returns the commands of a client's tender: those
	// carrying its id on the vehicles the client dispatched it to (its
	// dispatches and their route updates), ordered by id, after the
	// cursor after (""), at most limit (0: DefaultPage; bounded by
	// MaxPage).
	TenderCommands(ctx context.Context, client, id, after string, limit int) ([]Command, error)

	// CreateCommand stores c and its first transition (from "" to c.State,
	// at c.CreatedAt, by actor, for reason), with idem (if not nil), in one
	// transaction. ErrConflict if c.ID exists; idem's errors as
	// PutIdempotency's; nothing is stored on any error. c.CmdSeq, Nonce,
	// IssuedAt, DeliveredBy, Verdict and AnswerReason are ignored (set by
	// QueueCommand and TransitionCommand).
	CreateCommand(ctx context.Context, c Command, actor, reason string, idem *IdempotencyRecord) error
	// GetCommand returns one command or ErrNotFound.
	GetCommand(ctx context.Context, id string) (Command, error)
	// ListCommands returns the commands f selects, ordered by id, at most
	// f.Limit (0: DefaultPage; bounded by MaxPage).
	ListCommands(ctx context.Context, f CommandFilter) ([]Command, error)
	// ListQueuedCommands returns a vehicle's queued commands in cmd_seq
	// order, at most limit (0: DefaultPage): what to deliver, in order.
	ListQueuedCommands(ctx context.Context, vehicle string, limit int) ([]Command, error)
	// CommandTransitions returns a command's transitions, oldest first.
	CommandTransitions(ctx context.Context, id string) ([]CommandTransition, error)
	// TransitionCommand moves command tr.ID from tr.From to tr.To and
	// records the transition, in one transaction, and returns the command
	// as it now is. ErrConflict, and no change, if its state is not
	// tr.From (another transition won); ErrNotFound if it does not exist.
	// tr.DeliveredBy, tr.Verdict and tr.AnswerReason, when not empty, are
	// set on the command. tr.To must not be CommandQueued (QueueCommand).
	TransitionCommand(ctx context.Context, tr CommandTransition) (Command, error)
	// QueueCommand moves command tr.ID from tr.From to CommandQueued as
	// TransitionCommand does, and in the same transaction assigns it the
	// next cmd_seq of its vehicle (1 for the first; strictly increasing,
	// never reused), nonce and issuedAt; on PostgreSQL it notifies
	// CommandsChannel with the vehicle id. tr.To is ignored.
	QueueCommand(ctx context.Context, tr CommandTransition, nonce []byte, issuedAt time.Time) (Command, error)
	// LastCmdSeq returns the last cmd_seq assigned to vehicle (0: none).
	LastCmdSeq(ctx context.Context, vehicle string) (int64, error)

	// AddApproval records an approval. ErrNotFound if the command does not
	// exist; ErrConflict if a.Approver already approved it with an approval
	// unexpired at a.At. An expired approval of the same approver is
	// replaced (the approver renews it), in one conditional statement.
	AddApproval(ctx context.Context, a Approval) error
	// ListApprovals returns a command's approvals, oldest first: the one
	// that counts per approver (a renewal replaces an expired approval).
	ListApprovals(ctx context.Context, command string) ([]Approval, error)
	// ApprovalHistory returns every approval ever recorded for a command,
	// renewals and the expired approvals they replaced included, oldest
	// first: the rows the approvals' audit items were taken from.
	ApprovalHistory(ctx context.Context, command string) ([]Approval, error)

	// PutIdempotency stores r. ErrConflict if r's (Client, Key) is stored
	// with the same RequestSHA256 (a concurrent retry was first: read it
	// with GetIdempotency and answer with it); ErrIdempotencyKeyReused if
	// it is stored with another.
	PutIdempotency(ctx context.Context, r IdempotencyRecord) error
	// GetIdempotency returns the record under (client, key) if it was
	// stored for a request of the same SHA-256; ErrIdempotencyKeyReused if
	// for another; ErrNotFound if none.
	GetIdempotency(ctx context.Context, client, key string, requestSHA256 []byte) (IdempotencyRecord, error)
	// PruneIdempotency deletes the records created before before and
	// returns how many.
	PruneIdempotency(ctx context.Context, before time.Time) (int, error)

	// EnqueueWebhook appends m to the outbox (due at m.NextAttemptAt) and
	// returns its id; m.ID, Attempts, DeliveredAt and Dead are ignored.
	EnqueueWebhook(ctx context.Context, m WebhookMessage) (int64, error)
	// ClaimWebhooks takes up to limit messages due at now (not delivered,
	// not dead), oldest id first: each one's attempts grows by one and its
	// next attempt moves to now+lease, so another replica claims it only
	// if this one neither marks nor reschedules it within lease.
	ClaimWebhooks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]WebhookMessage, error)
	// MarkWebhookDelivered records a delivery; ErrNotFound if absent.
	MarkWebhookDelivered(ctx context.Context, id int64, at time.Time) error
	// RescheduleWebhook sets a message's next attempt; ErrNotFound if
	// absent, delivered or dead.
	RescheduleWebhook(ctx context.Context, id int64, next time.Time) error
	// MarkWebhookDead gives a message up (dead letter); ErrNotFound if
	// absent.
	MarkWebhookDead(ctx context.Context, id int64) error
}

// ErrTenderDispatched reports a tender change refused because a command
// was made from the tender (ReviseTender).
var ErrTenderDispatched = errors.New("store: the tender has commands")

// ErrTenderChanged reports a command not created because its tender is
// not at the revision it was made from, or is cancelled (CreateCommand
// with Command.TenderRevision).
var ErrTenderChanged = errors.New("store: the tender changed or was cancelled")

// ErrIdempotencyKeyReused reports an Idempotency-Key stored for a request
// with another body: the HTTP layer answers 409 idempotency_key_reused.
var ErrIdempotencyKeyReused = errors.New("store: idempotency key reused with another request")

// CommandsChannel is the LISTEN/NOTIFY channel QueueCommand notifies on
// PostgreSQL, in its transaction; the payload is the vehicle id. The
// replica holding that vehicle's session delivers; every replica must
// also poll ListQueuedCommands (a notification can be lost).
const CommandsChannel = "fifthwheel_commands"

// CommandState is a command's state as stored. Package command owns the
// state machine; the store needs the names only to index them and to
// queue.
type CommandState string

// The command states (package command documents each).
const (
	CommandPendingApproval CommandState = "pending_approval"
	CommandApproved        CommandState = "approved"
	CommandQueued          CommandState = "queued"
	CommandDelivered       CommandState = "delivered"
	CommandAccepted        CommandState = "accepted"
	CommandRejected        CommandState = "rejected"
	CommandExpired         CommandState = "expired"
	CommandCancelled       CommandState = "cancelled"
)

// Tender is a load tender as received, with the gateway's answer.
type Tender struct {
	Client   string // the TMS client that sent it
	ID       string // the client's tender id
	Carrier  string
	Purpose  string // original, change (of this revision)
	Body     []byte // the request body of this revision, JSON, as received
	Answer   string // accept or decline (of this revision)
	Reasons  []string
	Created  time.Time // when the original was stored
	Revision int64     // 1 for the original, +1 per change (0 is read as 1)
	Updated  time.Time // when this revision was stored (Created for the original)
	// Cancelled is when the tender was cancelled (zero: it was not), by
	// CancelledBy (a principal URI).
	Cancelled   time.Time
	CancelledBy string
}

// Command is a command as stored.
type Command struct {
	ID                string
	Vehicle           string
	Carrier           string
	RequestedBy       string // the requester's principal URI
	Type              string // tender, dispatch, route_update, handover, cancel
	TenderID          string // the tender a dispatch carries; "": none
	Payload           []byte // JSON
	RiskClass         string
	ApprovalsRequired int
	State             CommandState
	CmdSeq            int64  // 0 until queued
	Nonce             []byte // nil until queued
	IssuedAt          time.Time
	ExpiresAt         time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
	DeliveredBy       string // the replica that delivered it
	Verdict           string // the vehicle's answer: accepted or rejected
	AnswerReason      string
	// TenderRevision, when above 0, is a precondition of CreateCommand,
	// not a column: the tender (RequestedBy, TenderID) must be at this
	// revision and not cancelled when the command is stored, or nothing
	// is stored and CreateCommand returns ErrTenderChanged. A dispatch
	// sets it to the revision it was made from.
	TenderRevision int64
}

// CommandFilter selects commands. Scope must be set: its zero value
// selects none (fail closed).
type CommandFilter struct {
	Scope   CarrierScope
	Vehicle string       // "": any
	State   CommandState // "": any
	After   string       // cursor: only ids greater than it
	// ExpiresBy, if not zero, selects only the commands not yet delivered
	// (pending_approval, approved, queued) whose expiry is at or before
	// it: what the expiry sweeper moves to expired.
	ExpiresBy time.Time
	Limit     int
}

// CommandTransition is one state change of a command.
type CommandTransition struct {
	ID     string // the command
	From   CommandState
	To     CommandState
	At     time.Time
	Actor  string // principal URI
	Reason string
	// Set on the command when not empty (TransitionCommand).
	DeliveredBy, Verdict, AnswerReason string
}

// Approval is one principal's approval of a command.
type Approval struct {
	Command   string
	Approver  string // principal URI
	At        time.Time
	ExpiresAt time.Time
}

// IdempotencyRecord is the first response to a client's Idempotency-Key.
type IdempotencyRecord struct {
	Client        string
	Key           string
	RequestSHA256 []byte
	Status        int
	Body          []byte
	Created       time.Time
}

// WebhookMessage is one outbox entry.
type WebhookMessage struct {
	ID            int64
	Client        string
	EventType     string
	Body          []byte
	Attempts      int
	NextAttemptAt time.Time
	CreatedAt     time.Time
	DeliveredAt   time.Time // zero: not delivered
	Dead          bool
}
