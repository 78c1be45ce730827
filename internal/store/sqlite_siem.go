package store

import (
	"context"
	"database/sql"
	"time"
)

func (s *sqliteStore) AddSIEMDeadLetter(ctx context.Context, d SIEMDeadLetter) (id int64, created bool, err error) {
	if err := d.valid(); err != nil {
		return 0, false, err
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = time.Now()
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT INTO siem_dead_letters(sink,from_pos,to_pos,first_event,last_event,count,attempts,last_error,body,created_us)
			VALUES(?,?,?,?,?,?,?,?,?,?) ON CONFLICT(sink,from_pos,to_pos) DO NOTHING`,
			d.Sink, d.FromPos, d.ToPos, d.FirstEvent, d.LastEvent, d.Count, d.Attempts, d.LastError, d.Body, d.CreatedAt.UnixMicro())
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		created = n == 1
		return tx.QueryRow(`SELECT id FROM siem_dead_letters WHERE sink=? AND from_pos=? AND to_pos=?`, d.Sink, d.FromPos, d.ToPos).Scan(&id)
	})
	return id, created, err
}

func (s *sqliteStore) SIEMDeadLetters(ctx context.Context, sink string, afterID int64, limit int) ([]SIEMDeadLetter, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id,sink,from_pos,to_pos,first_event,last_event,count,attempts,last_error,body,created_us
		FROM siem_dead_letters WHERE id > ? AND (? = '' OR sink = ?) ORDER BY id LIMIT ?`, afterID, sink, sink, pageSize(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SIEMDeadLetter
	for rows.Next() {
		var d SIEMDeadLetter
		var us int64
		if err := rows.Scan(&d.ID, &d.Sink, &d.FromPos, &d.ToPos, &d.FirstEvent, &d.LastEvent, &d.Count, &d.Attempts,
			&d.LastError, &d.Body, &us); err != nil {
			return nil, err
		}
		d.CreatedAt = time.UnixMicro(us).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}
