package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// On SQLite the one writer commits events in seq order: seq is the stream
// position (stream.go).

func (s *sqliteStore) ReadEventStream(ctx context.Context, after StreamPos, limit int) ([]StreamEvent, error) {
	evs, err := s.ListEvents(ctx, EventFilter{AfterSeq: int64(after), Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]StreamEvent, len(evs))
	for i, e := range evs {
		out[i] = StreamEvent{Pos: StreamPos(e.Seq), EventRow: e}
	}
	return out, nil
}

func (s *sqliteStore) EventStreamHead(ctx context.Context) (StreamPos, error) {
	var seq sql.NullInt64
	err := s.rdb.QueryRowContext(ctx, `SELECT max(seq) FROM events`).Scan(&seq)
	return StreamPos(seq.Int64), err
}

func (s *sqliteStore) ClaimStreamConsumer(ctx context.Context, name, holder string, ttl time.Duration, atHead bool) (StreamPos, bool, error) {
	if err := validConsumer(name, holder); err != nil {
		return 0, false, err
	}
	var p StreamPos
	var created bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		now := time.Now()
		var h string
		var until int64
		err := tx.QueryRow(`SELECT holder, pos, lease_us FROM stream_consumers WHERE name = ?`, name).Scan(&h, &p, &until)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created, p = true, 0
			if atHead {
				var seq sql.NullInt64
				if err := tx.QueryRow(`SELECT max(seq) FROM events`).Scan(&seq); err != nil {
					return err
				}
				p = StreamPos(seq.Int64)
			}
			_, err = tx.Exec(`INSERT INTO stream_consumers(name, holder, lease_us, updated_us, pos) VALUES (?, ?, ?, ?, ?)`,
				name, holder, now.Add(ttl).UnixMicro(), now.UnixMicro(), int64(p))
			return err
		case err != nil:
			return err
		case h != "" && h != holder && until >= now.UnixMicro():
			return fmt.Errorf("%w: stream consumer %s", ErrLeaseHeld, name)
		}
		_, err = tx.Exec(`UPDATE stream_consumers SET holder = ?, lease_us = ?, updated_us = ? WHERE name = ?`,
			holder, now.Add(ttl).UnixMicro(), now.UnixMicro(), name)
		return err
	})
	return p, created, err
}

func (s *sqliteStore) AdvanceStreamConsumer(ctx context.Context, name, holder string, pos StreamPos) error {
	if err := validConsumer(name, holder); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		now := time.Now().UnixMicro()
		var h string
		var cur StreamPos
		var until int64
		err := tx.QueryRow(`SELECT holder, pos, lease_us FROM stream_consumers WHERE name = ?`, name).Scan(&h, &cur, &until)
		if err != nil || h != holder || until < now || pos < cur {
			return advanceRefusal(name, holder, pos, h, cur, until >= now, err, sql.ErrNoRows)
		}
		_, err = tx.Exec(`UPDATE stream_consumers SET pos = ?, updated_us = ? WHERE name = ?`, int64(pos), now, name)
		return err
	})
}

func (s *sqliteStore) ReleaseStreamConsumer(ctx context.Context, name, holder string) error {
	if err := validConsumer(name, holder); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE stream_consumers SET holder = '', lease_us = 0, updated_us = ? WHERE name = ? AND holder = ?`,
			time.Now().UnixMicro(), name, holder)
		return err
	})
}

func (s *sqliteStore) StreamConsumers(ctx context.Context) ([]StreamConsumer, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT name, pos, holder, lease_us, updated_us FROM stream_consumers ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StreamConsumer
	for rows.Next() {
		var c StreamConsumer
		var until, upd int64
		if err := rows.Scan(&c.Name, &c.Pos, &c.Holder, &until, &upd); err != nil {
			return nil, err
		}
		if until != 0 {
			c.LeaseUntil = time.UnixMicro(until).UTC()
		}
		c.Updated = time.UnixMicro(upd).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}
