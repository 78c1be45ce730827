package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

func (s *sqliteStore) AddVehicleKey(ctx context.Context, k VehicleKey) error {
	if err := checkSealed(k); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO vehicle_keys(vehicle_id,kid,alg,material,sealed,status,created_us) VALUES(?,?,?,?,?,?,?)`,
			k.VehicleID, k.KID, k.Alg, k.Material, k.Sealed, KeyActive, k.CreatedAt.UnixMicro())
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: vehicle %s already has a key %s", ErrConflict, k.VehicleID, k.KID)
		}
		if err != nil {
			return err
		}
		return sqliteNoteChange(tx, k.VehicleID)
	})
}

func (s *sqliteStore) RetireVehicleKey(ctx context.Context, vehicleID, kid string, at time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE vehicle_keys SET status=?, retired_us=coalesce(retired_us, ?) WHERE vehicle_id=? AND kid=?`,
			KeyRetired, at.UnixMicro(), vehicleID, kid)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: key %s of vehicle %s", ErrNotFound, kid, vehicleID)
		}
		return sqliteNoteChange(tx, vehicleID)
	})
}

const sqliteKeyCols = `vehicle_id,kid,alg,material,sealed,status,created_us,coalesce(retired_us,0)`

func scanSQLiteKey(sc interface{ Scan(...any) error }) (VehicleKey, error) {
	var k VehicleKey
	var c, r int64
	if err := sc.Scan(&k.VehicleID, &k.KID, &k.Alg, &k.Material, &k.Sealed, &k.Status, &c, &r); err != nil {
		return VehicleKey{}, err
	}
	k.CreatedAt = time.UnixMicro(c).UTC()
	if r != 0 {
		k.RetiredAt = time.UnixMicro(r).UTC()
	}
	return k, nil
}

func (s *sqliteStore) GetVehicleKey(ctx context.Context, vehicleID, kid string) (VehicleKey, error) {
	k, err := scanSQLiteKey(s.rdb.QueryRowContext(ctx, `SELECT `+sqliteKeyCols+` FROM vehicle_keys WHERE vehicle_id=? AND kid=?`, vehicleID, kid))
	if errors.Is(err, sql.ErrNoRows) {
		return VehicleKey{}, fmt.Errorf("%w: key %s of vehicle %s", ErrNotFound, kid, vehicleID)
	}
	return k, err
}

func (s *sqliteStore) ListVehicleKeys(ctx context.Context, vehicleID string) ([]VehicleKey, error) {
	return s.queryKeys(ctx, `SELECT `+sqliteKeyCols+` FROM vehicle_keys WHERE vehicle_id=? ORDER BY kid`, vehicleID)
}

func (s *sqliteStore) ListClearSecrets(ctx context.Context) ([]VehicleKey, error) {
	return s.queryKeys(ctx, `SELECT `+sqliteKeyCols+` FROM vehicle_keys WHERE alg=? AND sealed=0 ORDER BY vehicle_id, kid`, SecretAlg)
}

func (s *sqliteStore) SealVehicleKey(ctx context.Context, vehicleID, kid string, clear, sealed []byte) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		// secure_delete: the bytes the update frees are overwritten with
		// zeros, not left in the page's free space.
		if _, err := tx.Exec(`PRAGMA secure_delete=ON`); err != nil {
			return err
		}
		defer tx.Exec(`PRAGMA secure_delete=OFF`)
		res, err := tx.Exec(`UPDATE vehicle_keys SET material=?, sealed=1 WHERE vehicle_id=? AND kid=? AND alg=? AND sealed=0 AND material=?`,
			sealed, vehicleID, kid, SecretAlg, clear)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return sqliteNoteChange(tx, vehicleID)
		}
		var one int
		if err := tx.QueryRow(`SELECT 1 FROM vehicle_keys WHERE vehicle_id=? AND kid=?`, vehicleID, kid).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: key %s of vehicle %s", ErrNotFound, kid, vehicleID)
		} else if err != nil {
			return err
		}
		return fmt.Errorf("%w: key %s of vehicle %s is not the clear secret given", ErrConflict, kid, vehicleID)
	})
	if err != nil {
		return err
	}
	// Move the committed pages into the database file and empty the WAL,
	// which still holds earlier page images with the clear secret. Best
	// effort: another process's reader can make it busy; the WAL is then
	// overwritten as it is reused.
	_, _ = s.cdb.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return nil
}

