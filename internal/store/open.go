package store

import (
	"context"
	"errors"
)

// Open opens the engine cfg selects and, unless cfg.NoMigrate, applies
// pending migrations.
func Open(ctx context.Context, cfg Config) (Store, error) {
	return nil, errors.New("store: Open is being written (foundation in progress)")
}
