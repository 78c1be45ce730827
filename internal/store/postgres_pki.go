package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// RevocationChannel is the LISTEN/NOTIFY channel a revocation notifies, in
// the same transaction, so replicas can refresh at once instead of at their
// next poll.
const RevocationChannel = "fifthwheel_revocations"

func tsOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

func zeroIfNil(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

const pgCertCols = `serial,kind,id,profile,not_before,not_after,issuer_key_id,der,revoked,reason`

func scanPgCert(r pgx.Row) (CertRow, error) {
	var c CertRow
	var rv *time.Time
	if err := r.Scan(&c.Serial, &c.Kind, &c.ID, &c.Profile, &c.NotBefore, &c.NotAfter, &c.IssuerKeyID, &c.DER, &rv, &c.Reason); err != nil {
		return CertRow{}, err
	}
	c.NotBefore, c.NotAfter, c.RevokedAt = c.NotBefore.UTC(), c.NotAfter.UTC(), zeroIfNil(rv)
	return c, nil
}

func (s *pgStore) RecordIssued(ctx context.Context, c CertRow, b IssueBasis) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var seq int64
		if c.Kind != "" {
			through, err := pgLockPrincipal(ctx, tx, c.Kind, c.ID)
			if err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, `UPDATE principals SET issued = issued + 1 WHERE kind=$1 AND id=$2 RETURNING issued`,
				c.Kind, c.ID).Scan(&seq); err != nil {
				return err
			}
			if b.RenewedFrom != "" {
				if err := pgCheckParent(ctx, tx, c, b.RenewedFrom, through); err != nil {
					return err
				}
			}
			if b.JoinToken != nil {
				if err := pgConsumeToken(ctx, tx, b.JoinToken, b.Now); err != nil {
					return err
				}
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO certs(`+pgCertCols+`,seq) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`, c.Serial, c.Kind, c.ID, c.Profile,
			c.NotBefore.UTC(), c.NotAfter.UTC(), c.IssuerKeyID, c.DER, tsOrNil(c.RevokedAt), c.Reason, seq)
		if isPgUnique(err) {
			return fmt.Errorf("%w: certificate %s already recorded", ErrConflict, c.Serial)
		}
		return err
	})
}

// pgLockPrincipal locks the principal's row for the rest of tx, inserting
// it first if missing, and returns its revocation watermark (nil: never
// revoked). Under READ COMMITTED an UPDATE ... WHERE alone would not see a
// row another transaction is inserting; INSERT ... ON CONFLICT DO NOTHING
// waits for that transaction, and the SELECT ... FOR UPDATE that follows (a
// new snapshot) then finds and locks the row. Every issuance of a principal's
// certificate and every revocation of the principal takes this lock first,
// so they are serialized per principal across replicas.
func pgLockPrincipal(ctx context.Context, tx pgx.Tx, kind, id string) (*int64, error) {
	if _, err := tx.Exec(ctx, `INSERT INTO principals(kind,id) VALUES($1,$2) ON CONFLICT (kind,id) DO NOTHING`, kind, id); err != nil {
		return nil, err
	}
	var through *int64
	err := tx.QueryRow(ctx, `SELECT revoked_through FROM principals WHERE kind=$1 AND id=$2 FOR UPDATE`, kind, id).Scan(&through)
	return through, err
}

// pgCheckParent checks the certificate a renewal presents: the same
// principal's, unrevoked, and numbered after the principal's revocation
// watermark (through; nil: never revoked). FOR SHARE orders it against a
// concurrent RevokeCert of that serial: whichever commits first, the other
// sees it.
func pgCheckParent(ctx context.Context, tx pgx.Tx, c CertRow, parent string, through *int64) error {
	var kind, id string
	var seq int64
	var revoked *time.Time
	err := tx.QueryRow(ctx, `SELECT kind, id, seq, revoked FROM certs WHERE serial=$1 FOR SHARE`, parent).Scan(&kind, &id, &seq, &revoked)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || (err == nil && (kind != c.Kind || id != c.ID)):
		return fmt.Errorf("%w: certificate %s of %s:%s", ErrNotFound, parent, c.Kind, c.ID)
	case err != nil:
		return err
	case revoked != nil || (through != nil && seq <= *through):
		return fmt.Errorf("%w: %s", ErrRevoked, parent)
	}
	return nil
}

func (s *pgStore) GetIssued(ctx context.Context, serial string) (CertRow, error) {
	c, err := scanPgCert(s.pool.QueryRow(ctx, `SELECT `+pgCertCols+` FROM certs WHERE serial=$1`, serial))
	if errors.Is(err, pgx.ErrNoRows) {
		return CertRow{}, fmt.Errorf("%w: certificate %s", ErrNotFound, serial)
	}
	return c, err
}

func (s *pgStore) queryCerts(ctx context.Context, q string, args ...any) ([]CertRow, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (CertRow, error) { return scanPgCert(r) })
}

func (s *pgStore) ListIssued(ctx context.Context, kind, id string, limit int) ([]CertRow, error) {
	var lim any
	if limit > 0 {
		lim = limit
	}
	return s.queryCerts(ctx, `SELECT `+pgCertCols+` FROM certs WHERE ($1='' OR kind=$1) AND ($2='' OR id=$2) ORDER BY not_before, serial LIMIT $3`, kind, id, lim)
}

func (s *pgStore) RevokeCert(ctx context.Context, serial string, reason int, at time.Time) (CertRow, bool, error) {
	var out CertRow
	var changed bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := scanPgCert(tx.QueryRow(ctx, `SELECT `+pgCertCols+` FROM certs WHERE serial=$1 FOR UPDATE`, serial))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: certificate %s", ErrNotFound, serial)
		}
		if err != nil {
			return err
		}
		out = c
		if !c.RevokedAt.IsZero() {
			return nil
		}
		at = at.UTC().Truncate(time.Microsecond)
		if _, err := tx.Exec(ctx, `UPDATE certs SET revoked=$1, reason=$2 WHERE serial=$3`, at, reason, serial); err != nil {
			return err
		}
		var v int64
		if err := tx.QueryRow(ctx, `UPDATE pki_state SET revocation_version = revocation_version + 1 WHERE one=1 RETURNING revocation_version`).Scan(&v); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, RevocationChannel, fmt.Sprint(v)); err != nil {
			return err
		}
		out.RevokedAt, out.Reason, changed = at, reason, true
		return nil
	})
	if err != nil {
		return CertRow{}, false, err
	}
	return out, changed, nil
}

func (s *pgStore) RevokePrincipal(ctx context.Context, kind, id string, reason int, at time.Time) (PrincipalRevocation, error) {
	var out PrincipalRevocation
	at = at.UTC().Truncate(time.Microsecond)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out = PrincipalRevocation{}
		if _, err := pgLockPrincipal(ctx, tx, kind, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE principals SET revoked_through = issued, revoked=$3, reason=$4 WHERE kind=$1 AND id=$2`,
			kind, id, at, reason); err != nil {
			return err
		}
		// A new statement, so a new snapshot: it sees every certificate of
		// the principal recorded by the transactions that held the lock
		// before this one.
		rows, err := tx.Query(ctx, `UPDATE certs SET revoked=$3, reason=$4 WHERE kind=$1 AND id=$2 AND revoked IS NULL RETURNING `+pgCertCols,
			kind, id, at, reason)
		if err != nil {
			return err
		}
		if out.Revoked, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (CertRow, error) { return scanPgCert(r) }); err != nil {
			return err
		}
		if len(out.Revoked) > 0 {
			var v int64
			if err := tx.QueryRow(ctx, `UPDATE pki_state SET revocation_version = revocation_version + 1 WHERE one=1 RETURNING revocation_version`).Scan(&v); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, RevocationChannel, fmt.Sprint(v)); err != nil {
				return err
			}
		}
		if kind == tokenKind {
			tag, err := tx.Exec(ctx, `UPDATE join_tokens SET used=$1 WHERE vehicle_id=$2 AND used IS NULL`, at, id)
			if err != nil {
				return err
			}
			out.TokensSpent = int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return PrincipalRevocation{}, err
	}
	sortCertRows(out.Revoked)
	return out, nil
}

