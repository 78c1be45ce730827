package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgNoteChange appends vehicleID's registry change in tx (registry.go) and
// prunes the changes older than RegistryChangeRetention but the new one,
// in one statement. The counter row's lock, held until tx ends, serializes
// registry writes, so versions commit in order; call it last in tx, so the
// lock is held briefly.
func pgNoteChange(ctx context.Context, tx pgx.Tx, vehicleID string) error {
	_, err := tx.Exec(ctx, `WITH v AS (UPDATE registry_feed SET version = version + 1 WHERE one = 1 RETURNING version),
		ins AS (INSERT INTO registry_changes(version, vehicle_id, at) SELECT version, $1, now() FROM v)
		DELETE FROM registry_changes WHERE at < now() - $2 * interval '1 microsecond' AND version < (SELECT version FROM v)`,
		vehicleID, RegistryChangeRetention.Microseconds())
	return err
}

// pgRegistryChanges is the feed's one read: the counter, joined with the
// changes after the reader's version up to it, in one statement (one
// snapshot). With no change to return it yields one row of NULLs.
const pgRegistryChanges = `SELECT f.version, c.version, c.vehicle_id, c.at FROM registry_feed f
	LEFT JOIN registry_changes c ON c.version > $1 AND c.version <= f.version
	WHERE f.one = 1 ORDER BY c.version LIMIT $2`

func (s *pgStore) RegistryChanges(ctx context.Context, after int64, limit int) ([]RegistryChange, int64, error) {
	rows, err := s.pool.Query(ctx, pgRegistryChanges, after, pageSize(limit))
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []RegistryChange
	var latest int64
	for rows.Next() {
		var v *int64
		var id *string
		var at *time.Time
		if err := rows.Scan(&latest, &v, &id, &at); err != nil {
			return nil, 0, err
		}
		if v != nil {
			out = append(out, RegistryChange{Version: *v, VehicleID: *id, At: at.UTC()})
		}
	}
	return out, latest, rows.Err()
}
