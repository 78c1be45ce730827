package storetest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Exec runs one statement directly on cfg's engine, bypassing the store:
// for tests that need rows the store refuses to write, such as rows of an
// older schema. sqliteQ and pgQ are the statement in each engine's dialect
// (? or $n placeholders).
func Exec(t testing.TB, cfg store.Config, sqliteQ, pgQ string, args ...any) {
	t.Helper()
	ctx := context.Background()
	if cfg.URL != "" {
		c := connect(t, cfg)
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, pgQ, args...); err != nil {
			t.Fatalf("%s: %v", pgQ, err)
		}
		return
	}
	// Wait out a transient lock as the gateway's own connections do
	// (store.BusyTimeout), rather than fail at once.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(cfg.DataDir, store.DBFileName)+
		fmt.Sprintf("?_pragma=busy_timeout(%d)", store.BusyTimeout.Milliseconds()))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, sqliteQ, args...); err != nil {
		t.Fatalf("%s: %v", sqliteQ, err)
	}
}

// FindBytes reports where b appears in what cfg's engine holds, "" if
// nowhere: for SQLite, the database file and its WAL, byte for byte; for
// PostgreSQL (whose files are the server's), the vehicle_keys table's
// material column as the server returns it.
func FindBytes(t testing.TB, cfg store.Config, b []byte) string {
	t.Helper()
	ctx := context.Background()
	if cfg.URL != "" {
		c := connect(t, cfg)
		defer c.Close(ctx)
		rows, err := c.Query(ctx, `SELECT vehicle_id, kid, material FROM vehicle_keys`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var v, k string
			var m []byte
			if err := rows.Scan(&v, &k, &m); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(m, b) {
				return "vehicle_keys row " + v + "/" + k
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return ""
	}
	for _, name := range []string{store.DBFileName, store.DBFileName + "-wal"} {
		data, err := os.ReadFile(filepath.Join(cfg.DataDir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, b) {
			return name
		}
	}
	return ""
}

// connect opens a connection of its own to cfg's PostgreSQL schema; the
// caller closes it.
func connect(t testing.TB, cfg store.Config) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), cfg.URL)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Timestamp is t as cfg's engine stores a row time: microseconds since the
// epoch for SQLite, a timestamptz for PostgreSQL.
func Timestamp(cfg store.Config, t time.Time) any {
	if cfg.URL != "" {
		return t.UTC()
	}
	return t.UnixMicro()
}
