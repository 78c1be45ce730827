package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteStore is the embedded engine. All writes go through one goroutine
// (writer) that group-commits: it takes the requests queued while the
// previous transaction was syncing, runs each inside its own SAVEPOINT (so
// one failing request does not undo the others), commits once, and only then
// answers every caller. synchronous=FULL makes that commit durable.
//
// Requests wait in three lanes, and each commit takes them in lane order:
// priority (heartbeat appends: a truck whose heartbeat is not answered in
// time stops), then writes, then bulk (backfill). A commit folds in at most
// MaxGroupCommit requests and MaxCommitRows rows, so a heartbeat waits for
// at most the commit in progress and its own, both bounded, whatever the
// telemetry backlog behind it.
type sqliteStore struct {
	path   string
	wdb    *sql.DB // one connection, used only by the writer goroutine
	rdb    *sql.DB // read pool
	cdb    *sql.DB // one connection, used only by the checkpointer
	lanes  [numLanes]chan writeReq
	quit   chan struct{}
	done   chan struct{}
	cpDone chan struct{}
	once   sync.Once

	// beforeCommit, if set (by tests only), is called on the writer
	// goroutine with each batch before it runs.
	beforeCommit func(batch []writeReq)

	// stmts caches the writer's prepared statements on wdb; wanted lists
	// the statements to prepare once the current transaction ends. Parsing
	// SQL costs this engine more than running an insert, and the hot writes
	// (frames, events, savepoints) run thousands of times a second. Both
	// are touched only on the writer goroutine.
	stmts  map[string]*sql.Stmt
	wanted []string
}

// prep returns q ready to run in tx. A statement seen before runs from the
// writer's cache; a new one is prepared for this transaction and cached
// after it ends (wdb has one connection, which tx holds until then).
// Callers Close what prep returns, as with tx.Prepare; that never closes
// the cached statement. Only write functions (on the writer goroutine)
// call it.
func (s *sqliteStore) prep(tx *sql.Tx, q string) (*sql.Stmt, error) {
	if st, ok := s.stmts[q]; ok {
		return tx.Stmt(st), nil
	}
	s.wanted = append(s.wanted, q)
	return tx.Prepare(q)
}

// prepareWanted caches the statements prep met for the first time. A
// statement that does not prepare (its table is gone) is left uncached.
func (s *sqliteStore) prepareWanted() {
	for _, q := range s.wanted {
		if _, ok := s.stmts[q]; ok {
			continue
		}
		if st, err := s.wdb.Prepare(q); err == nil {
			s.stmts[q] = st
		}
	}
	s.wanted = s.wanted[:0]
}

