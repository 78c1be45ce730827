package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
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
		_, err = tx.Exec(`INSERT INTO vehicle_counters(vehicle_id,epoch,high_seq,hb_mask,updated_us) VALUES(?,?,-1,0,?)
			ON CONFLICT(vehicle_id) DO UPDATE SET epoch=excluded.epoch, high_seq=-1, hb_mask=0, updated_us=excluded.updated_us`,
			vehicleID, epoch, at.UnixMicro())
		return err
	})
}

// sqliteLookup finds the hash at (vehicle ?1, epoch ?2, seq ?3): a frames
// row, or the vehicle's latest heartbeat.
const sqliteLookup = `SELECT hash FROM frames WHERE vehicle_id=?1 AND epoch=?2 AND seq=?3
	UNION ALL SELECT hash FROM vehicle_heartbeats WHERE vehicle_id=?1 AND epoch=?2 AND seq=?3 LIMIT 1`

func (s *sqliteStore) LookupFrame(ctx context.Context, vehicleID string, epoch, seq int64) ([]byte, error) {
	var h []byte
	err := s.rdb.QueryRowContext(ctx, sqliteLookup, vehicleID, epoch, seq).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: frame", ErrNotFound)
	}
	return h, err
}

// The writer's statements for AppendFrames.
const (
	sqliteLoadState = `SELECT c.epoch, c.high_seq, c.hb_mask, h.epoch, h.seq, h.hash
		FROM vehicle_counters c LEFT JOIN vehicle_heartbeats h ON h.vehicle_id = c.vehicle_id WHERE c.vehicle_id=?`
	sqliteFrameHash  = `SELECT hash FROM frames WHERE vehicle_id=? AND epoch=? AND seq=?`
	sqlitePutCounter = `INSERT INTO vehicle_counters(vehicle_id,epoch,high_seq,hb_mask,updated_us) VALUES(?,?,?,?,?)
		ON CONFLICT(vehicle_id) DO UPDATE SET epoch=excluded.epoch, high_seq=excluded.high_seq, hb_mask=excluded.hb_mask, updated_us=excluded.updated_us`
	sqlitePutHeartbeat = `INSERT INTO vehicle_heartbeats(vehicle_id,epoch,seq,ts_us,received_us,alg,kid,hash,raw,sig,verdict,findings) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(vehicle_id) DO UPDATE SET epoch=excluded.epoch, seq=excluded.seq, ts_us=excluded.ts_us, received_us=excluded.received_us,
		alg=excluded.alg, kid=excluded.kid, hash=excluded.hash, raw=excluded.raw, sig=excluded.sig, verdict=excluded.verdict, findings=excluded.findings`
)

// frameInsertRows are the sizes of the multi-row frames inserts: a call's
// frames go in as few of them as fit, largest first, so the writer caches
// four statements and runs a handful per call instead of one per frame
// (13 parameters a row: 64 rows stay far below SQLite's 32766).
var frameInsertRows = [...]int{64, 16, 4, 1}

// sqliteInsertFrames holds the insert statement of n rows for each n of
// frameInsertRows.
var sqliteInsertFrames = func() map[int]string {
	m := map[int]string{}
	for _, n := range frameInsertRows {
		row := "(?,?,?,?,?,?,?,?,?,?,?,?,?)"
		m[n] = `INSERT INTO frames(` + sqliteFrameCols + `) VALUES ` + row + strings.Repeat(","+row, n-1)
	}
	return m
}()

