package store

import (
	"context"
	"database/sql"
	"time"
)

// sqliteNoteChange appends vehicleID's registry change in tx (registry.go)
// and prunes the changes older than RegistryChangeRetention but the new
// one. The single writer orders every transaction, so the counter's next
// value is also the next to commit.
func sqliteNoteChange(tx *sql.Tx, vehicleID string) error {
	now := time.Now()
	var v int64
	if err := tx.QueryRow(`UPDATE registry_feed SET version = version + 1 WHERE one=1 RETURNING version`).Scan(&v); err != nil {
		return err
	}
	if _, err := tx.Exec(`INSERT INTO registry_changes(version,vehicle_id,at_us) VALUES(?,?,?)`, v, vehicleID, now.UnixMicro()); err != nil {
		return err
	}
	_, err := tx.Exec(`DELETE FROM registry_changes WHERE at_us < ? AND version < ?`, now.Add(-RegistryChangeRetention).UnixMicro(), v)
	return err
}

// sqliteRegistryChanges is the feed's one read: the counter, joined with
// the changes after the reader's version up to it, in one statement (one
// snapshot). With no change to return it yields one row of NULLs.
const sqliteRegistryChanges = `SELECT f.version, c.version, c.vehicle_id, c.at_us FROM registry_feed f
	LEFT JOIN registry_changes c ON c.version > ? AND c.version <= f.version
	WHERE f.one = 1 ORDER BY c.version LIMIT ?`

func (s *sqliteStore) RegistryChanges(ctx context.Context, after int64, limit int) ([]RegistryChange, int64, error) {
	rows, err := s.rdb.QueryContext(ctx, sqliteRegistryChanges, after, pageSize(limit))
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []RegistryChange
	var latest int64
	for rows.Next() {
		var v sql.NullInt64
		var id sql.NullString
		var us sql.NullInt64
		if err := rows.Scan(&latest, &v, &id, &us); err != nil {
			return nil, 0, err
		}
		if v.Valid {
			out = append(out, RegistryChange{Version: v.Int64, VehicleID: id.String, At: time.UnixMicro(us.Int64).UTC()})
		}
	}
	return out, latest, rows.Err()
}