// checkpointer copies committed WAL frames into the database file in the
// background (PASSIVE: it never blocks the writer or readers), so commits
// are not stalled behind a checkpoint inside the writer.
func (s *sqliteStore) checkpointer() {
	defer close(s.cpDone)
	t := time.NewTicker(CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			// Errors (SQLITE_BUSY when another process checkpoints) are
			// harmless: the next tick or the writer's safety net catches up.
			_, _ = s.cdb.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

// The writer's lanes, in the order each commit takes them.
const (
	lanePriority = iota // heartbeat appends
	laneWrites          // every other write
	laneBulk            // writes under a Bulk context
	numLanes
)

type writeReq struct {
	fn   func(tx *sql.Tx) error
	errc chan error
	lane int
	rows int // the work it adds to a commit (MaxCommitRows), at least 1
}

func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	// Savepoint (sub-)journals in memory: the writer opens one savepoint
	// per queued request, and a temporary file for their page images cost
	// a write syscall per page (8 % of the gateway's CPU at 1,000 trucks).
	// They are bounded by one group commit and never needed after a crash.
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Set("_txlock", "immediate")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

func openSQLite(ctx context.Context, cfg Config) (*sqliteStore, error) {
	dir := cfg.DataDir
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist) && cfg.Create:
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: cannot create data directory %s: %v", dir, err)
		}
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("store: data directory %s does not exist; create it with `fifthwheel store migrate --data %s` or `fifthwheel serve --dev --data %s`", dir, dir, dir)
	case err != nil:
		return nil, fmt.Errorf("store: cannot read data directory %s: %v", dir, err)
	case !st.IsDir():
		return nil, fmt.Errorf("store: data directory %s is not a directory", dir)
	}
	path := filepath.Join(dir, DBFileName)
	fresh := false
	if fi, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if !cfg.Create && cfg.NoMigrate {
			return nil, fmt.Errorf("store: no database in %s; run `fifthwheel store migrate --data %s` first", dir, dir)
		}
		fresh = true
	} else if err != nil {
		return nil, fmt.Errorf("store: cannot read %s: %v", path, err)
	} else if fi.IsDir() {
		return nil, fmt.Errorf("store: %s is a directory, expected the SQLite database file", path)
	}

	// Probe an existing file read-only first, so a corrupt or foreign file
	// is reported without being touched (no WAL switch, no migration).
	if !fresh {
		if err := probeSQLite(ctx, path); err != nil {
			return nil, err
		}
	}

	wdb, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %v", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	// WAL is persistent in the file; setting it once on the writer suffices.
	var mode string
	if err := wdb.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: %s: %v", path, describeSQLiteErr(err))
	}
	if !strings.EqualFold(mode, "wal") {
		wdb.Close()
		return nil, fmt.Errorf("store: %s: cannot enable WAL journal (got %q)", path, mode)
	}
	if fresh {
		_ = os.Chmod(path, 0o600)
	}
	for _, p := range []string{fmt.Sprintf("PRAGMA wal_autocheckpoint=%d", WriterAutoCheckpoint), fmt.Sprintf("PRAGMA cache_size=-%d", WriterCacheKiB)} {
		if _, err := wdb.ExecContext(ctx, p); err != nil {
			wdb.Close()
			return nil, fmt.Errorf("store: %s: %v", path, describeSQLiteErr(err))
		}
	}
	cdb, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: open %s: %v", path, err)
	}
	cdb.SetMaxOpenConns(1)
	rdb, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		wdb.Close()
		cdb.Close()
		return nil, fmt.Errorf("store: open %s: %v", path, err)
	}
	rdb.SetMaxOpenConns(SQLiteReaders)
	rdb.SetMaxIdleConns(SQLiteReaders)

	s := &sqliteStore{path: path, wdb: wdb, rdb: rdb, cdb: cdb, stmts: map[string]*sql.Stmt{},
		quit: make(chan struct{}), done: make(chan struct{}), cpDone: make(chan struct{})}
	for i := range s.lanes {
		s.lanes[i] = make(chan writeReq, WriteQueue)
	}
	go s.writer()
	go s.checkpointer()

	if err := s.migrate(ctx, cfg.NoMigrate); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// probeSQLite opens path read-only and reads the schema, so a file that is
// not a SQLite database, or is corrupt, is refused before anything writes.
func probeSQLite(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return fmt.Errorf("store: open %s: %v", path, err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		return fmt.Errorf("store: %s is not a usable fifthwheel database: %v; restore it from backup or point --data at another directory", path, describeSQLiteErr(err))
	}
	return nil
}

func describeSQLiteErr(err error) string {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB:
			return "file is not a SQLite database"
		case sqlite3.SQLITE_CORRUPT:
			return "database file is corrupt"
		case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_READONLY:
			return "cannot open the database file for writing (check permissions)"
		}
	}
	return err.Error()
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

