package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

var _ Notifier = (*pgStore)(nil)

// Listen implements Notifier with LISTEN on a connection of its own, outside
// the pool (a pooled connection would be handed to other work).
// NOTIFY is per database, not per schema: replicas sharing a database but not
// a schema wake each other needlessly, which costs one poll.
func (s *pgStore) Listen(ctx context.Context, channel string, fn func()) error {
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
	fn()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("store: waiting for %s notifications from PostgreSQL at %s: %v", channel, s.desc, safePgErr(err))
		}
		fn()
	}
}