func (s *sqliteStore) queryKeys(ctx context.Context, q string, args ...any) ([]VehicleKey, error) {
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []VehicleKey
	for rows.Next() {
		k, err := scanSQLiteKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func (s *sqliteStore) GetCounter(ctx context.Context, vehicleID string) (Counter, error) {
	c := Counter{VehicleID: vehicleID}
	var us int64
	err := s.rdb.QueryRowContext(ctx, `SELECT epoch,high_seq,updated_us FROM vehicle_counters WHERE vehicle_id=?`, vehicleID).Scan(&c.Epoch, &c.HighSeq, &us)
	if errors.Is(err, sql.ErrNoRows) {
		return Counter{}, fmt.Errorf("%w: counter of vehicle %s", ErrNotFound, vehicleID)
	}
	c.UpdatedAt = time.UnixMicro(us).UTC()
	return c, err
}

func (s *sqliteStore) AdvanceEpoch(ctx context.Context, vehicleID string, epoch int64, at time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var cur int64
		err := tx.QueryRow(`SELECT epoch FROM vehicle_counters WHERE vehicle_id=?`, vehicleID).Scan(&cur)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			cur = -1
		case err != nil:
			return err
		}
		if epoch <= cur {
			return fmt.Errorf("%w: epoch %d is not after the current epoch %d", ErrConflict, epoch, cur)
		}
		_, err = tx.Exec(`INSERT INTO vehicle_counters(vehicle_id,epoch,high_seq,updated_us) VALUES(?,?,-1,?)
			ON CONFLICT(vehicle_id) DO UPDATE SET epoch=excluded.epoch, high_seq=-1, updated_us=excluded.updated_us`,
			vehicleID, epoch, at.UnixMicro())
		return err
	})
}

func (s *sqliteStore) LookupFrame(ctx context.Context, vehicleID string, epoch, seq int64) ([]byte, error) {
	var h []byte
	err := s.rdb.QueryRowContext(ctx, `SELECT hash FROM frames WHERE vehicle_id=? AND epoch=? AND seq=?`, vehicleID, epoch, seq).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: frame", ErrNotFound)
	}
	return h, err
}