func (s *pgStore) RevocationVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT revocation_version FROM pki_state WHERE one=1`).Scan(&v)
	return v, err
}

func (s *pgStore) ListRevokedCerts(ctx context.Context, activeAt time.Time) ([]CertRow, error) {
	return s.queryCerts(ctx, `SELECT `+pgCertCols+` FROM certs WHERE revoked IS NOT NULL AND not_after > $1 ORDER BY serial`, activeAt.UTC())
}

func (s *pgStore) NextCRLNumber(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `UPDATE pki_state SET crl_number = crl_number + 1 WHERE one=1 RETURNING crl_number`).Scan(&n)
	return n, err
}

const pgTokenCols = `hash,vehicle_id,created,expires,used,carrier`

func scanPgToken(r pgx.Row) (JoinTokenRow, error) {
	var t JoinTokenRow
	var u *time.Time
	if err := r.Scan(&t.Hash, &t.VehicleID, &t.CreatedAt, &t.ExpiresAt, &u, &t.Carrier); err != nil {
		return JoinTokenRow{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC(), zeroIfNil(u)
	return t, nil
}

func (s *pgStore) CreateJoinToken(ctx context.Context, t JoinTokenRow) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO join_tokens(`+pgTokenCols+`) VALUES($1,$2,$3,$4,$5,$6)`, t.Hash, t.VehicleID,
		t.CreatedAt.UTC(), t.ExpiresAt.UTC(), tsOrNil(t.UsedAt), t.Carrier)
	if isPgUnique(err) {
		return fmt.Errorf("%w: join token exists", ErrConflict)
	}
	return err
}

func (s *pgStore) GetJoinToken(ctx context.Context, hash []byte) (JoinTokenRow, error) {
	t, err := scanPgToken(s.pool.QueryRow(ctx, `SELECT `+pgTokenCols+` FROM join_tokens WHERE hash=$1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return JoinTokenRow{}, fmt.Errorf("%w: join token", ErrNotFound)
	}
	return t, err
}

// pgConsumeToken marks a join token used at now, inside tx; the row lock
// makes concurrent consumers of one token wait, then see it used.
func pgConsumeToken(ctx context.Context, tx pgx.Tx, hash []byte, now time.Time) error {
	t, err := scanPgToken(tx.QueryRow(ctx, `SELECT `+pgTokenCols+` FROM join_tokens WHERE hash=$1 FOR UPDATE`, hash))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%w: join token", ErrNotFound)
	case err != nil:
		return err
	case !t.UsedAt.IsZero():
		return ErrTokenUsed
	case !now.Before(t.ExpiresAt):
		return ErrTokenExpired
	}
	_, err = tx.Exec(ctx, `UPDATE join_tokens SET used=$1 WHERE hash=$2`, now.UTC().Truncate(time.Microsecond), hash)
	return err
}
