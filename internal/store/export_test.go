package store

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// HoldPostgresPool takes every connection of a PostgreSQL store's pool (not
// those kept for heartbeats) and returns what gives them back.
func HoldPostgresPool(t testing.TB, st Store) (release func()) {
	t.Helper()
	s := st.(*pgStore)
	var conns []*pgxpool.Conn
	for range PostgresMaxConns {
		c, err := s.pool.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	return func() {
		for _, c := range conns {
			c.Release()
		}
		conns = nil
	}
}

// PostgresAppendsWaiting is how many AppendFrames calls other than
// heartbeats' are queued or committing on a PostgreSQL store.
func PostgresAppendsWaiting(st Store) int64 { return st.(*pgStore).appender.waiting.Load() }
