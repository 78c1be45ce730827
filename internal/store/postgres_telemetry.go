package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

func (s *pgStore) AddVehicleKey(ctx context.Context, k VehicleKey) error {
	if err := checkSealed(k); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO vehicle_keys(vehicle_id,kid,alg,material,sealed,status,created) VALUES($1,$2,$3,$4,$5,$6,$7)`,
			k.VehicleID, k.KID, k.Alg, k.Material, k.Sealed, KeyActive, k.CreatedAt.UTC())
		if isPgUnique(err) {
			return fmt.Errorf("%w: vehicle %s already has a key %s", ErrConflict, k.VehicleID, k.KID)
		}
		if err != nil {
			return err
		}
		return pgNoteChange(ctx, tx, k.VehicleID)
	})
}

func (s *pgStore) RetireVehicleKey(ctx context.Context, vehicleID, kid string, at time.Time) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE vehicle_keys SET status=$1, retired=coalesce(retired,$2) WHERE vehicle_id=$3 AND kid=$4`,
			KeyRetired, at.UTC(), vehicleID, kid)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: key %s of vehicle %s", ErrNotFound, kid, vehicleID)
		}
		return pgNoteChange(ctx, tx, vehicleID)
	})
}

const pgKeyCols = `vehicle_id,kid,alg,material,sealed,status,created,retired`