// AppendFrames decides the whole call in memory (appendPlan) against the
// counters it reads inside the writer's transaction, then writes the frames
// rows in multi-row inserts, the events, the counters and the latest
// heartbeats. A call of heartbeats only takes the priority lane.
func (s *sqliteStore) AppendFrames(ctx context.Context, recs []FrameRecord, window int64) ([]AppendOutcome, error) {
	if err := checkWindow(window); err != nil {
		return nil, err
	}
	lane, rows := laneOf(ctx), len(recs)
	if onlyHeartbeats(recs) {
		lane = lanePriority
	}
	for i := range recs {
		rows += len(recs[i].Events)
	}
	var out []AppendOutcome
	err := s.writeIn(ctx, lane, rows, func(tx *sql.Tx) error {
		states, err := s.loadStates(tx, recs)
		if err != nil {
			return err
		}
		getH, err := s.prep(tx, sqliteFrameHash)
		if err != nil {
			return err
		}
		defer getH.Close()
		plan := newAppendPlan(states, func(k frameKey) ([]byte, error) {
			var h []byte
			if err := getH.QueryRow(k.vehicle, k.epoch, k.seq).Scan(&h); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return nil, err
			}
			return h, nil
		})
		if out, err = plan.add(recs, window); err != nil {
			return err
		}
		if err := s.insertFrames(tx, plan.frames); err != nil {
			return err
		}
		if err := s.insertEvents(tx, plan.events); err != nil {
			return err
		}
		// The audit log's items, in the same commit as the rows they cover.
		if err := s.appendAuditItemsTx(tx, framesAndEventsItems(plan.frames, plan.events)); err != nil {
			return err
		}
		return s.saveStates(tx, states)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// loadStates reads the counter and latest heartbeat of every vehicle of
// recs, inside the writer's transaction.
func (s *sqliteStore) loadStates(tx *sql.Tx, recs []FrameRecord) (map[string]*vehicleState, error) {
	get, err := s.prep(tx, sqliteLoadState)
	if err != nil {
		return nil, err
	}
	defer get.Close()
	states := map[string]*vehicleState{}
	for i := range recs {
		id := recs[i].VehicleID
		if states[id] != nil {
			continue
		}
		st := &vehicleState{c: Counter{VehicleID: id}}
		var mask int64
		var hbEpoch, hbSeq sql.NullInt64
		var hbHash []byte
		err := get.QueryRow(id).Scan(&st.c.Epoch, &st.c.HighSeq, &mask, &hbEpoch, &hbSeq, &hbHash)
		switch {
		case err == nil:
			st.ok, st.mask = true, uint64(mask)
			st.hb = heartbeatRef{ok: hbEpoch.Valid, epoch: hbEpoch.Int64, seq: hbSeq.Int64, hash: hbHash}
		case !errors.Is(err, sql.ErrNoRows):
			return nil, err
		}
		states[id] = st
	}
	return states, nil
}

// insertFrames writes frames in multi-row inserts (frameInsertRows).
func (s *sqliteStore) insertFrames(tx *sql.Tx, frames []*FrameRecord) error {
	args := make([]any, 0, 13*frameInsertRows[0])
	for len(frames) > 0 {
		n := frameInsertRows[len(frameInsertRows)-1]
		for _, c := range frameInsertRows {
			if c <= len(frames) {
				n = c
				break
			}
		}
		args = args[:0]
		for _, r := range frames[:n] {
			args = append(args, r.VehicleID, r.Epoch, r.Seq, r.Kind, r.TS.UnixMicro(), r.ReceivedAt.UnixMicro(), r.Alg, r.KID,
				r.Hash, r.Raw, r.Sig, r.Verdict, r.Findings)
		}
		st, err := s.prep(tx, sqliteInsertFrames[n])
		if err != nil {
			return err
		}
		_, err = st.Exec(args...)
		st.Close()
		if err != nil {
			return err
		}
		frames = frames[n:]
	}
	return nil
}

func (s *sqliteStore) insertEvents(tx *sql.Tx, evs []EventRow) error {
	if len(evs) == 0 {
		return nil
	}
	st, err := s.prep(tx, sqliteInsertEvent)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, e := range evs {
		if err := execEvent(st, e); err != nil {
			return err
		}
	}
	return nil
}

// saveStates writes back the counters and latest heartbeats the call moved.
func (s *sqliteStore) saveStates(tx *sql.Tx, states map[string]*vehicleState) error {
	var up, hb *sql.Stmt
	defer func() {
		for _, st := range []*sql.Stmt{up, hb} {
			if st != nil {
				st.Close()
			}
		}
	}()
	now := time.Now().UnixMicro()
	for _, st := range states {
		if !st.dirty {
			continue
		}
		var err error
		if up == nil {
			if up, err = s.prep(tx, sqlitePutCounter); err != nil {
				return err
			}
		}
		if _, err := up.Exec(st.c.VehicleID, st.c.Epoch, st.c.HighSeq, int64(st.mask), now); err != nil {
			return err
		}
		r := st.hbRec
		if r == nil {
			continue
		}
		if hb == nil {
			if hb, err = s.prep(tx, sqlitePutHeartbeat); err != nil {
				return err
			}
		}
		if _, err := hb.Exec(r.VehicleID, r.Epoch, r.Seq, r.TS.UnixMicro(), r.ReceivedAt.UnixMicro(), r.Alg, r.KID, r.Hash, r.Raw, r.Sig, r.Verdict, r.Findings); err != nil {
			return err
		}
	}
	return nil
}

const sqliteFrameCols = `vehicle_id,epoch,seq,kind,ts_us,received_us,alg,kid,hash,raw,sig,verdict,findings`

// sqliteFrameReadCols are what reads take of a frames row: the inserted
// columns and purged_us (retention.go).
const sqliteFrameReadCols = sqliteFrameCols + `,purged_us`

func scanSQLiteFrame(sc interface{ Scan(...any) error }) (FrameRecord, error) {
	var f FrameRecord
	var ts, rx int64
	var purged sql.NullInt64
	if err := sc.Scan(&f.VehicleID, &f.Epoch, &f.Seq, &f.Kind, &ts, &rx, &f.Alg, &f.KID, &f.Hash, &f.Raw, &f.Sig, &f.Verdict, &f.Findings, &purged); err != nil {
		return FrameRecord{}, err
	}
	f.TS, f.ReceivedAt = time.UnixMicro(ts).UTC(), time.UnixMicro(rx).UTC()
	if purged.Valid {
		f.PurgedAt = time.UnixMicro(purged.Int64).UTC()
	}
	return f, nil
}

// sqliteHeartbeatCols are the columns of vehicle_heartbeats as frames rows
// (the latest heartbeat is never purged).
const sqliteHeartbeatCols = `vehicle_id,epoch,seq,'` + HeartbeatKind + `',ts_us,received_us,alg,kid,hash,raw,sig,verdict,findings,NULL`

func (s *sqliteStore) LatestFrame(ctx context.Context, vehicleID, kind string) (FrameRecord, error) {
	if kind == HeartbeatKind {
		f, err := scanSQLiteFrame(s.rdb.QueryRowContext(ctx, `SELECT `+sqliteHeartbeatCols+` FROM vehicle_heartbeats WHERE vehicle_id=?`, vehicleID))
		if !errors.Is(err, sql.ErrNoRows) {
			return f, err
		}
		// None kept yet: a database written before schema version 7 may
		// hold heartbeat frames rows.
	}
	f, err := scanSQLiteFrame(s.rdb.QueryRowContext(ctx, `SELECT `+sqliteFrameReadCols+` FROM frames WHERE vehicle_id=? AND kind=? ORDER BY epoch DESC, seq DESC LIMIT 1`, vehicleID, kind))
	if errors.Is(err, sql.ErrNoRows) {
		return FrameRecord{}, fmt.Errorf("%w: no %s frame for vehicle %s", ErrNotFound, kind, vehicleID)
	}
	return f, err
}

func (s *sqliteStore) ListFrames(ctx context.Context, vehicleID string, from, to time.Time, limit int) ([]FrameRecord, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+sqliteFrameReadCols+` FROM frames WHERE vehicle_id=? AND ts_us>=? AND ts_us<? ORDER BY epoch, seq LIMIT ?`,
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
	f, err := scanSQLiteFrame(s.rdb.QueryRowContext(ctx, `SELECT `+sqliteFrameReadCols+` FROM frames WHERE vehicle_id=?1 AND epoch=?2 AND seq=?3
		UNION ALL SELECT `+sqliteHeartbeatCols+` FROM vehicle_heartbeats WHERE vehicle_id=?1 AND epoch=?2 AND seq=?3 LIMIT 1`, vehicleID, epoch, seq))
	if errors.Is(err, sql.ErrNoRows) {
		return FrameRecord{}, fmt.Errorf("%w: frame %s/%d/%d", ErrNotFound, vehicleID, epoch, seq)
	}
	return f, err
}