func (s *sqliteStore) migrate(ctx context.Context, check bool) error {
	ms, err := migrations("sqlite")
	if err != nil {
		return err
	}
	have, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if have > len(ms) {
		return tooNew(have)
	}
	if have == len(ms) {
		return nil
	}
	if check {
		return fmt.Errorf("store: schema version %d is behind %d; run `fifthwheel store migrate`", have, len(ms))
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_us INTEGER NOT NULL) STRICT`); err != nil {
			return err
		}
		// Re-read inside the write lock: another process may have migrated.
		var cur int
		if err := tx.QueryRow(`SELECT coalesce(max(version),0) FROM schema_migrations`).Scan(&cur); err != nil {
			return err
		}
		if cur > len(ms) {
			return tooNew(cur)
		}
		for _, m := range ms[cur:] {
			if err := sqliteAddColumns(tx, m); err != nil {
				return err
			}
			if _, err := tx.Exec(m.sql); err != nil {
				return fmt.Errorf("store: migration %d (%s): %v", m.version, m.name, err)
			}
			if _, err := tx.Exec(`INSERT INTO schema_migrations(version,name,applied_us) VALUES(?,?,?)`, m.version, m.name, time.Now().UnixMicro()); err != nil {
				return err
			}
		}
		return nil
	})
}

// sqliteAddColumns adds m's add-column columns (migrate.go) the tables
// lack. The names come from the embedded migrations, never from input.
func sqliteAddColumns(tx *sql.Tx, m migration) error {
	cols, err := m.addColumns()
	if err != nil {
		return err
	}
	for _, c := range cols {
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, c.table, c.column).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		if _, err := tx.Exec(`ALTER TABLE "` + c.table + `" ADD COLUMN "` + c.column + `" ` + c.definition); err != nil {
			return fmt.Errorf("store: migration %d (%s): adding %s.%s: %v", m.version, m.name, c.table, c.column, err)
		}
	}
	return nil
}

// writer is the single writing goroutine. It waits for a request, then
// commits the batch fill gathers; on Close it commits what is queued, then
// stops.
func (s *sqliteStore) writer() {
	defer close(s.done)
	var held [numLanes]*writeReq
	batch := make([]writeReq, 0, MaxGroupCommit)
	for {
		if !anyHeld(&held) {
			var r writeReq
			select {
			case r = <-s.lanes[lanePriority]:
			case r = <-s.lanes[laneWrites]:
			case r = <-s.lanes[laneBulk]:
			case <-s.quit:
				// Drain what was queued before Close, then stop.
				for {
					if batch = s.fill(batch[:0], &held); len(batch) == 0 {
						return
					}
					s.commit(batch)
				}
			}
			// Held, not taken: fill orders it among the other lanes.
			held[r.lane] = &r
		}
		s.commit(s.fill(batch[:0], &held))
	}
}

func anyHeld(held *[numLanes]*writeReq) bool {
	for _, r := range held {
		if r != nil {
			return true
		}
	}
	return false
}

// fill gathers the next batch into batch: the queued requests in lane order
// (priority, writes, bulk), each lane in arrival order, until the batch has
// MaxGroupCommit requests or the next request would take it past
// MaxCommitRows. That request is held, first of its lane for the next
// batch; a request is never skipped for a smaller one behind it. The first
// request of a batch is taken whatever its size.
func (s *sqliteStore) fill(batch []writeReq, held *[numLanes]*writeReq) []writeReq {
	rows := 0
	for lane, q := range s.lanes {
		for len(batch) < MaxGroupCommit {
			var r writeReq
			if h := held[lane]; h != nil {
				r, held[lane] = *h, nil
			} else {
				select {
				case r = <-q:
				default:
				}
			}
			if r.errc == nil {
				break // lane empty
			}
			if len(batch) > 0 && rows+r.rows > MaxCommitRows {
				held[lane] = &r
				return batch
			}
			batch = append(batch, r)
			rows += r.rows
		}
	}
	return batch
}

// commit runs batch in one transaction, each request in its own savepoint.
func (s *sqliteStore) commit(batch []writeReq) {
	defer s.prepareWanted()
	if s.beforeCommit != nil {
		s.beforeCommit(batch)
	}
	errs := make([]error, len(batch))
	fail := func(err error) {
		for _, r := range batch {
			r.errc <- err
		}
	}
	tx, err := s.wdb.Begin()
	if err != nil {
		fail(fmt.Errorf("store: begin: %v", describeSQLiteErr(err)))
		return
	}
	exec := func(q string) error {
		st, err := s.prep(tx, q)
		if err != nil {
			return err
		}
		defer st.Close()
		_, err = st.Exec()
		return err
	}
	for i, r := range batch {
		if err := exec("SAVEPOINT w"); err != nil {
			errs[i] = err
			continue
		}
		if err := runGuarded(r.fn, tx); err != nil {
			errs[i] = err
			if rbErr := exec("ROLLBACK TO w"); rbErr != nil {
				_ = tx.Rollback()
				fail(fmt.Errorf("store: rollback to savepoint: %v", rbErr))
				return
			}
		}
		if err := exec("RELEASE w"); err != nil {
			_ = tx.Rollback()
			fail(fmt.Errorf("store: release savepoint: %v", err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("store: commit: %v", describeSQLiteErr(err)))
		return
	}
	for i, r := range batch {
		r.errc <- errs[i]
	}
}

// runGuarded runs fn, turning a panic in it into an error so one bad request
// cannot kill the writer (and with it every caller).
func runGuarded(fn func(*sql.Tx) error, tx *sql.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: write panicked: %v", p)
		}
	}()
	return fn(tx)
}

// write queues fn, a write of one row's work, in the writes lane (the bulk
// lane under a Bulk context) and waits until its transaction is durable.
func (s *sqliteStore) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.writeIn(ctx, laneOf(ctx), 1, fn)
}

// laneOf is the lane of a write under ctx: bulk or writes.
func laneOf(ctx context.Context) int {
	if isBulk(ctx) {
		return laneBulk
	}
	return laneWrites
}

// writeIn queues fn in lane as rows of work (MaxCommitRows) and waits until
// its transaction is durable.
func (s *sqliteStore) writeIn(ctx context.Context, lane, rows int, fn func(tx *sql.Tx) error) error {
	r := writeReq{fn: fn, errc: make(chan error, 1), lane: lane, rows: max(rows, 1)}
	select {
	case <-s.quit:
		return ErrClosed
	default:
	}
	select {
	case s.lanes[lane] <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.quit:
		return ErrClosed
	}
	// Once queued the request will be answered (the writer drains on Close);
	// waiting for it keeps "returned nil" equal to "durable".
	return <-r.errc
}

func (s *sqliteStore) Engine() string { return "sqlite" }

func (s *sqliteStore) Ping(ctx context.Context) error {
	if err := s.rdb.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %v", err)
	}
	// A write round trip proves the writer and the disk answer.
	return s.write(ctx, func(tx *sql.Tx) error { _, err := tx.Exec("SELECT 1"); return err })
}

func (s *sqliteStore) SchemaVersion(ctx context.Context) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type='table' AND name='schema_migrations'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: %v", describeSQLiteErr(err))
	}
	if n == 0 {
		return 0, nil
	}
	var v int
	if err := s.rdb.QueryRowContext(ctx, `SELECT coalesce(max(version),0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: %v", describeSQLiteErr(err))
	}
	return v, nil
}

