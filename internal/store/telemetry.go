package store

import (
	"context"
	"fmt"
	"time"
)

// Telemetry rows: frame-signing keys, per-vehicle counters and the archive
// of accepted frames. The rules that decide a frame's fate live in package
// ingest; the store only makes the counter check and the append one atomic
// step, so that no (vehicle, epoch, seq) is stored twice by any replica
// (invariant 3, docs/ARCHITECTURE.md).

// TelemetryStore is the part of the contract package ingest uses.
type TelemetryStore interface {
	// AddVehicleKey registers a frame-signing key; ErrConflict if the
	// vehicle already has a key with that kid (active or retired: a kid is
	// never reused). A secret (Alg SecretAlg) must come sealed: a clear one
	// is refused with ErrClearSecret and nothing is written.
	AddVehicleKey(ctx context.Context, k VehicleKey) error
	// RetireVehicleKey marks a key retired; ErrNotFound if absent. Retiring
	// a retired key is a no-op.
	RetireVehicleKey(ctx context.Context, vehicleID, kid string, at time.Time) error
	// GetVehicleKey returns one key (active or retired) or ErrNotFound.
	GetVehicleKey(ctx context.Context, vehicleID, kid string) (VehicleKey, error)
	// ListVehicleKeys returns a vehicle's keys ordered by kid.
	ListVehicleKeys(ctx context.Context, vehicleID string) ([]VehicleKey, error)
	// ListClearSecrets returns every secret (Alg SecretAlg) stored in the
	// clear, i.e. written before schema version 5, ordered by vehicle and
	// kid.
	ListClearSecrets(ctx context.Context) ([]VehicleKey, error)
	// SealVehicleKey replaces the clear secret of key (vehicleID, kid) with
	// sealed and marks it sealed, if the row still holds exactly clear, in
	// the clear; ErrConflict if it does not (another process sealed it
	// first), ErrNotFound if there is no such key. SQLite overwrites the
	// replaced bytes and truncates its WAL so the clear secret does not
	// linger in the database files; PostgreSQL keeps the old row version
	// until it is vacuumed (and in WAL archives and backups), so a secret
	// that was ever stored in the clear should be rotated.
	SealVehicleKey(ctx context.Context, vehicleID, kid string, clear, sealed []byte) error

	// GetCounter returns the vehicle's counter, or ErrNotFound before its
	// first accepted frame or authorized epoch.
	GetCounter(ctx context.Context, vehicleID string) (Counter, error)
	// AdvanceEpoch authorizes a new epoch (an audited operator action): the
	// counter moves to (epoch, -1), so the next accepted frame may have any
	// seq. The epoch only moves forward: ErrConflict if epoch is not greater
	// than the current one.
	AdvanceEpoch(ctx context.Context, vehicleID string, epoch int64, at time.Time) error

	// LookupFrame returns the hash of the stored frame (vehicle, epoch, seq),
	// or ErrNotFound.
	LookupFrame(ctx context.Context, vehicleID string, epoch, seq int64) ([]byte, error)
	// AppendFrames durably appends accepted frames, checking each against the
	// vehicle's counter in the same transaction. It returns one outcome per
	// record, in order; a record whose outcome is not AppendStored changed
	// nothing. window > 0 also admits a frame whose seq is within window
	// below the high-water mark if that (epoch, seq) is not stored yet.
	AppendFrames(ctx context.Context, recs []FrameRecord, window int64) ([]AppendOutcome, error)
	// LatestFrame returns the vehicle's newest stored frame of kind, by
	// (epoch, seq), or ErrNotFound.
	LatestFrame(ctx context.Context, vehicleID, kind string) (FrameRecord, error)
	// ListFrames returns the vehicle's frames with from <= ts < to, ordered
	// by (epoch, seq), at most limit (0: DefaultPage).
	ListFrames(ctx context.Context, vehicleID string, from, to time.Time, limit int) ([]FrameRecord, error)
	// GetFrame returns one stored frame or ErrNotFound.
	GetFrame(ctx context.Context, vehicleID string, epoch, seq int64) (FrameRecord, error)
}

