package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

var (
	_ Notifier        = (*pgStore)(nil)
	_ PayloadNotifier = (*pgStore)(nil)
)

// Listen implements Notifier: ListenPayload without the payloads.
func (s *pgStore) Listen(ctx context.Context, channel string, fn func()) error {
	return s.ListenPayload(ctx, channel, func(string) { fn() })
}

// ListenPayload implements PayloadNotifier with LISTEN on a connection of
// its own, outside the pool (a pooled connection would be handed to other
// work).
// NOTIFY is per database, not per schema: replicas sharing a database but not
// a schema wake each other needlessly, which costs one poll.
func (s *pgStore) ListenPayload(ctx context.Context, channel string, fn func(payload string)) error {
	cfg := s.pool.Config().ConnConfig.Copy()
	cctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("store: LISTEN connection to PostgreSQL at %s: %v", s.desc, safePgErr(err))
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ConnectTimeout)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("store: LISTEN %s on PostgreSQL at %s: %v", channel, s.desc, safePgErr(err))
	}
	fn("")
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("store: waiting for %s notifications from PostgreSQL at %s: %v", channel, s.desc, safePgErr(err))
		}
		fn(n.Payload)
	}
}