func (s *sqliteStore) Close() error {
	s.once.Do(func() {
		close(s.quit)
		<-s.done
		<-s.cpDone
		for _, st := range s.stmts { // the writer has stopped
			_ = st.Close()
		}
	})
	return errors.Join(s.wdb.Close(), s.rdb.Close(), s.cdb.Close())
}

// --- events ---

const sqliteInsertEvent = `INSERT INTO events(id,time_us,class,verdict,code,subject,body) VALUES(?,?,?,?,?,?,?)`

func (s *sqliteStore) AppendEvents(ctx context.Context, evs []EventRow) error {
	if len(evs) == 0 {
		return nil
	}
	return s.writeIn(ctx, laneOf(ctx), len(evs), func(tx *sql.Tx) error {
		stmt, err := s.prep(tx, sqliteInsertEvent)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, e := range evs {
			if err := execEvent(stmt, e); err != nil {
				return err
			}
		}
		return s.appendAuditItemsTx(tx, eventsItems(evs))
	})
}

func execEvent(stmt *sql.Stmt, e EventRow) error {
	if _, err := stmt.Exec(e.ID, e.Time.UnixMicro(), e.Class, e.Verdict, e.Code, e.Subject, e.Body); err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: event %s already recorded", ErrConflict, e.ID)
		}
		return err
	}
	return nil
}

func (s *sqliteStore) GetEvent(ctx context.Context, id string) (EventRow, error) {
	var e EventRow
	var us int64
	err := s.rdb.QueryRowContext(ctx, `SELECT seq,id,time_us,class,verdict,code,subject,body FROM events WHERE id=?`, id).
		Scan(&e.Seq, &e.ID, &us, &e.Class, &e.Verdict, &e.Code, &e.Subject, &e.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return EventRow{}, fmt.Errorf("%w: event %s", ErrNotFound, id)
	}
	e.Time = time.UnixMicro(us).UTC()
	return e, err
}