// VehicleKey is a vehicle's frame-signing key, separate from its TLS key.
// Material is the public key's PKIX (SubjectPublicKeyInfo) DER for Ed25519
// and ES256, or, for HS256, the shared secret, sealed (Sealed true) at rest
// (package ingest writes and reads these forms: NewVehicleKey,
// SealVehicleKey, OpenVehicleKey, VerifierFor).
type VehicleKey struct {
	VehicleID string
	KID       string
	Alg       string
	Material  []byte
	Sealed    bool   // Material is sealed (only secrets are)
	Status    string // KeyActive or KeyRetired
	CreatedAt time.Time
	RetiredAt time.Time // zero while active
}

// SecretAlg is the algorithm whose key material is a shared secret
// (frame.AlgHS256): the store writes it only sealed.
const SecretAlg = "HS256"

// checkSealed refuses a clear secret on its way into the store.
func checkSealed(k VehicleKey) error {
	if k.Alg == SecretAlg && !k.Sealed {
		return fmt.Errorf("%w: key %s of vehicle %s", ErrClearSecret, k.KID, k.VehicleID)
	}
	return nil
}

// Key statuses.
const (
	KeyActive  = "active"
	KeyRetired = "retired"
)

// Counter is a vehicle's replay state: the epoch in force and the highest
// seq accepted in it (-1: none yet).
type Counter struct {
	VehicleID string
	Epoch     int64
	HighSeq   int64
	UpdatedAt time.Time
}

// FrameRecord is one accepted frame as archived: the exact received bytes
// of the frame member and its signature, with the verdict.
type FrameRecord struct {
	VehicleID  string
	Epoch, Seq int64
	Kind       string
	TS         time.Time // the frame's own timestamp
	ReceivedAt time.Time // gateway time of acceptance
	Alg, KID   string
	Hash       []byte // SHA-256 of Raw
	Raw        []byte // the frame member's bytes, as received (canonical)
	Sig        []byte
	Verdict    string // "accepted", or "accepted_with_findings"
	Findings   string // comma-separated plausibility finding codes
	// Events are appended to the events table in the same transaction if,
	// and only if, the frame is stored (AppendStored): the decision and its
	// security events are durable together.
	Events []EventRow
}

// AppendOutcome is what AppendFrames did with one record.
type AppendOutcome int

// Outcomes of AppendFrames.
const (
	// AppendStored: stored, and the counter moved (or the window admitted it).
	AppendStored AppendOutcome = iota + 1
	// AppendDuplicate: the same (vehicle, epoch, seq) with the same hash is
	// already stored; nothing changed.
	AppendDuplicate
	// AppendReplay: the (epoch, seq) is not newer than the counter, or is
	// stored with other bytes; nothing changed.
	AppendReplay
	// AppendEpochNotAuthorized: the frame's epoch differs from the epoch in
	// force (or is not 0 for a vehicle's first frame); nothing changed.
	AppendEpochNotAuthorized
)

func (o AppendOutcome) String() string {
	switch o {
	case AppendStored:
		return "stored"
	case AppendDuplicate:
		return "duplicate"
	case AppendReplay:
		return "replay"
	case AppendEpochNotAuthorized:
		return "epoch_not_authorized"
	}
	return "unknown"
}

// decideAppend is the counter rule both engines apply inside their
// transaction. have is the counter (ok=false: none yet); stored is the hash
// already stored at (epoch, seq), or nil.
func decideAppend(have Counter, ok bool, r FrameRecord, stored []byte, window int64) AppendOutcome {
	if stored != nil {
		if string(stored) == string(r.Hash) {
			return AppendDuplicate
		}
		return AppendReplay
	}
	if !ok {
		// A vehicle's first frame must be in epoch 0; later epochs are
		// reached only through AdvanceEpoch.
		if r.Epoch != 0 {
			return AppendEpochNotAuthorized
		}
		return AppendStored
	}
	switch {
	case r.Epoch < have.Epoch:
		return AppendReplay
	case r.Epoch > have.Epoch:
		return AppendEpochNotAuthorized
	case r.Seq > have.HighSeq:
		return AppendStored
	case window > 0 && r.Seq > have.HighSeq-window:
		return AppendStored
	}
	return AppendReplay
}
