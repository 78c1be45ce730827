package store

import (
	"context"
	"fmt"
	"time"
)

// Telemetry rows: frame-signing keys, per-vehicle counters, the archive of
// accepted telemetry frames and each vehicle's latest heartbeat. The rules
// that decide a frame's fate live in package ingest; the store only makes
// the counter check and the append one atomic step, so that no (vehicle,
// epoch, seq) is accepted twice by any replica (invariant 3,
// docs/ARCHITECTURE.md).
//
// Heartbeats (one a second per truck) leave no frames row. What their ack
// promises is kept instead, in the same transaction as the counter check:
// the counter's high-water mark, the vehicle's latest signed heartbeat
// (whose exact re-send is thus still answered as a duplicate; an older
// heartbeat re-sent is a replay, stale_counter to the vehicle), and a
// 64-bit mask of the seqs heartbeats took in [high-63, high], so that a
// telemetry frame the out-of-order window admits cannot reuse one. The
// mask is as wide as the widest window (MaxAppendWindow).

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

	// LookupFrame returns the hash of the stored frame (vehicle, epoch, seq):
	// a frames row, or the vehicle's latest heartbeat; ErrNotFound
	// otherwise (an older heartbeat included).
	LookupFrame(ctx context.Context, vehicleID string, epoch, seq int64) ([]byte, error)
	// AppendFrames durably appends accepted frames, checking each against the
	// vehicle's counter in the same transaction. It returns one outcome per
	// record, in order; a record whose outcome is not AppendStored changed
	// nothing. window (0..MaxAppendWindow, else an error) > 0 also admits a
	// frame whose seq is within window below the high-water mark if that
	// (epoch, seq) was taken by no frame and no heartbeat. A heartbeat
	// (Kind HeartbeatKind) is stored as the vehicle's latest heartbeat if it
	// is newer than it, not as a frames row. A call of heartbeats only runs
	// ahead of other writes: the SQLite writer's priority lane, connections
	// of their own on PostgreSQL.
	AppendFrames(ctx context.Context, recs []FrameRecord, window int64) ([]AppendOutcome, error)
	// LatestFrame returns the vehicle's newest stored frame of kind, by
	// (epoch, seq), or ErrNotFound. For HeartbeatKind that is the latest
	// heartbeat AppendFrames kept (or, on a database written before schema
	// version 7 and no heartbeat since, its newest heartbeat frames row).
	LatestFrame(ctx context.Context, vehicleID, kind string) (FrameRecord, error)
	// ListFrames returns the vehicle's frames rows with from <= ts < to,
	// ordered by (epoch, seq), at most limit (0: DefaultPage): telemetry,
	// and the heartbeats of databases written before schema version 7.
	ListFrames(ctx context.Context, vehicleID string, from, to time.Time, limit int) ([]FrameRecord, error)
	// GetFrame returns one stored frame (a frames row, or the vehicle's
	// latest heartbeat) or ErrNotFound.
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
	Hash       []byte // SHA-256 of Raw (as received: kept when Raw is purged)
	Raw        []byte // the frame member's bytes, as received (canonical); empty once purged
	Sig        []byte // empty once purged
	Verdict    string // "accepted", or "accepted_with_findings"
	Findings   string // comma-separated plausibility finding codes
	// PurgedAt is when retention emptied Raw and Sig (retention.go); zero
	// while the payload is kept. A purged row's Raw is not the frame.
	PurgedAt time.Time
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
	// already stored (a frames row or the latest heartbeat); nothing changed.
	AppendDuplicate
	// AppendReplay: the (epoch, seq) is not newer than the counter (nor
	// admitted by the window), or is stored with other bytes, or a
	// heartbeat took it; nothing changed.
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

// HeartbeatKind is the Kind of a heartbeat record (package frame's
// KindHeartbeat: the store imports nothing of the module, and package
// ingest's tests check that the two agree). AppendFrames keeps no frames row
// for a heartbeat: it moves the vehicle's counter, marks the seq taken, and
// replaces the vehicle's latest heartbeat if it is newer.
const HeartbeatKind = "heartbeat"

// frameKey names one (vehicle, epoch, seq).
type frameKey struct {
	vehicle    string
	epoch, seq int64
}

// heartbeatRef is a vehicle's latest stored heartbeat, as far as the
// counter rule needs it.
type heartbeatRef struct {
	ok         bool
	epoch, seq int64
	hash       []byte
}

// vehicleState is one vehicle's replay state inside an AppendFrames call:
// what the engine read under its lock, then moved by the records the call
// stores. Both engines write back what the call changed.
type vehicleState struct {
	c  Counter
	ok bool // a counter exists: a frame accepted or an epoch authorized
	// mask: bit d set means seq c.HighSeq-d (d < MaxAppendWindow) was taken
	// by a heartbeat, which leaves no frames row for the window to find.
	mask  uint64
	hb    heartbeatRef
	hbRec *FrameRecord // the newer heartbeat this call stored, to write
	dirty bool         // the counter moved
}

// storedHash is the hash of the heartbeat stored at (epoch, seq), if it is
// the vehicle's latest; nil otherwise.
func (s *vehicleState) storedHash(epoch, seq int64) []byte {
	if s.hb.ok && s.hb.epoch == epoch && s.hb.seq == seq {
		return s.hb.hash
	}
	return nil
}

