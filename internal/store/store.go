// Package store is fifthwheel's persistence: one contract, two engines.
//
// The embedded default is SQLite (modernc.org/sqlite, pure Go): WAL journal,
// synchronous=FULL, and a single writer goroutine that group-commits the
// write requests queued while the previous transaction was being made
// durable. PostgreSQL (jackc/pgx v5) is for several gateway replicas sharing
// one database; its frame appends are group-committed too.
//
// # Write path
//
// AppendFrames is the hot write: a call is decided in memory against the
// counters read under lock (appendPlan) and written in few statements
// (multi-row inserts on SQLite, array inserts in one pipelined batch on
// PostgreSQL). A heartbeat leaves no frames row: the counter's high-water
// mark, a mask of the seqs heartbeats took within the out-of-order window,
// and the vehicle's latest signed heartbeat are what make its ack true.
// Writes are served in priority order: heartbeat calls first (a truck whose
// heartbeat goes unanswered stops), then other writes, then bulk writes
// (Bulk). On SQLite they are three lanes of the one writer, whose commits
// are bounded (MaxGroupCommit requests, MaxCommitRows rows), so a heartbeat
// waits for at most the commit in progress and its own; on PostgreSQL
// heartbeat calls have committers and connections of their own.
//
// # Security model
//
// The store knows rows and transactions, not HTTP, tokens or policy. A write
// returns only once it is durable (fsync on SQLite, commit on PostgreSQL): the
// callers build "acknowledge only after durable" on that promise. Every read or
// write that cannot complete returns an error; callers fail closed on it. No
// (vehicle, epoch, seq) is accepted twice, heartbeats included: the counter
// check and the append are one transaction, counter rows are locked in
// vehicle id order on PostgreSQL, and the frames primary key is the last
// line (invariant 3, docs/ARCHITECTURE.md).
//
// # Compatibility
//
// The schema is versioned. Migrations are applied at start and by
// `fifthwheel store migrate`; a store whose schema is newer than the binary is
// refused with ErrSchemaTooNew and left untouched. Both engines pass the same
// conformance suite (conformance_test.go); a change to the contract changes
// both engines and the suite in the same commit.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors callers match with errors.Is.
var (
	// ErrNotFound reports that the requested row does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict reports that a row with the same key already exists, or that
	// a conditional update lost its race.
	ErrConflict = errors.New("store: conflict")
	// ErrSchemaTooNew reports a store written by a newer fifthwheel.
	ErrSchemaTooNew = errors.New("store: schema is newer than this binary")
	// ErrClosed reports use of a store after Close.
	ErrClosed = errors.New("store: closed")
	// ErrClearSecret reports a secret (an HS256 key) offered for storage
	// without being sealed: the store never writes one in the clear.
	ErrClearSecret = errors.New("store: a secret must be sealed before it is stored")
)

// Store is the contract both engines implement. It is deliberately the one
// wide interface of the project; domain packages declare the few methods they
// use as their own small interfaces.
type Store interface {
	// Engine names the engine: "sqlite" or "postgres".
	Engine() string
	// Ping checks that the store can serve reads and writes now.
	Ping(ctx context.Context) error
	// SchemaVersion returns the applied schema version.
	SchemaVersion(ctx context.Context) (int, error)
	// Close flushes pending writes and releases the store.
	Close() error

	// AppendEvents durably appends security events in order.
	AppendEvents(ctx context.Context, evs []EventRow) error
	// ListEvents returns events matching f, oldest first.
	ListEvents(ctx context.Context, f EventFilter) ([]EventRow, error)
	// GetEvent returns the event with id, or ErrNotFound.
	GetEvent(ctx context.Context, id string) (EventRow, error)

	// CreateVehicle registers a vehicle; ErrConflict if the id exists.
	CreateVehicle(ctx context.Context, v Vehicle) error
	// GetVehicle returns one vehicle or ErrNotFound.
	GetVehicle(ctx context.Context, id string) (Vehicle, error)
	// ListVehicles returns every vehicle ordered by id.
	ListVehicles(ctx context.Context) ([]Vehicle, error)
	// SetVehicleStatus changes a vehicle's status and bumps the vehicle
	// status version in the same transaction (on PostgreSQL it also
	// notifies VehicleStatusChannel); ErrNotFound, and no change, if absent.
	SetVehicleStatus(ctx context.Context, id string, status VehicleStatus) error
	// VehicleStatusVersion returns the vehicle status change counter: it
	// moves with every SetVehicleStatus, so replicas poll it cheaply and
	// list the vehicles only when it moved.
	VehicleStatusVersion(ctx context.Context) (int64, error)
	// RegistryChanges reads the registry change feed (registry.go): the
	// changes with after < Version <= latest, oldest first, at most limit
	// (0: DefaultPage), and latest, the newest change's version (0: none
	// yet), read in one statement.
	RegistryChanges(ctx context.Context, after int64, limit int) (changes []RegistryChange, latest int64, err error)

	// CreateClient registers a TMS client; ErrConflict if the id exists.
	// It bumps the authority version (authority.go).
	CreateClient(ctx context.Context, c Client) error
	// GetClient returns one client or ErrNotFound.
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients returns every client ordered by id.
	ListClients(ctx context.Context) ([]Client, error)

	// PutSetting stores a value under key, replacing any previous value.
	PutSetting(ctx context.Context, key string, value []byte) error
	// GetSetting returns the value under key or ErrNotFound.
	GetSetting(ctx context.Context, key string) ([]byte, error)

	TelemetryStore
	RetentionStore
	PKIStore
	AuthorityStore
	CommandStore
	WebhookStore
	TrackingStore
	AuditStore
	StreamStore
	IncidentStore
	SIEMStore
}