func (s *sqliteStore) ListEvents(ctx context.Context, f EventFilter) ([]EventRow, error) {
	q := `SELECT seq,id,time_us,class,verdict,code,subject,body FROM events WHERE seq > ?`
	args := []any{f.AfterSeq}
	if f.Code != "" {
		q += ` AND code = ?`
		args = append(args, f.Code)
	}
	if f.Subject != "" {
		q += ` AND subject = ?`
		args = append(args, f.Subject)
	}
	q += ` ORDER BY seq LIMIT ?`
	args = append(args, pageSize(f.Limit))
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []EventRow
	for rows.Next() {
		var e EventRow
		var us int64
		if err := rows.Scan(&e.Seq, &e.ID, &us, &e.Class, &e.Verdict, &e.Code, &e.Subject, &e.Body); err != nil {
			return nil, err
		}
		e.Time = time.UnixMicro(us).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// --- vehicles ---

func (s *sqliteStore) CreateVehicle(ctx context.Context, v Vehicle) error {
	labels, err := encodeLabels(v.Labels)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO vehicles(id,status,created_us,labels,carrier) VALUES(?,?,?,?,?)`, v.ID, v.Status, v.CreatedAt.UnixMicro(), labels, v.Carrier)
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: vehicle %s already exists", ErrConflict, v.ID)
		}
		if err != nil {
			return err
		}
		return sqliteNoteChange(tx, v.ID)
	})
}

const sqliteVehicleCols = `id,status,created_us,labels,carrier`

func scanSQLiteVehicle(sc interface{ Scan(...any) error }) (Vehicle, error) {
	var v Vehicle
	var us int64
	var labels string
	if err := sc.Scan(&v.ID, &v.Status, &us, &labels, &v.Carrier); err != nil {
		return Vehicle{}, err
	}
	v.CreatedAt = time.UnixMicro(us).UTC()
	var err error
	v.Labels, err = decodeLabels([]byte(labels))
	return v, err
}

func (s *sqliteStore) GetVehicle(ctx context.Context, id string) (Vehicle, error) {
	v, err := scanSQLiteVehicle(s.rdb.QueryRowContext(ctx, `SELECT `+sqliteVehicleCols+` FROM vehicles WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Vehicle{}, fmt.Errorf("%w: vehicle %s", ErrNotFound, id)
	}
	return v, err
}

func (s *sqliteStore) queryVehicles(ctx context.Context, q string, args ...any) ([]Vehicle, error) {
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Vehicle
	for rows.Next() {
		v, err := scanSQLiteVehicle(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (s *sqliteStore) ListVehicles(ctx context.Context) ([]Vehicle, error) {
	return s.queryVehicles(ctx, `SELECT `+sqliteVehicleCols+` FROM vehicles ORDER BY id`)
}

func (s *sqliteStore) SetVehicleStatus(ctx context.Context, id string, status VehicleStatus) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE vehicles SET status=? WHERE id=?`, status, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: vehicle %s", ErrNotFound, id)
		}
		if _, err := tx.Exec(`UPDATE registry_state SET vehicle_status_version = vehicle_status_version + 1 WHERE one=1`); err != nil {
			return err
		}
		return sqliteNoteChange(tx, id)
	})
}

func (s *sqliteStore) VehicleStatusVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.rdb.QueryRowContext(ctx, `SELECT vehicle_status_version FROM registry_state WHERE one=1`).Scan(&v)
	return v, err
}

// --- clients ---

func (s *sqliteStore) CreateClient(ctx context.Context, c Client) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO clients(id,name,status,created_us,carrier,roles,allowed_sources,hours) VALUES(?,?,?,?,?,?,?,?)`,
			c.ID, c.Name, c.Status, c.CreatedAt.UnixMicro(), c.Carrier, encodeList(c.Roles), encodeList(c.AllowedSources), c.Hours)
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: client %s already exists", ErrConflict, c.ID)
		}
		if err != nil {
			return err
		}
		return sqliteBumpAuthority(tx)
	})
}

const sqliteClientCols = `id,name,status,created_us,carrier,roles,allowed_sources,hours`

func scanSQLiteClient(sc interface{ Scan(...any) error }) (Client, error) {
	var c Client
	var us int64
	var roles, sources string
	if err := sc.Scan(&c.ID, &c.Name, &c.Status, &us, &c.Carrier, &roles, &sources, &c.Hours); err != nil {
		return Client{}, err
	}
	c.CreatedAt = time.UnixMicro(us).UTC()
	var err error
	if c.Roles, err = decodeList([]byte(roles)); err != nil {
		return Client{}, err
	}
	c.AllowedSources, err = decodeList([]byte(sources))
	return c, err
}

func (s *sqliteStore) GetClient(ctx context.Context, id string) (Client, error) {
	c, err := scanSQLiteClient(s.rdb.QueryRowContext(ctx, `SELECT `+sqliteClientCols+` FROM clients WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Client{}, fmt.Errorf("%w: client %s", ErrNotFound, id)
	}
	return c, err
}

func (s *sqliteStore) ListClients(ctx context.Context) ([]Client, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+sqliteClientCols+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Client
	for rows.Next() {
		c, err := scanSQLiteClient(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// --- settings ---

func (s *sqliteStore) PutSetting(ctx context.Context, key string, value []byte) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO settings(key,value,updated_us) VALUES(?,?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_us=excluded.updated_us`,
			key, value, time.Now().UnixMicro())
		return err
	})
}

func (s *sqliteStore) GetSetting(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.rdb.QueryRowContext(ctx, `SELECT value FROM settings WHERE key=?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: setting %s", ErrNotFound, key)
	}
	return v, err
}