// mayBeStored reports whether a frames row could exist at r's (epoch, seq)
// before the call: every row of the counter's epoch is at or below its
// high-water mark (they move in one transaction), and a later epoch has no
// rows (an epoch is authorized before its first frame and only moves
// forward). Only then does an engine need to look the row up, which spares
// the common case, a frame newer than the mark, a query.
func (s *vehicleState) mayBeStored(r FrameRecord) bool {
	return !s.ok || r.Epoch < s.c.Epoch || (r.Epoch == s.c.Epoch && r.Seq <= s.c.HighSeq)
}

// heartbeatTook reports whether a heartbeat took seq of the counter's epoch.
func (s *vehicleState) heartbeatTook(seq int64) bool {
	d := s.c.HighSeq - seq
	return d >= 0 && d < MaxAppendWindow && s.mask&(1<<uint(d)) != 0
}

// accept moves the state by the stored record r.
func (s *vehicleState) accept(r *FrameRecord) {
	switch {
	case !s.ok:
		s.c.Epoch, s.c.HighSeq, s.mask, s.ok = r.Epoch, r.Seq, 0, true
	case r.Seq > s.c.HighSeq:
		if d := r.Seq - s.c.HighSeq; d >= MaxAppendWindow {
			s.mask = 0
		} else {
			s.mask <<= uint(d)
		}
		s.c.HighSeq = r.Seq
	}
	s.dirty = true
	if r.Kind != HeartbeatKind {
		return
	}
	if d := s.c.HighSeq - r.Seq; d < MaxAppendWindow {
		s.mask |= 1 << uint(d)
	}
	if !s.hb.ok || r.Epoch > s.hb.epoch || (r.Epoch == s.hb.epoch && r.Seq > s.hb.seq) {
		s.hb = heartbeatRef{ok: true, epoch: r.Epoch, seq: r.Seq, hash: r.Hash}
		s.hbRec = r
	}
}

// appendPlan decides AppendFrames calls in memory, in order, against the
// states of their vehicles (read under the engine's lock), moving the
// states as records are stored, and gathers what to write. Calls planned
// together commit together: a later call sees what an earlier one stored.
type appendPlan struct {
	states map[string]*vehicleState
	// lookup returns the hash of the frames row that existed at k before
	// the transaction, or nil; it is asked only when one may exist
	// (mayBeStored).
	lookup func(frameKey) ([]byte, error)
	fresh  map[frameKey][]byte // frames rows planned so far
	frames []*FrameRecord      // frames rows to insert (stored records but heartbeats)
	events []EventRow          // the events of every stored record, in order
}

func newAppendPlan(states map[string]*vehicleState, lookup func(frameKey) ([]byte, error)) *appendPlan {
	return &appendPlan{states: states, lookup: lookup, fresh: map[frameKey][]byte{}}
}

// add applies the counter rule to the records of one call and returns
// their outcomes.
func (p *appendPlan) add(recs []FrameRecord, window int64) ([]AppendOutcome, error) {
	out := make([]AppendOutcome, len(recs))
	for i := range recs {
		r := &recs[i]
		s := p.states[r.VehicleID]
		k := frameKey{r.VehicleID, r.Epoch, r.Seq}
		stored := p.fresh[k]
		if stored == nil {
			stored = s.storedHash(r.Epoch, r.Seq)
		}
		if stored == nil && s.mayBeStored(*r) {
			var err error
			if stored, err = p.lookup(k); err != nil {
				return nil, err
			}
		}
		out[i] = decideAppend(s, *r, stored, window)
		if out[i] != AppendStored {
			continue
		}
		s.accept(r)
		if r.Kind != HeartbeatKind {
			p.fresh[k] = r.Hash
			p.frames = append(p.frames, r)
		}
		p.events = append(p.events, r.Events...)
	}
	return out, nil
}

// checkWindow refuses an out-of-order window the heartbeat mask cannot
// cover: beyond it a late frame could reuse a seq a heartbeat took.
func checkWindow(window int64) error {
	if window < 0 || window > MaxAppendWindow {
		return fmt.Errorf("store: out-of-order window %d is outside 0..%d", window, MaxAppendWindow)
	}
	return nil
}

// onlyHeartbeats reports whether recs are all heartbeats: such a call is a
// vehicle's liveness and takes the priority lane (SQLite) or the reserved
// connections (PostgreSQL), never waiting behind telemetry.
func onlyHeartbeats(recs []FrameRecord) bool {
	for i := range recs {
		if recs[i].Kind != HeartbeatKind {
			return false
		}
	}
	return len(recs) > 0
}

// decideAppend is the counter rule both engines apply inside their
// transaction. s is the vehicle's state; stored is the hash already stored
// at (epoch, seq) (a frames row, or the latest heartbeat), or nil.
func decideAppend(s *vehicleState, r FrameRecord, stored []byte, window int64) AppendOutcome {
	if stored != nil {
		if string(stored) == string(r.Hash) {
			return AppendDuplicate
		}
		return AppendReplay
	}
	if !s.ok {
		// A vehicle's first frame must be in epoch 0; later epochs are
		// reached only through AdvanceEpoch.
		if r.Epoch != 0 {
			return AppendEpochNotAuthorized
		}
		return AppendStored
	}
	have := s.c
	switch {
	case r.Epoch < have.Epoch:
		return AppendReplay
	case r.Epoch > have.Epoch:
		return AppendEpochNotAuthorized
	case r.Seq > have.HighSeq:
		return AppendStored
	case window > 0 && r.Seq > have.HighSeq-window && !s.heartbeatTook(r.Seq):
		// Late, inside the window, and neither a frames row (stored is
		// nil) nor a heartbeat holds this seq.
		return AppendStored
	}
	return AppendReplay
}