// EventRow is a security event as stored: the indexed columns plus the full
// event as JSON. The store does not interpret Body.
type EventRow struct {
	Seq     int64     // assigned by the store on append, strictly increasing
	ID      string    // event id (unique)
	Time    time.Time // when the event happened
	Class   string    // OCSF-like class name, e.g. "authentication"
	Verdict string    // "accept", "reject", "info"
	Code    string    // stable reason code
	Subject string    // principal or resource the event is about
	Body    []byte    // the whole event, JSON
}

// EventFilter selects events. Zero fields match everything.
type EventFilter struct {
	AfterSeq int64 // only events with Seq > AfterSeq
	Code     string
	Subject  string
	Limit    int // 0 means the default page size
}

// VehicleStatus is a vehicle's registry status. Only an active vehicle is
// admitted: every check compares with VehicleActive, so any other value,
// one this version does not know included, refuses (fail closed).
type VehicleStatus string

// The vehicle statuses.
const (
	VehicleActive    VehicleStatus = "active"
	VehicleSuspended VehicleStatus = "suspended" // by an operator; `vehicle resume` makes it active again
	VehicleRetired   VehicleStatus = "retired"
)

// ClientStatus is a TMS client's registry status.
type ClientStatus string

// The client statuses.
const (
	ClientActive    ClientStatus = "active"
	ClientSuspended ClientStatus = "suspended"
)

// Vehicle is a registry entry.
type Vehicle struct {
	ID     string
	Status VehicleStatus
	// Carrier is the carrier the vehicle belongs to; "": none yet (no
	// client sees it).
	Carrier   string
	CreatedAt time.Time
	Labels    map[string]string
}

// Client is a TMS client registry entry.
type Client struct {
	ID        string
	Name      string
	Status    ClientStatus
	CreatedAt time.Time
	// Carrier is the carrier whose vehicles the client sees; "": none.
	Carrier string
	// Roles are the client's role names (package authz); none: it may do
	// nothing.
	Roles []string
	// AllowedSources are the source prefixes (CIDR) the client may call
	// from; none: any.
	AllowedSources []string
	// Hours is the client's usual hours, "HH:MM-HH:MM" UTC; "": any.
	Hours string
}

// Config selects and tunes an engine. Exactly one of DataDir and URL is set.
type Config struct {
	// DataDir holds the embedded SQLite database (DataDir/fifthwheel.db).
	DataDir string
	// URL is a postgres:// or postgresql:// connection URL.
	URL string
	// Create permits creating DataDir and an empty database in it. Without
	// it, a missing data directory is an error naming what to run.
	Create bool
	// NoMigrate opens without applying migrations; the schema must already
	// be current (used by read-only tools).
	NoMigrate bool
}

type bulkKey struct{}

// Bulk marks the writes made under ctx as bulk (backfill, imports), so a
// burst of them cannot delay live traffic: the embedded engine, whose single
// writer serializes every write, commits them after the other queued writes;
// PostgreSQL runs at most PostgresBulkWriters of frame appends at once.
// Durability and results are unchanged.
func Bulk(ctx context.Context) context.Context { return context.WithValue(ctx, bulkKey{}, true) }

func isBulk(ctx context.Context) bool { b, _ := ctx.Value(bulkKey{}).(bool); return b }
