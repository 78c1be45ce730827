package store

import (
	"context"
	"time"
)

// Retention of raw telemetry (issue 21, docs/OPERATIONS.md "Retention").
//
// A purge empties the payload of old frames rows, raw (the frame member's
// bytes) and sig (the signature over them, which proves nothing once they
// are gone), and marks the row purged. It keeps everything else: the key
// (vehicle, epoch, seq), kind, frame and receive times, alg and kid, the
// verdict and findings, and hash, the SHA-256 of raw as received. That is
// what the counter rule and the audit log need: an exact re-send of a purged
// frame still compares equal to hash (AppendDuplicate), another frame at the
// same (vehicle, epoch, seq) still differs (AppendReplay), and the audit
// item of the row (the SHA-256 of raw) is hash. The vehicle's latest
// heartbeat (vehicle_heartbeats, one row a vehicle) is never purged.
//
// Work is bounded per call: at most limit rows purged and limit vehicles
// examined, in one transaction, on the SQLite writer's bulk lane (behind
// heartbeats and live telemetry) or a bulk slot and one short transaction
// on PostgreSQL. Rows are found per vehicle through the (vehicle, ts) index
// from the vehicle's purge mark, the time below which every row of the
// vehicle is already purged, so a purge never re-reads the rows earlier
// purges emptied (they stay forever). A frame that arrives after the mark
// passed its ts (backfill older than the retention) is kept until a purge
// with an earlier mark; docs/OPERATIONS.md says so.

// RetentionStore is the part of the contract the retention purge uses.
type RetentionStore interface {
	// PurgeFramePayloads empties raw and sig of at most limit frames rows
	// (0: PurgeBatch; at most MaxPurgeBatch) whose frame time is before
	// before and that are not purged yet, marking them purged at at. It
	// returns how many rows it purged and whether more may remain (call
	// again until more is false). Idempotent: a purged row is never
	// purged again, and a call with an earlier before than an earlier
	// call's does nothing.
	PurgeFramePayloads(ctx context.Context, before, at time.Time, limit int) (n int, more bool, err error)
}

// Purged reports whether the row's payload (Raw, Sig) was purged: Raw is
// then empty and is not the frame; Hash is still the SHA-256 of the frame
// as received.
func (r FrameRecord) Purged() bool { return !r.PurgedAt.IsZero() }

func purgeBatch(limit int) int {
	switch {
	case limit <= 0:
		return PurgeBatch
	case limit > MaxPurgeBatch:
		return MaxPurgeBatch
	}
	return limit
}