func (s *sqliteStore) AppendFrames(ctx context.Context, recs []FrameRecord, window int64) ([]AppendOutcome, error) {
	out := make([]AppendOutcome, len(recs))
	err := s.write(ctx, func(tx *sql.Tx) error {
		getC, err := s.prep(tx, `SELECT epoch,high_seq FROM vehicle_counters WHERE vehicle_id=?`)
		if err != nil {
			return err
		}
		defer getC.Close()
		getH, err := s.prep(tx, `SELECT hash FROM frames WHERE vehicle_id=? AND epoch=? AND seq=?`)
		if err != nil {
			return err
		}
		defer getH.Close()
		ins, err := s.prep(tx, `INSERT INTO frames(vehicle_id,epoch,seq,kind,ts_us,received_us,alg,kid,hash,raw,sig,verdict,findings) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		upC, err := s.prep(tx, `INSERT INTO vehicle_counters(vehicle_id,epoch,high_seq,updated_us) VALUES(?,?,?,?)
			ON CONFLICT(vehicle_id) DO UPDATE SET epoch=excluded.epoch, high_seq=excluded.high_seq, updated_us=excluded.updated_us`)
		if err != nil {
			return err
		}
		defer upC.Close()
		var insE *sql.Stmt
		defer func() {
			if insE != nil {
				insE.Close()
			}
		}()
		type cstate struct {
			c     Counter
			ok    bool
			dirty bool
		}
		counters := map[string]*cstate{}
		for i, r := range recs {
			cs := counters[r.VehicleID]
			if cs == nil {
				cs = &cstate{c: Counter{VehicleID: r.VehicleID}}
				err := getC.QueryRow(r.VehicleID).Scan(&cs.c.Epoch, &cs.c.HighSeq)
				switch {
				case err == nil:
					cs.ok = true
				case !errors.Is(err, sql.ErrNoRows):
					return err
				}
				counters[r.VehicleID] = cs
			}
			var stored []byte
			if err := getH.QueryRow(r.VehicleID, r.Epoch, r.Seq).Scan(&stored); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			out[i] = decideAppend(cs.c, cs.ok, r, stored, window)
			if out[i] != AppendStored {
				continue
			}
			if _, err := ins.Exec(r.VehicleID, r.Epoch, r.Seq, r.Kind, r.TS.UnixMicro(), r.ReceivedAt.UnixMicro(), r.Alg, r.KID,
				r.Hash, r.Raw, r.Sig, r.Verdict, r.Findings); err != nil {
				return err
			}
			if len(r.Events) > 0 && insE == nil {
				if insE, err = s.prep(tx, sqliteInsertEvent); err != nil {
					return err
				}
			}
			for _, e := range r.Events {
				if err := execEvent(insE, e); err != nil {
					return err
				}
			}
			if !cs.ok {
				cs.c.Epoch, cs.c.HighSeq, cs.ok = r.Epoch, r.Seq, true
			} else if r.Seq > cs.c.HighSeq {
				cs.c.HighSeq = r.Seq
			}
			cs.dirty = true
		}
		now := time.Now().UnixMicro()
		for _, cs := range counters {
			if !cs.dirty {
				continue
			}
			if _, err := upC.Exec(cs.c.VehicleID, cs.c.Epoch, cs.c.HighSeq, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

const sqliteFrameCols = `vehicle_id,epoch,seq,kind,ts_us,received_us,alg,kid,hash,raw,sig,verdict,findings`

func scanSQLiteFrame(sc interface{ Scan(...any) error }) (FrameRecord, error) {
	var f FrameRecord
	var ts, rx int64
	if err := sc.Scan(&f.VehicleID, &f.Epoch, &f.Seq, &f.Kind, &ts, &rx, &f.Alg, &f.KID, &f.Hash, &f.Raw, &f.Sig, &f.Verdict, &f.Findings); err != nil {
		return FrameRecord{}, err
	}
	f.TS, f.ReceivedAt = time.UnixMicro(ts).UTC(), time.UnixMicro(rx).UTC()
	return f, nil
}

func (s *sqliteStore) LatestFrame(ctx context.Context, vehicleID, kind string) (FrameRecord, error) {
	f, err := scanSQLiteFrame(s.rdb.QueryRowContext(ctx, `SELECT `+sqliteFrameCols+` FROM frames WHERE vehicle_id=? AND kind=? ORDER BY epoch DESC, seq DESC LIMIT 1`, vehicleID, kind))
	if errors.Is(err, sql.ErrNoRows) {
		return FrameRecord{}, fmt.Errorf("%w: no %s frame for vehicle %s", ErrNotFound, kind, vehicleID)
	}
	return f, err
}

func (s *sqliteStore) ListFrames(ctx context.Context, vehicleID string, from, to time.Time, limit int) ([]FrameRecord, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+sqliteFrameCols+` FROM frames WHERE vehicle_id=? AND ts_us>=? AND ts_us<? ORDER BY epoch, seq LIMIT ?`,
		vehicleID, from.UnixMicro(), to.UnixMicro(), pageSize(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []FrameRecord
	for rows.Next() {
		f, err := scanSQLiteFrame(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func (s *sqliteStore) GetFrame(ctx context.Context, vehicleID string, epoch, seq int64) (FrameRecord, error) {
	f, err := scanSQLiteFrame(s.rdb.QueryRowContext(ctx, `SELECT `+sqliteFrameCols+` FROM frames WHERE vehicle_id=? AND epoch=? AND seq=?`, vehicleID, epoch, seq))
	if errors.Is(err, sql.ErrNoRows) {
		return FrameRecord{}, fmt.Errorf("%w: frame %s/%d/%d", ErrNotFound, vehicleID, epoch, seq)
	}
	return f, err
}
