package store

import (
	"context"
	"errors"
	"strings"
)

// Open opens the engine cfg selects and, unless cfg.NoMigrate, applies
// pending migrations. A store whose schema is newer than this binary is
// refused with ErrSchemaTooNew and left untouched.
func Open(ctx context.Context, cfg Config) (Store, error) {
	switch {
	case cfg.DataDir != "" && cfg.URL != "":
		return nil, errors.New("store: give either --data DIR (embedded SQLite) or --store URL (PostgreSQL), not both")
	case cfg.URL != "":
		if !strings.HasPrefix(cfg.URL, "postgres://") && !strings.HasPrefix(cfg.URL, "postgresql://") {
			return nil, errors.New("store: --store takes a postgres:// or postgresql:// URL; for the embedded store use --data DIR")
		}
		return openPostgres(ctx, cfg)
	case cfg.DataDir != "":
		return openSQLite(ctx, cfg)
	}
	return nil, errors.New("store: no store given; use --data DIR (embedded SQLite) or --store URL (PostgreSQL)")
}
