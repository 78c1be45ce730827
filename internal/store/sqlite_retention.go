package store

import (
	"context"
	"database/sql"
	"math"
	"time"
)

// PurgeFramePayloads runs as one write on the bulk lane: every commit takes
// heartbeats and live writes first, and the purge's rows count against
// MaxCommitRows like any other.
func (s *sqliteStore) PurgeFramePayloads(ctx context.Context, before, at time.Time, limit int) (int, bool, error) {
	limit = purgeBatch(limit)
	var n int
	var more bool
	err := s.writeIn(ctx, laneBulk, limit, func(tx *sql.Tx) error {
		n, more = 0, false
		marks, err := sqlitePurgeCandidates(tx, before, limit)
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
			got, last, err := s.purgeVehicle(tx, m, before, at, budget)
			if err != nil {
				return err
			}
			n += got
			mark := before.UnixMicro()
			if got == budget {
				// Maybe more rows of this vehicle: move the mark only as far
				// as the rows purged (rows at last may remain).
				mark, more = last, true
			}
			if _, err := tx.Exec(`INSERT INTO frame_purge_marks(vehicle_id,purged_before_us) VALUES(?,?)
				ON CONFLICT(vehicle_id) DO UPDATE SET purged_before_us=max(purged_before_us, excluded.purged_before_us)`, m.vehicle, mark); err != nil {
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

// purgeMark is a vehicle a purge looks at and its mark (rows below it are
// purged already).
type purgeMark struct {
	vehicle string
	fromUS  int64
}

// sqlitePurgeCandidates returns up to limit+1 vehicles whose mark is below
// before, by id. Every vehicle with frames rows has a counter.
func sqlitePurgeCandidates(tx *sql.Tx, before time.Time, limit int) ([]purgeMark, error) {
	rows, err := tx.Query(`SELECT c.vehicle_id, coalesce(m.purged_before_us, ?) FROM vehicle_counters c
		LEFT JOIN frame_purge_marks m ON m.vehicle_id = c.vehicle_id
		WHERE m.purged_before_us IS NULL OR m.purged_before_us < ? ORDER BY c.vehicle_id LIMIT ?`,
		int64(math.MinInt64), before.UnixMicro(), limit+1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []purgeMark
	for rows.Next() {
		var m purgeMark
		if err := rows.Scan(&m.vehicle, &m.fromUS); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// sqlitePurgeFind finds a vehicle's next rows to purge, oldest first, from
// its mark, through the (vehicle_id, ts_us) index.
const sqlitePurgeFind = `SELECT epoch, seq, ts_us FROM frames WHERE vehicle_id=? AND ts_us>=? AND ts_us<? AND purged_us IS NULL
	ORDER BY ts_us LIMIT ?`

// sqlitePurgeRow empties one row's payload (a cached statement: parsing
// costs this engine more than the update).
const sqlitePurgeRow = `UPDATE frames SET raw=X'', sig=X'', purged_us=? WHERE vehicle_id=? AND epoch=? AND seq=? AND purged_us IS NULL`

// purgeVehicle purges up to budget rows of one vehicle from its mark,
// oldest first, and returns how many and the frame time of the last.
func (s *sqliteStore) purgeVehicle(tx *sql.Tx, m purgeMark, before, at time.Time, budget int) (int, int64, error) {
	sel, err := s.prep(tx, sqlitePurgeFind)
	if err != nil {
		return 0, 0, err
	}
	defer sel.Close()
	rows, err := sel.Query(m.vehicle, m.fromUS, before.UnixMicro(), budget)
	if err != nil {
		return 0, 0, err
	}
	type key struct{ epoch, seq, ts int64 }
	var keys []key
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.epoch, &k.seq, &k.ts); err != nil {
			rows.Close()
			return 0, 0, err
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	if len(keys) == 0 {
		return 0, 0, nil
	}
	upd, err := s.prep(tx, sqlitePurgeRow)
	if err != nil {
		return 0, 0, err
	}
	defer upd.Close()
	var last int64
	for _, k := range keys {
		if _, err := upd.Exec(at.UnixMicro(), m.vehicle, k.epoch, k.seq); err != nil {
			return 0, 0, err
		}
		last = k.ts
	}
	return len(keys), last, nil
}