func scanPgKey(r pgx.Row) (VehicleKey, error) {
	var k VehicleKey
	var retired *time.Time
	if err := r.Scan(&k.VehicleID, &k.KID, &k.Alg, &k.Material, &k.Sealed, &k.Status, &k.CreatedAt, &retired); err != nil {
		return VehicleKey{}, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	if retired != nil {
		k.RetiredAt = retired.UTC()
	}
	return k, nil
}

func (s *pgStore) GetVehicleKey(ctx context.Context, vehicleID, kid string) (VehicleKey, error) {
	k, err := scanPgKey(s.pool.QueryRow(ctx, `SELECT `+pgKeyCols+` FROM vehicle_keys WHERE vehicle_id=$1 AND kid=$2`, vehicleID, kid))
	if errors.Is(err, pgx.ErrNoRows) {
		return VehicleKey{}, fmt.Errorf("%w: key %s of vehicle %s", ErrNotFound, kid, vehicleID)
	}
	return k, err
}

func (s *pgStore) ListVehicleKeys(ctx context.Context, vehicleID string) ([]VehicleKey, error) {
	return s.queryKeys(ctx, `SELECT `+pgKeyCols+` FROM vehicle_keys WHERE vehicle_id=$1 ORDER BY kid`, vehicleID)
}

func (s *pgStore) ListClearSecrets(ctx context.Context) ([]VehicleKey, error) {
	return s.queryKeys(ctx, `SELECT `+pgKeyCols+` FROM vehicle_keys WHERE alg=$1 AND NOT sealed ORDER BY vehicle_id, kid`, SecretAlg)
}

func (s *pgStore) SealVehicleKey(ctx context.Context, vehicleID, kid string, clear, sealed []byte) error {
	var sealedOne bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE vehicle_keys SET material=$1, sealed=true WHERE vehicle_id=$2 AND kid=$3 AND alg=$4 AND NOT sealed AND material=$5`,
			sealed, vehicleID, kid, SecretAlg, clear)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		sealedOne = true
		return pgNoteChange(ctx, tx, vehicleID)
	})
	if err != nil || sealedOne {
		return err
	}
	if _, err := s.GetVehicleKey(ctx, vehicleID, kid); err != nil {
		return err // ErrNotFound, or the store's failure
	}
	return fmt.Errorf("%w: key %s of vehicle %s is not the clear secret given", ErrConflict, kid, vehicleID)
}

func (s *pgStore) queryKeys(ctx context.Context, q string, args ...any) ([]VehicleKey, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (VehicleKey, error) { return scanPgKey(r) })
}

func (s *pgStore) GetCounter(ctx context.Context, vehicleID string) (Counter, error) {
	c := Counter{VehicleID: vehicleID}
	err := s.pool.QueryRow(ctx, `SELECT epoch,high_seq,updated FROM vehicle_counters WHERE vehicle_id=$1`, vehicleID).Scan(&c.Epoch, &c.HighSeq, &c.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Counter{}, fmt.Errorf("%w: counter of vehicle %s", ErrNotFound, vehicleID)
	}
	if err == nil && c.Epoch < 0 { // the lock placeholder AppendFrames creates
		return Counter{}, fmt.Errorf("%w: counter of vehicle %s", ErrNotFound, vehicleID)
	}
	c.UpdatedAt = c.UpdatedAt.UTC()
	return c, err
}

func (s *pgStore) AdvanceEpoch(ctx context.Context, vehicleID string, epoch int64, at time.Time) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Conditional upsert: the row lock serializes concurrent replicas.
		tag, err := tx.Exec(ctx, `INSERT INTO vehicle_counters(vehicle_id,epoch,high_seq,hb_mask,updated) VALUES($1,$2,-1,0,$3)
			ON CONFLICT(vehicle_id) DO UPDATE SET epoch=excluded.epoch, high_seq=-1, hb_mask=0, updated=excluded.updated
			WHERE vehicle_counters.epoch < excluded.epoch`, vehicleID, epoch, at.UTC())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: epoch %d is not after the current epoch", ErrConflict, epoch)
		}
		return nil
	})
}

func (s *pgStore) LookupFrame(ctx context.Context, vehicleID string, epoch, seq int64) ([]byte, error) {
	var h []byte
	err := s.pool.QueryRow(ctx, `SELECT hash FROM frames WHERE vehicle_id=$1 AND epoch=$2 AND seq=$3
		UNION ALL SELECT hash FROM vehicle_heartbeats WHERE vehicle_id=$1 AND epoch=$2 AND seq=$3 LIMIT 1`, vehicleID, epoch, seq).Scan(&h)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: frame", ErrNotFound)
	}
	return h, err
}

const pgFrameCols = `vehicle_id,epoch,seq,kind,ts,received,alg,kid,hash,raw,sig,verdict,findings`

// pgFrameReadCols are what reads take of a frames row: the inserted
// columns and purged (retention.go).
const pgFrameReadCols = pgFrameCols + `,purged`

func scanPgFrame(r pgx.Row) (FrameRecord, error) {
	var f FrameRecord
	var purged *time.Time
	if err := r.Scan(&f.VehicleID, &f.Epoch, &f.Seq, &f.Kind, &f.TS, &f.ReceivedAt, &f.Alg, &f.KID, &f.Hash, &f.Raw, &f.Sig, &f.Verdict, &f.Findings, &purged); err != nil {
		return FrameRecord{}, err
	}
	f.TS, f.ReceivedAt = f.TS.UTC(), f.ReceivedAt.UTC()
	if purged != nil {
		f.PurgedAt = purged.UTC()
	}
	return f, nil
}

// pgHeartbeatCols are the columns of vehicle_heartbeats as frames rows (the
// latest heartbeat is never purged).
const pgHeartbeatCols = `vehicle_id,epoch,seq,'` + HeartbeatKind + `',ts,received,alg,kid,hash,raw,sig,verdict,findings,NULL::timestamptz`

func (s *pgStore) LatestFrame(ctx context.Context, vehicleID, kind string) (FrameRecord, error) {
	if kind == HeartbeatKind {
		f, err := scanPgFrame(s.pool.QueryRow(ctx, `SELECT `+pgHeartbeatCols+` FROM vehicle_heartbeats WHERE vehicle_id=$1`, vehicleID))
		if !errors.Is(err, pgx.ErrNoRows) {
			return f, err
		}
		// None kept yet: a database written before schema version 7 may
		// hold heartbeat frames rows.
	}
	f, err := scanPgFrame(s.pool.QueryRow(ctx, `SELECT `+pgFrameReadCols+` FROM frames WHERE vehicle_id=$1 AND kind=$2 ORDER BY epoch DESC, seq DESC LIMIT 1`, vehicleID, kind))
	if errors.Is(err, pgx.ErrNoRows) {
		return FrameRecord{}, fmt.Errorf("%w: no %s frame for vehicle %s", ErrNotFound, kind, vehicleID)
	}
	return f, err
}

func (s *pgStore) ListFrames(ctx context.Context, vehicleID string, from, to time.Time, limit int) ([]FrameRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pgFrameReadCols+` FROM frames WHERE vehicle_id=$1 AND ts>=$2 AND ts<$3 ORDER BY epoch, seq LIMIT $4`,
		vehicleID, from.UTC(), to.UTC(), pageSize(limit))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (FrameRecord, error) { return scanPgFrame(r) })
}

func (s *pgStore) GetFrame(ctx context.Context, vehicleID string, epoch, seq int64) (FrameRecord, error) {
	f, err := scanPgFrame(s.pool.QueryRow(ctx, `SELECT `+pgFrameReadCols+` FROM frames WHERE vehicle_id=$1 AND epoch=$2 AND seq=$3
		UNION ALL SELECT `+pgHeartbeatCols+` FROM vehicle_heartbeats WHERE vehicle_id=$1 AND epoch=$2 AND seq=$3 LIMIT 1`, vehicleID, epoch, seq))
	if errors.Is(err, pgx.ErrNoRows) {
		return FrameRecord{}, fmt.Errorf("%w: frame %s/%d/%d", ErrNotFound, vehicleID, epoch, seq)
	}
	return f, err
}
