package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgBumpAuthority moves the authority version in tx and notifies
// AuthorityChannel, which PostgreSQL delivers when tx commits. The
// counter's row lock serializes authority writes; call it last in tx.
func pgBumpAuthority(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `WITH v AS (UPDATE authority_state SET version = version + 1 WHERE one=1 RETURNING version)
		SELECT pg_notify($1, version::text) FROM v`, AuthorityChannel)
	return err
}

// pgUpdateAuthority runs one UPDATE of the row id names and bumps the
// authority version; ErrNotFound (what names the row) if it matched none.
func (s *pgStore) pgUpdateAuthority(ctx context.Context, what, id, q string, args ...any) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: %s %s", ErrNotFound, what, id)
		}
		return pgBumpAuthority(ctx, tx)
	})
}

func (s *pgStore) SetClientStatus(ctx context.Context, id string, status ClientStatus) error {
	return s.pgUpdateAuthority(ctx, "client", id, `UPDATE clients SET status=$1 WHERE id=$2`, status, id)
}

func (s *pgStore) SetClientRoles(ctx context.Context, id string, roles []string) error {
	return s.pgUpdateAuthority(ctx, "client", id, `UPDATE clients SET roles=$1 WHERE id=$2`, encodeList(roles), id)
}

func (s *pgStore) SetClientCarrier(ctx context.Context, id, carrier string) error {
	return s.pgUpdateAuthority(ctx, "client", id, `UPDATE clients SET carrier=$1 WHERE id=$2`, carrier, id)
}

func (s *pgStore) SetClientAccess(ctx context.Context, id string, sources []string, hours string) error {
	return s.pgUpdateAuthority(ctx, "client", id, `UPDATE clients SET allowed_sources=$1, hours=$2 WHERE id=$3`, encodeList(sources), hours, id)
}

func (s *pgStore) CreateOperator(ctx context.Context, o Operator) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO operators(id,name,status,roles,created) VALUES($1,$2,$3,$4,$5)`,
			o.ID, o.Name, o.Status, encodeList(o.Roles), o.CreatedAt.UTC())
		if isPgUnique(err) {
			return fmt.Errorf("%w: operator %s already exists", ErrConflict, o.ID)
		}
		if err != nil {
			return err
		}
		return pgBumpAuthority(ctx, tx)
	})
}

const pgOperatorCols = `id,name,status,roles,created`

func scanPgOperator(r pgx.Row) (Operator, error) {
	var o Operator
	var roles []byte
	if err := r.Scan(&o.ID, &o.Name, &o.Status, &roles, &o.CreatedAt); err != nil {
		return Operator{}, err
	}
	o.CreatedAt = o.CreatedAt.UTC()
	var err error
	o.Roles, err = decodeList(roles)
	return o, err
}

func (s *pgStore) GetOperator(ctx context.Context, id string) (Operator, error) {
	o, err := scanPgOperator(s.pool.QueryRow(ctx, `SELECT `+pgOperatorCols+` FROM operators WHERE id=$1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Operator{}, fmt.Errorf("%w: operator %s", ErrNotFound, id)
	}
	return o, err
}

func (s *pgStore) ListOperators(ctx context.Context) ([]Operator, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pgOperatorCols+` FROM operators ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Operator, error) { return scanPgOperator(r) })
}

func (s *pgStore) SetOperatorStatus(ctx context.Context, id string, status OperatorStatus) error {
	return s.pgUpdateAuthority(ctx, "operator", id, `UPDATE operators SET status=$1 WHERE id=$2`, status, id)
}

func (s *pgStore) SetOperatorRoles(ctx context.Context, id string, roles []string) error {
	return s.pgUpdateAuthority(ctx, "operator", id, `UPDATE operators SET roles=$1 WHERE id=$2`, encodeList(roles), id)
}

func (s *pgStore) AuthorityVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT version FROM authority_state WHERE one=1`).Scan(&v)
	return v, err
}

func (s *pgStore) SetVehicleCarrier(ctx context.Context, id, carrier string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE vehicles SET carrier=$1 WHERE id=$2`, carrier, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: vehicle %s", ErrNotFound, id)
		}
		if err := pgBumpAuthority(ctx, tx); err != nil {
			return err
		}
		return pgNoteChange(ctx, tx, id)
	})
}

func (s *pgStore) ListVehiclesPage(ctx context.Context, scope CarrierScope, after string, limit int) ([]Vehicle, error) {
	if scope.none() {
		return nil, nil
	}
	if scope.all {
		return s.queryVehicles(ctx, `SELECT `+pgVehicleCols+` FROM vehicles WHERE id > $1 ORDER BY id LIMIT $2`, after, pageSize(limit))
	}
	return s.queryVehicles(ctx, `SELECT `+pgVehicleCols+` FROM vehicles WHERE carrier = $1 AND id > $2 ORDER BY id LIMIT $3`, scope.carrier, after, pageSize(limit))
}

// --- token keys ---

func (s *pgStore) AddTokenKey(ctx context.Context, k TokenKey, retireOthersAt, publishUntil time.Time) error {
	if err := checkTokenKey(k); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if retireOthersAt.IsZero() {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM token_keys WHERE retired IS NULL`).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("%w: an active token key exists", ErrConflict)
			}
		} else if _, err := tx.Exec(ctx, `UPDATE token_keys SET retired=$1, publish_until=$2 WHERE retired IS NULL AND kid <> $3`,
			retireOthersAt.UTC(), tsOrNil(publishUntil), k.KID); err != nil {
			return err
		}
		// A racing first key or rotation that committed meanwhile makes
		// this insert violate the one-active-key index: ErrConflict.
		_, err := tx.Exec(ctx, `INSERT INTO token_keys(kid,alg,public,sealed,created) VALUES($1,$2,$3,$4,$5)`,
			k.KID, k.Alg, k.Public, k.Sealed, k.CreatedAt.UTC())
		if isPgUnique(err) {
			return fmt.Errorf("%w: token key %s, or another active key", ErrConflict, k.KID)
		}
		return err
	})
}

func (s *pgStore) ListTokenKeys(ctx context.Context) ([]TokenKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT kid,alg,public,sealed,created,retired,publish_until FROM token_keys ORDER BY created DESC, kid DESC`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (TokenKey, error) {
		var k TokenKey
		var ret, pub *time.Time
		if err := r.Scan(&k.KID, &k.Alg, &k.Public, &k.Sealed, &k.CreatedAt, &ret, &pub); err != nil {
			return TokenKey{}, err
		}
		k.CreatedAt, k.RetiredAt, k.PublishUntil = k.CreatedAt.UTC(), zeroIfNil(ret), zeroIfNil(pub)
		return k, nil
	})
}

func (s *pgStore) PruneTokenKeys(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM token_keys WHERE retired IS NOT NULL AND coalesce(publish_until, retired) <= $1`, now.UTC())
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
