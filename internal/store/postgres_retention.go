package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgPurgeLock serializes purges across replicas sharing the schema.
const pgPurgeLock = `SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '/fifthwheel/retention-purge', 0))`

// pgPurgeFloor stands for "no mark yet": before any frame time.
var pgPurgeFloor = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)

// PurgeFramePayloads runs as one short transaction in a bulk slot
// (PostgresBulkWriters), never on the heartbeat connections. Replicas
// purge one at a time (a transaction advisory lock per schema), so a mark
// never moves past rows another replica's purge was holding.
func (s *pgStore) PurgeFramePayloads(ctx context.Context, before, at time.Time, limit int) (int, bool, error) {
	limit = purgeBatch(limit)
	bctx := Bulk(ctx)
	release, err := s.bulkSlot(bctx)
	if err != nil {
		return 0, false, err
	}
	defer release()
	var n int
	var more bool
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		n, more = 0, false
		if _, err := tx.Exec(ctx, pgPurgeLock); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT c.vehicle_id, coalesce(m.purged_before, $1) FROM vehicle_counters c
			LEFT JOIN frame_purge_marks m ON m.vehicle_id = c.vehicle_id
			WHERE m.purged_before IS NULL OR m.purged_before < $2 ORDER BY c.vehicle_id LIMIT $3`, pgPurgeFloor, before.UTC(), limit+1)
		if err != nil {
			return err
		}
		type mark struct {
			vehicle string
			from    time.Time
		}
		marks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (mark, error) {
			var m mark
			return m, r.Scan(&m.vehicle, &m.from)
		})
		if err != nil {
			return err
		}
		if len(marks) > limit {
			more, marks = true, marks[:limit]
		}
		budget := limit
		for _, m := range marks {
			if budget == 0 {
				more = true
				break
			}
			rows, err := tx.Query(ctx, `WITH victims AS (
					SELECT epoch, seq FROM frames WHERE vehicle_id=$1 AND ts>=$2 AND ts<$3 AND purged IS NULL ORDER BY ts LIMIT $4)
				UPDATE frames f SET raw='\x', sig='\x', purged=$5 FROM victims v
				WHERE f.vehicle_id=$1 AND f.epoch=v.epoch AND f.seq=v.seq AND f.purged IS NULL RETURNING f.ts`,
				m.vehicle, m.from, before.UTC(), budget, at.UTC())
			if err != nil {
				return err
			}
			tss, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
			if err != nil {
				return err
			}
			got := len(tss)
			n += got
			next := before.UTC()
			if got == budget {
				// Maybe more rows of this vehicle: move the mark only as far
				// as the rows purged (rows at the last time may remain).
				next, more = tss[0], true
				for _, ts := range tss {
					if ts.After(next) {
						next = ts
					}
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO frame_purge_marks(vehicle_id,purged_before) VALUES($1,$2)
				ON CONFLICT(vehicle_id) DO UPDATE SET purged_before=greatest(frame_purge_marks.purged_before, excluded.purged_before)`,
				m.vehicle, next); err != nil {
				return err
			}
			budget -= got
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return n, more, nil
}
