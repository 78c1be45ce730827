package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

func (s *pgStore) AddSIEMDeadLetter(ctx context.Context, d SIEMDeadLetter) (id int64, created bool, err error) {
	if err := d.valid(); err != nil {
		return 0, false, err
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = time.Now()
	}
	// One statement: insert, or find the existing row of the same range.
	err = s.pool.QueryRow(ctx, `WITH ins AS (
			INSERT INTO siem_dead_letters(sink,from_pos,to_pos,first_event,last_event,count,attempts,last_error,body,created)
			VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT(sink,from_pos,to_pos) DO NOTHING RETURNING id)
		SELECT id, true FROM ins
		UNION ALL
		SELECT id, false FROM siem_dead_letters WHERE sink=$1 AND from_pos=$2 AND to_pos=$3 AND NOT EXISTS (SELECT 1 FROM ins)`,
		d.Sink, d.FromPos, d.ToPos, d.FirstEvent, d.LastEvent, d.Count, d.Attempts, d.LastError, d.Body, d.CreatedAt).Scan(&id, &created)
	return id, created, err
}

func (s *pgStore) SIEMDeadLetters(ctx context.Context, sink string, afterID int64, limit int) ([]SIEMDeadLetter, error) {
	rows, err := s.pool.Query(ctx, `SELECT id,sink,from_pos,to_pos,first_event,last_event,count,attempts,last_error,body,created
		FROM siem_dead_letters WHERE id > $1 AND ($2 = '' OR sink = $2) ORDER BY id LIMIT $3`, afterID, sink, pageSize(limit))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SIEMDeadLetter, error) {
		var d SIEMDeadLetter
		err := r.Scan(&d.ID, &d.Sink, &d.FromPos, &d.ToPos, &d.FirstEvent, &d.LastEvent, &d.Count, &d.Attempts,
			&d.LastError, &d.Body, &d.CreatedAt)
		d.CreatedAt = d.CreatedAt.UTC()
		return d, err
	})
}
