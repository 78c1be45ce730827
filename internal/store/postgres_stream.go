package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgStreamLock is the stream sequencer's lease: a transaction advisory lock
// keyed on the schema (advisory locks are database-wide), released by the
// round's commit or rollback, or with a dead replica's connection.
const pgStreamLock = `SELECT pg_try_advisory_xact_lock(hashtextextended(current_schema() || '/fifthwheel/event-stream', 0))`

// pgSequenceStream numbers, in seq order, up to MaxStreamRound committed
// events that have no stream position, continuing from the highest one.
const pgSequenceStream = `WITH base AS (SELECT coalesce(max(stream_seq), 0) AS b FROM events),
	todo AS (SELECT seq, row_number() OVER (ORDER BY seq) AS rn FROM events WHERE stream_seq IS NULL ORDER BY seq LIMIT $1)
	UPDATE events e SET stream_seq = base.b + todo.rn FROM todo, base WHERE e.seq = todo.seq`

// sequenceStream runs one sequencer round (stream.go): nothing if another
// replica holds the lock, which means it is numbering now.
func (s *pgStore) sequenceStream(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var got bool
		if err := tx.QueryRow(ctx, pgStreamLock).Scan(&got); err != nil || !got {
			return err
		}
		_, err := tx.Exec(ctx, pgSequenceStream, MaxStreamRound)
		return err
	})
}

func (s *pgStore) ReadEventStream(ctx context.Context, after StreamPos, limit int) ([]StreamEvent, error) {
	if err := s.sequenceStream(ctx); err != nil {
		return nil, fmt.Errorf("store: sequence the event stream: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT stream_seq,seq,id,time,class,verdict,code,subject,body FROM events
		WHERE stream_seq > $1 ORDER BY stream_seq LIMIT $2`, int64(after), pageSize(limit))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StreamEvent, error) {
		var e StreamEvent
		err := r.Scan(&e.Pos, &e.Seq, &e.ID, &e.Time, &e.Class, &e.Verdict, &e.Code, &e.Subject, &e.Body)
		e.Time = e.Time.UTC()
		return e, err
	})
}

func (s *pgStore) EventStreamHead(ctx context.Context) (StreamPos, error) {
	if err := s.sequenceStream(ctx); err != nil {
		return 0, fmt.Errorf("store: sequence the event stream: %w", err)
	}
	var p StreamPos
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(stream_seq), 0) FROM events`).Scan(&p)
	return p, err
}

func (s *pgStore) ClaimStreamConsumer(ctx context.Context, name, holder string, ttl time.Duration, atHead bool) (StreamPos, bool, error) {
	if err := validConsumer(name, holder); err != nil {
		return 0, false, err
	}
	var head StreamPos
	if atHead {
		var err error
		if head, err = s.EventStreamHead(ctx); err != nil {
			return 0, false, err
		}
	}
	var p StreamPos
	var created bool
	// head is used only by a consumer that does not exist yet: ON CONFLICT
	// keeps the stored cursor.
	err := s.pool.QueryRow(ctx, `INSERT INTO stream_consumers(name, holder, lease_until, updated, pos)
		VALUES ($1, $2, now() + $3 * interval '1 microsecond', now(), $4)
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, lease_until = EXCLUDED.lease_until, updated = EXCLUDED.updated
		WHERE stream_consumers.holder IN ('', EXCLUDED.holder) OR stream_consumers.lease_until IS NULL OR stream_consumers.lease_until < now()
		RETURNING pos, (xmax = 0)`, name, holder, ttl.Microseconds(), int64(head)).Scan(&p, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, fmt.Errorf("%w: stream consumer %s", ErrLeaseHeld, name)
	}
	return p, created, err
}

func (s *pgStore) AdvanceStreamConsumer(ctx context.Context, name, holder string, pos StreamPos) error {
	if err := validConsumer(name, holder); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE stream_consumers SET pos = $3, updated = now()
		WHERE name = $1 AND holder = $2 AND lease_until >= now() AND pos <= $3`, name, holder, int64(pos))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var h string
	var cur StreamPos
	var live bool
	err = s.pool.QueryRow(ctx, `SELECT holder, pos, coalesce(lease_until >= now(), false) FROM stream_consumers WHERE name = $1`, name).
		Scan(&h, &cur, &live)
	return advanceRefusal(name, holder, pos, h, cur, live, err, pgx.ErrNoRows)
}

func (s *pgStore) ReleaseStreamConsumer(ctx context.Context, name, holder string) error {
	if err := validConsumer(name, holder); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `UPDATE stream_consumers SET holder = '', lease_until = NULL, updated = now() WHERE name = $1 AND holder = $2`, name, holder)
	return err
}

func (s *pgStore) StreamConsumers(ctx context.Context) ([]StreamConsumer, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, pos, holder, lease_until, updated FROM stream_consumers ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StreamConsumer, error) {
		var c StreamConsumer
		var until *time.Time
		err := r.Scan(&c.Name, &c.Pos, &c.Holder, &until, &c.Updated)
		if until != nil {
			c.LeaseUntil = until.UTC()
		}
		c.Updated = c.Updated.UTC()
		return c, err
	})
}

// advanceRefusal explains why an advance changed nothing: the consumer does
// not exist (ErrNotFound), holder does not hold a live lease (ErrLeaseHeld),
// or pos is before the cursor (ErrConflict).
func advanceRefusal(name, holder string, pos StreamPos, h string, cur StreamPos, live bool, err, noRows error) error {
	switch {
	case errors.Is(err, noRows):
		return fmt.Errorf("%w: stream consumer %s", ErrNotFound, name)
	case err != nil:
		return err
	case h != holder || !live:
		return fmt.Errorf("%w: stream consumer %s is not held by %s", ErrLeaseHeld, name, holder)
	case pos < cur:
		return fmt.Errorf("%w: stream consumer %s: cursor %d is after %d", ErrConflict, name, cur, pos)
	}
	return fmt.Errorf("%w: stream consumer %s changed meanwhile", ErrConflict, name)
}
