package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

func usOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func timeOrZero(us sql.NullInt64) time.Time {
	if !us.Valid {
		return time.Time{}
	}
	return time.UnixMicro(us.Int64).UTC()
}

const sqliteCertCols = `serial,kind,id,profile,not_before_us,not_after_us,issuer_key_id,der,revoked_us,reason`

func scanSQLiteCert(sc interface{ Scan(...any) error }) (CertRow, error) {
	var c CertRow
	var nb, na int64
	var rv sql.NullInt64
	if err := sc.Scan(&c.Serial, &c.Kind, &c.ID, &c.Profile, &nb, &na, &c.IssuerKeyID, &c.DER, &rv, &c.Reason); err != nil {
		return CertRow{}, err
	}
	c.NotBefore, c.NotAfter, c.RevokedAt = time.UnixMicro(nb).UTC(), time.UnixMicro(na).UTC(), timeOrZero(rv)
	return c, nil
}

func (s *sqliteStore) RecordIssued(ctx context.Context, c CertRow, b IssueBasis) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var seq int64
		if c.Kind != "" {
			// The single writer serializes this with RevokePrincipal; what
			// matters is that the checks below read inside this transaction.
			var through sql.NullInt64
			err := tx.QueryRow(`INSERT INTO principals(kind,id,issued) VALUES(?,?,1)
				ON CONFLICT(kind,id) DO UPDATE SET issued = issued + 1 RETURNING issued, revoked_through`, c.Kind, c.ID).Scan(&seq, &through)
			if err != nil {
				return err
			}
			if b.RenewedFrom != "" {
				if err := sqliteCheckParent(tx, c, b.RenewedFrom, through); err != nil {
					return err
				}
			}
			if b.JoinToken != nil {
				if err := sqliteConsumeToken(tx, b.JoinToken, b.Now); err != nil {
					return err
				}
			}
		}
		_, err := tx.Exec(`INSERT INTO certs(`+sqliteCertCols+`,seq) VALUES(?,?,?,?,?,?,?,?,?,?,?)`, c.Serial, c.Kind, c.ID, c.Profile,
			c.NotBefore.UnixMicro(), c.NotAfter.UnixMicro(), c.IssuerKeyID, c.DER, usOrNil(c.RevokedAt), c.Reason, seq)
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: certificate %s already recorded", ErrConflict, c.Serial)
		}
		return err
	})
}

// sqliteCheckParent checks the certificate a renewal presents: the same
// principal's, unrevoked, and numbered after the principal's revocation
// watermark (through; NULL: never revoked).
func sqliteCheckParent(tx *sql.Tx, c CertRow, parent string, through sql.NullInt64) error {
	var kind, id string
	var seq int64
	var revoked sql.NullInt64
	err := tx.QueryRow(`SELECT kind, id, seq, revoked_us FROM certs WHERE serial=?`, parent).Scan(&kind, &id, &seq, &revoked)
	switch {
	case errors.Is(err, sql.ErrNoRows) || (err == nil && (kind != c.Kind || id != c.ID)):
		return fmt.Errorf("%w: certificate %s of %s:%s", ErrNotFound, parent, c.Kind, c.ID)
	case err != nil:
		return err
	case revoked.Valid || (through.Valid && seq <= through.Int64):
		return fmt.Errorf("%w: %s", ErrRevoked, parent)
	}
	return nil
}

func (s *sqliteStore) GetIssued(ctx context.Context, serial string) (CertRow, error) {
	c, err := scanSQLiteCert(s.rdb.QueryRowContext(ctx, `SELECT `+sqliteCertCols+` FROM certs WHERE serial=?`, serial))
	if errors.Is(err, sql.ErrNoRows) {
		return CertRow{}, fmt.Errorf("%w: certificate %s", ErrNotFound, serial)
	}
	return c, err
}

func (s *sqliteStore) queryCerts(ctx context.Context, q string, args ...any) ([]CertRow, error) {
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CertRow
	for rows.Next() {
		c, err := scanSQLiteCert(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *sqliteStore) ListIssued(ctx context.Context, kind, id string, limit int) ([]CertRow, error) {
	lim := int64(limit)
	if limit <= 0 {
		lim = -1
	}
	return s.queryCerts(ctx, `SELECT `+sqliteCertCols+` FROM certs WHERE (?='' OR kind=?) AND (?='' OR id=?) ORDER BY not_before_us, serial LIMIT ?`,
		kind, kind, id, id, lim)
}

func (s *sqliteStore) RevokeCert(ctx context.Context, serial string, reason int, at time.Time) (CertRow, bool, error) {
	var out CertRow
	var changed bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		c, err := scanSQLiteCert(tx.QueryRow(`SELECT `+sqliteCertCols+` FROM certs WHERE serial=?`, serial))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: certificate %s", ErrNotFound, serial)
		}
		if err != nil {
			return err
		}
		if !c.RevokedAt.IsZero() {
			out = c
			return nil
		}
		if _, err := tx.Exec(`UPDATE certs SET revoked_us=?, reason=? WHERE serial=?`, at.UnixMicro(), reason, serial); err != nil {
			return err
		}
		if _, err := tx.Exec(`UPDATE pki_state SET revocation_version = revocation_version + 1 WHERE one=1`); err != nil {
			return err
		}
		c.RevokedAt, c.Reason = time.UnixMicro(at.UnixMicro()).UTC(), reason
		out, changed = c, true
		return nil
	})
	if err != nil {
		return CertRow{}, false, err
	}
	return out, changed, nil
}

