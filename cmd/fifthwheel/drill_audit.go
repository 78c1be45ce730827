package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/drill"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// drillAuditLog gives the audit-log-tampering drill the gateway's store,
// `audit verify` (with the store's log key and row source) and what an
// insider with database access has: statements run on the database
// directly, on a connection of its own that bypasses the store.
func drillAuditLog(e *stateEnv) *drill.AuditLog {
	return &drill.AuditLog{
		Store: e.st,
		Verify: func(ctx context.Context, saved []byte) (*audit.Report, error) {
			v, err := auditVerifier(ctx, e.st, "")
			if err != nil {
				return nil, err
			}
			return audit.Verify(ctx, e.st, v, saved, audit.VerifyOptions{Source: audit.StoreSource{Rows: e.st}})
		},
		Exec: func(ctx context.Context, sqliteQ, pgQ string, args ...any) error {
			return rawExec(ctx, storeConfig(e.cfg, false), sqliteQ, pgQ, args...)
		},
	}
}

// rawExec runs one statement on cfg's database outside the store.
func rawExec(ctx context.Context, cfg store.Config, sqliteQ, pgQ string, args ...any) error {
	if cfg.URL != "" {
		c, err := pgx.Connect(ctx, cfg.URL)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, pgQ, args...)
		return err
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(cfg.DataDir, store.DBFileName)+
		fmt.Sprintf("?_pragma=busy_timeout(%d)", store.BusyTimeout.Milliseconds()))
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, sqliteQ, args...)
	return err
}
