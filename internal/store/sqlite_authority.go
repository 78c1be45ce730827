package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// sqliteBumpAuthority moves the authority version in tx (authority.go).
func sqliteBumpAuthority(tx *sql.Tx) error {
	_, err := tx.Exec(`UPDATE authority_state SET version = version + 1 WHERE one=1`)
	return err
}

// sqliteUpdateAuthority runs one UPDATE of the row id names and bumps the
// authority version; ErrNotFound (what names the row) if it matched none.
func (s *sqliteStore) sqliteUpdateAuthority(ctx context.Context, what, id, q string, args ...any) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(q, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: %s %s", ErrNotFound, what, id)
		}
		return sqliteBumpAuthority(tx)
	})
}

func (s *sqliteStore) SetClientStatus(ctx context.Context, id string, status ClientStatus) error {
	return s.sqliteUpdateAuthority(ctx, "client", id, `UPDATE clients SET status=? WHERE id=?`, status, id)
}

func (s *sqliteStore) SetClientRoles(ctx context.Context, id string, roles []string) error {
	return s.sqliteUpdateAuthority(ctx, "client", id, `UPDATE clients SET roles=? WHERE id=?`, encodeList(roles), id)
}

func (s *sqliteStore) SetClientCarrier(ctx context.Context, id, carrier string) error {
	return s.sqliteUpdateAuthority(ctx, "client", id, `UPDATE clients SET carrier=? WHERE id=?`, carrier, id)
}

func (s *sqliteStore) SetClientAccess(ctx context.Context, id string, sources []string, hours string) error {
	return s.sqliteUpdateAuthority(ctx, "client", id, `UPDATE clients SET allowed_sources=?, hours=? WHERE id=?`, encodeList(sources), hours, id)
}

func (s *sqliteStore) CreateOperator(ctx context.Context, o Operator) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO operators(id,name,status,roles,created_us) VALUES(?,?,?,?,?)`,
			o.ID, o.Name, o.Status, encodeList(o.Roles), o.CreatedAt.UnixMicro())
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: operator %s already exists", ErrConflict, o.ID)
		}
		if err != nil {
			return err
		}
		return sqliteBumpAuthority(tx)
	})
}

const sqliteOperatorCols = `id,name,status,roles,created_us`

func scanSQLiteOperator(sc interface{ Scan(...any) error }) (Operator, error) {
	var o Operator
	var roles string
	var us int64
	if err := sc.Scan(&o.ID, &o.Name, &o.Status, &roles, &us); err != nil {
		return Operator{}, err
	}
	o.CreatedAt = time.UnixMicro(us).UTC()
	var err error
	o.Roles, err = decodeList([]byte(roles))
	return o, err
}

func (s *sqliteStore) GetOperator(ctx context.Context, id string) (Operator, error) {
	o, err := scanSQLiteOperator(s.rdb.QueryRowContext(ctx, `SELECT `+sqliteOperatorCols+` FROM operators WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Operator{}, fmt.Errorf("%w: operator %s", ErrNotFound, id)
	}
	return o, err
}

func (s *sqliteStore) ListOperators(ctx context.Context) ([]Operator, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+sqliteOperatorCols+` FROM operators ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Operator
	for rows.Next() {
		o, err := scanSQLiteOperator(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

func (s *sqliteStore) SetOperatorStatus(ctx context.Context, id string, status OperatorStatus) error {
	return s.sqliteUpdateAuthority(ctx, "operator", id, `UPDATE operators SET status=? WHERE id=?`, status, id)
}

func (s *sqliteStore) SetOperatorRoles(ctx context.Context, id string, roles []string) error {
	return s.sqliteUpdateAuthority(ctx, "operator", id, `UPDATE operators SET roles=? WHERE id=?`, encodeList(roles), id)
}

func (s *sqliteStore) AuthorityVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.rdb.QueryRowContext(ctx, `SELECT version FROM authority_state WHERE one=1`).Scan(&v)
	return v, err
}

func (s *sqliteStore) SetVehicleCarrier(ctx context.Context, id, carrier string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE vehicles SET carrier=? WHERE id=?`, carrier, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: vehicle %s", ErrNotFound, id)
		}
		if err := sqliteBumpAuthority(tx); err != nil {
			return err
		}
		return sqliteNoteChange(tx, id)
	})
}

func (s *sqliteStore) ListVehiclesPage(ctx context.Context, scope CarrierScope, after string, limit int) ([]Vehicle, error) {
	if scope.none() {
		return nil, nil
	}
	if scope.all {
		return s.queryVehicles(ctx, `SELECT `+sqliteVehicleCols+` FROM vehicles WHERE id > ? ORDER BY id LIMIT ?`, after, pageSize(limit))
	}
	return s.queryVehicles(ctx, `SELECT `+sqliteVehicleCols+` FROM vehicles WHERE carrier = ? AND id > ? ORDER BY id LIMIT ?`, scope.carrier, after, pageSize(limit))
}

// --- token keys ---

func (s *sqliteStore) AddTokenKey(ctx context.Context, k TokenKey, retireOthersAt, publishUntil time.Time) error {
	if err := checkTokenKey(k); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if retireOthersAt.IsZero() {
			var n int
			if err := tx.QueryRow(`SELECT count(*) FROM token_keys WHERE retired_us IS NULL`).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("%w: an active token key exists", ErrConflict)
			}
		} else if _, err := tx.Exec(`UPDATE token_keys SET retired_us=?, publish_until_us=? WHERE retired_us IS NULL AND kid <> ?`,
			retireOthersAt.UnixMicro(), usOrNil(publishUntil), k.KID); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO token_keys(kid,alg,public,sealed,created_us) VALUES(?,?,?,?,?)`,
			k.KID, k.Alg, k.Public, k.Sealed, k.CreatedAt.UnixMicro())
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: token key %s", ErrConflict, k.KID)
		}
		return err
	})
}

func (s *sqliteStore) ListTokenKeys(ctx context.Context) ([]TokenKey, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT kid,alg,public,sealed,created_us,retired_us,publish_until_us FROM token_keys ORDER BY created_us DESC, kid DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TokenKey
	for rows.Next() {
		var k TokenKey
		var c int64
		var r, p sql.NullInt64
		if err := rows.Scan(&k.KID, &k.Alg, &k.Public, &k.Sealed, &c, &r, &p); err != nil {
			return nil, err
		}
		k.CreatedAt, k.RetiredAt, k.PublishUntil = time.UnixMicro(c).UTC(), timeOrZero(r), timeOrZero(p)
		out = append(out, k)
	}
	return out, rows.Err()
}

func (s *sqliteStore) PruneTokenKeys(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM token_keys WHERE retired_us IS NOT NULL AND coalesce(publish_until_us, retired_us) <= ?`, now.UnixMicro())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