func (s *sqliteStore) RevokePrincipal(ctx context.Context, kind, id string, reason int, at time.Time) (PrincipalRevocation, error) {
	var out PrincipalRevocation
	err := s.write(ctx, func(tx *sql.Tx) error {
		out = PrincipalRevocation{}
		if _, err := tx.Exec(`INSERT INTO principals(kind,id,issued,revoked_through,revoked_us,reason) VALUES(?,?,0,0,?,?)
			ON CONFLICT(kind,id) DO UPDATE SET revoked_through = issued, revoked_us = excluded.revoked_us, reason = excluded.reason`,
			kind, id, at.UnixMicro(), reason); err != nil {
			return err
		}
		rows, err := tx.Query(`UPDATE certs SET revoked_us=?, reason=? WHERE kind=? AND id=? AND revoked_us IS NULL RETURNING `+sqliteCertCols,
			at.UnixMicro(), reason, kind, id)
		if err != nil {
			return err
		}
		for rows.Next() {
			c, err := scanSQLiteCert(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out.Revoked = append(out.Revoked, c)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out.Revoked) > 0 {
			if _, err := tx.Exec(`UPDATE pki_state SET revocation_version = revocation_version + 1 WHERE one=1`); err != nil {
				return err
			}
		}
		if kind == tokenKind {
			res, err := tx.Exec(`UPDATE join_tokens SET used_us=? WHERE vehicle_id=? AND used_us IS NULL`, at.UnixMicro(), id)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			out.TokensSpent = int(n)
		}
		return nil
	})
	if err != nil {
		return PrincipalRevocation{}, err
	}
	sortCertRows(out.Revoked)
	return out, nil
}

func (s *sqliteStore) RevocationVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.rdb.QueryRowContext(ctx, `SELECT revocation_version FROM pki_state WHERE one=1`).Scan(&v)
	return v, err
}

func (s *sqliteStore) ListRevokedCerts(ctx context.Context, activeAt time.Time) ([]CertRow, error) {
	return s.queryCerts(ctx, `SELECT `+sqliteCertCols+` FROM certs WHERE revoked_us IS NOT NULL AND not_after_us > ? ORDER BY serial`, activeAt.UnixMicro())
}

func (s *sqliteStore) NextCRLNumber(ctx context.Context) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRow(`UPDATE pki_state SET crl_number = crl_number + 1 WHERE one=1 RETURNING crl_number`).Scan(&n)
	})
	return n, err
}

const sqliteTokenCols = `hash,vehicle_id,created_us,expires_us,used_us,carrier`

func scanSQLiteToken(sc interface{ Scan(...any) error }) (JoinTokenRow, error) {
	var t JoinTokenRow
	var c, e int64
	var u sql.NullInt64
	if err := sc.Scan(&t.Hash, &t.VehicleID, &c, &e, &u, &t.Carrier); err != nil {
		return JoinTokenRow{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt = time.UnixMicro(c).UTC(), time.UnixMicro(e).UTC(), timeOrZero(u)
	return t, nil
}

func (s *sqliteStore) CreateJoinToken(ctx context.Context, t JoinTokenRow) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO join_tokens(`+sqliteTokenCols+`) VALUES(?,?,?,?,?,?)`, t.Hash, t.VehicleID,
			t.CreatedAt.UnixMicro(), t.ExpiresAt.UnixMicro(), usOrNil(t.UsedAt), t.Carrier)
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: join token exists", ErrConflict)
		}
		return err
	})
}

func (s *sqliteStore) GetJoinToken(ctx context.Context, hash []byte) (JoinTokenRow, error) {
	t, err := scanSQLiteToken(s.rdb.QueryRowContext(ctx, `SELECT `+sqliteTokenCols+` FROM join_tokens WHERE hash=?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return JoinTokenRow{}, fmt.Errorf("%w: join token", ErrNotFound)
	}
	return t, err
}

// sqliteConsumeToken marks a join token used at now, inside tx.
func sqliteConsumeToken(tx *sql.Tx, hash []byte, now time.Time) error {
	t, err := scanSQLiteToken(tx.QueryRow(`SELECT `+sqliteTokenCols+` FROM join_tokens WHERE hash=?`, hash))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: join token", ErrNotFound)
	case err != nil:
		return err
	case !t.UsedAt.IsZero():
		return ErrTokenUsed
	case !now.Before(t.ExpiresAt):
		return ErrTokenExpired
	}
	_, err = tx.Exec(`UPDATE join_tokens SET used_us=? WHERE hash=?`, now.UnixMicro(), hash)
	return err
}
