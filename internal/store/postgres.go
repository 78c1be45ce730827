package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgStore is the PostgreSQL engine, for several gateway replicas sharing one
// database. Each write is one transaction; commit is durability.
//
// Heartbeat appends have a pool of their own (prio, PostgresPriorityConns
// connections) and committers of their own (postgres_append.go), so
// telemetry holding every connection of pool never makes a heartbeat wait
// for one.
type pgStore struct {
	pool     *pgxpool.Pool
	prio     *pgxpool.Pool // heartbeat appends only
	desc     string        // host:port/db, never the password
	bulk     chan struct{} // PostgresBulkWriters tokens for bulk writes
	appender *pgAppender   // AppendFrames' group commit (postgres_append.go)
}

// bulkSlot waits for a bulk-write token when ctx is Bulk; release gives it
// back. Other writes pass at once.
func (s *pgStore) bulkSlot(ctx context.Context) (release func(), err error) {
	if !isBulk(ctx) {
		return func() {}, nil
	}
	select {
	case s.bulk <- struct{}{}:
		return func() { <-s.bulk }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// migrationLockID serializes migrations across replicas starting together.
const migrationLockID = 0x66696674 // "fift"

func openPostgres(ctx context.Context, cfg Config) (*pgStore, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// The parse error can echo the URL, password included: say only what to fix.
		return nil, errors.New("store: the --store URL is not a valid PostgreSQL URL (expected postgres://user@host:port/db?sslmode=...)")
	}
	desc := net.JoinHostPort(pc.ConnConfig.Host, strconv.Itoa(int(pc.ConnConfig.Port))) + "/" + pc.ConnConfig.Database
	pc.MaxConns = PostgresMaxConns
	pc.ConnConfig.ConnectTimeout = ConnectTimeout
	cctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(cctx, pc)
	if err != nil {
		return nil, fmt.Errorf("store: cannot connect to PostgreSQL at %s: %v", desc, safePgErr(err))
	}
	if err := pool.Ping(cctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: cannot connect to PostgreSQL at %s: %v; check that the server runs and the URL's host, port, user and database are right", desc, safePgErr(err))
	}
	pc = pc.Copy()
	pc.MaxConns = PostgresPriorityConns
	prio, err := pgxpool.NewWithConfig(cctx, pc) // connects on first use
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: cannot connect to PostgreSQL at %s: %v", desc, safePgErr(err))
	}
	s := &pgStore{pool: pool, prio: prio, desc: desc, bulk: make(chan struct{}, PostgresBulkWriters), appender: newPgAppender(pool, prio)}
	if err := s.migrate(ctx, cfg.NoMigrate); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// safePgErr keeps the server's message and SQLSTATE but drops connection
// strings pgx may include.
func safePgErr(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s (SQLSTATE %s)", pe.Message, pe.Code)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		if u := errors.Unwrap(ce); u != nil {
			return u.Error()
		}
		return "connection failed"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return err.Error()
}

func isPgUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func (s *pgStore) migrate(ctx context.Context, check bool) error {
	ms, err := migrations("postgres")
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
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, name TEXT NOT NULL, applied TIMESTAMPTZ NOT NULL)`); err != nil {
			return err
		}
		var cur int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version),0) FROM schema_migrations`).Scan(&cur); err != nil {
			return err
		}
		if cur > len(ms) {
			return tooNew(cur)
		}
		for _, m := range ms[cur:] {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("store: migration %d (%s): %v", m.version, m.name, safePgErr(err))
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations(version,name,applied) VALUES($1,$2,now())`, m.version, m.name); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *pgStore) Engine() string { return "postgres" }

func (s *pgStore) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: PostgreSQL at %s: %v", s.desc, safePgErr(err))
	}
	return nil
}

func (s *pgStore) SchemaVersion(ctx context.Context) (int, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("store: %v", safePgErr(err))
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version),0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: %v", safePgErr(err))
	}
	return v, nil
}

func (s *pgStore) Close() error {
	s.appender.close()
	s.pool.Close()
	s.prio.Close()
	return nil
}

// --- events ---

func (s *pgStore) AppendEvents(ctx context.Context, evs []EventRow) error {
	if len(evs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	queueEvents(b, evs)
	queueAuditItems(b, eventsItems(evs))
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return sendBatch(ctx, tx, b) })
}

// queueEvents queues one insert of evs, in order (their seq follows it).
func queueEvents(b *pgx.Batch, evs []EventRow) {
	if len(evs) == 0 {
		return
	}
	n := len(evs)
	ids, classes, verdicts, codes, subjects := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	times, bodies := make([]time.Time, n), make([][]byte, n)
	for i, e := range evs {
		ids[i], times[i], classes[i], verdicts[i], codes[i], subjects[i], bodies[i] = e.ID, e.Time.UTC(), e.Class, e.Verdict, e.Code, e.Subject, e.Body
	}
	b.Queue(`INSERT INTO events(id,time,class,verdict,code,subject,body) SELECT id,time,class,verdict,code,subject,body FROM unnest($1::text[],
		$2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[]) WITH ORDINALITY AS e(id,time,class,verdict,code,subject,body,n) ORDER BY n`,
		ids, times, classes, verdicts, codes, subjects, bodies)
}

// sendBatch runs b in tx, pipelined; an event id already recorded is
// ErrConflict.
func sendBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	err := tx.SendBatch(ctx, b).Close()
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.TableName == "events" {
		return fmt.Errorf("%w: event already recorded", ErrConflict)
	}
	return err
}

func (s *pgStore) GetEvent(ctx context.Context, id string) (EventRow, error) {
	var e EventRow
	err := s.pool.QueryRow(ctx, `SELECT seq,id,time,class,verdict,code,subject,body FROM events WHERE id=$1`, id).
		Scan(&e.Seq, &e.ID, &e.Time, &e.Class, &e.Verdict, &e.Code, &e.Subject, &e.Body)
	if errors.Is(err, pgx.ErrNoRows) {
		return EventRow{}, fmt.Errorf("%w: event %s", ErrNotFound, id)
	}
	e.Time = e.Time.UTC()
	return e, err
}

func (s *pgStore) ListEvents(ctx context.Context, f EventFilter) ([]EventRow, error) {
	q := `SELECT seq,id,time,class,verdict,code,subject,body FROM events WHERE seq > $1`
	args := []any{f.AfterSeq}
	if f.Code != "" {
		args = append(args, f.Code)
		q += fmt.Sprintf(` AND code = $%d`, len(args))
	}
	if f.Subject != "" {
		args = append(args, f.Subject)
		q += fmt.Sprintf(` AND subject = $%d`, len(args))
	}
	args = append(args, pageSize(f.Limit))
	q += fmt.Sprintf(` ORDER BY seq LIMIT $%d`, len(args))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (EventRow, error) {
		var e EventRow
		err := r.Scan(&e.Seq, &e.ID, &e.Time, &e.Class, &e.Verdict, &e.Code, &e.Subject, &e.Body)
		e.Time = e.Time.UTC()
		return e, err
	})
}

// --- vehicles ---

func (s *pgStore) CreateVehicle(ctx context.Context, v Vehicle) error {
	labels, err := encodeLabels(v.Labels)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO vehicles(id,status,created,labels,carrier) VALUES($1,$2,$3,$4,$5)`, v.ID, v.Status, v.CreatedAt.UTC(), labels, v.Carrier)
		if isPgUnique(err) {
			return fmt.Errorf("%w: vehicle %s already exists", ErrConflict, v.ID)
		}
		if err != nil {
			return err
		}
		return pgNoteChange(ctx, tx, v.ID)
	})
}

const pgVehicleCols = `id,status,created,labels,carrier`

func scanVehicle(r pgx.Row) (Vehicle, error) {
	var v Vehicle
	var labels []byte
	if err := r.Scan(&v.ID, &v.Status, &v.CreatedAt, &labels, &v.Carrier); err != nil {
		return Vehicle{}, err
	}
	v.CreatedAt = v.CreatedAt.UTC()
	var err error
	v.Labels, err = decodeLabels(labels)
	return v, err
}

func (s *pgStore) GetVehicle(ctx context.Context, id string) (Vehicle, error) {
	v, err := scanVehicle(s.pool.QueryRow(ctx, `SELECT `+pgVehicleCols+` FROM vehicles WHERE id=$1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Vehicle{}, fmt.Errorf("%w: vehicle %s", ErrNotFound, id)
	}
	return v, err
}

func (s *pgStore) queryVehicles(ctx context.Context, q string, args ...any) ([]Vehicle, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Vehicle, error) { return scanVehicle(r) })
}

func (s *pgStore) ListVehicles(ctx context.Context) ([]Vehicle, error) {
	return s.queryVehicles(ctx, `SELECT `+pgVehicleCols+` FROM vehicles ORDER BY id`)
}

// VehicleStatusChannel is the LISTEN/NOTIFY channel a vehicle status change
// notifies, in the same transaction, so replicas close a suspended
// vehicle's connections at once instead of at their next poll.
const VehicleStatusChannel = "fifthwheel_vehicle_status"

func (s *pgStore) SetVehicleStatus(ctx context.Context, id string, status VehicleStatus) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE vehicles SET status=$1 WHERE id=$2`, status, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: vehicle %s", ErrNotFound, id)
		}
		var v int64
		if err := tx.QueryRow(ctx, `UPDATE registry_state SET vehicle_status_version = vehicle_status_version + 1 WHERE one=1 RETURNING vehicle_status_version`).Scan(&v); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, VehicleStatusChannel, fmt.Sprint(v)); err != nil {
			return err
		}
		return pgNoteChange(ctx, tx, id)
	})
}

func (s *pgStore) VehicleStatusVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT vehicle_status_version FROM registry_state WHERE one=1`).Scan(&v)
	return v, err
}

// --- clients ---

func (s *pgStore) CreateClient(ctx context.Context, c Client) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO clients(id,name,status,created,carrier,roles,allowed_sources,hours) VALUES($1,$2,$3,$4,$5,$6,$7,$8)`,
			c.ID, c.Name, c.Status, c.CreatedAt.UTC(), c.Carrier, encodeList(c.Roles), encodeList(c.AllowedSources), c.Hours)
		if isPgUnique(err) {
			return fmt.Errorf("%w: client %s already exists", ErrConflict, c.ID)
		}
		if err != nil {
			return err
		}
		return pgBumpAuthority(ctx, tx)
	})
}

const pgClientCols = `id,name,status,created,carrier,roles,allowed_sources,hours`

func scanPgClient(r pgx.Row) (Client, error) {
	var c Client
	var roles, sources []byte
	if err := r.Scan(&c.ID, &c.Name, &c.Status, &c.CreatedAt, &c.Carrier, &roles, &sources, &c.Hours); err != nil {
		return Client{}, err
	}
	c.CreatedAt = c.CreatedAt.UTC()
	var err error
	if c.Roles, err = decodeList(roles); err != nil {
		return Client{}, err
	}
	c.AllowedSources, err = decodeList(sources)
	return c, err
}

func (s *pgStore) GetClient(ctx context.Context, id string) (Client, error) {
	c, err := scanPgClient(s.pool.QueryRow(ctx, `SELECT `+pgClientCols+` FROM clients WHERE id=$1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Client{}, fmt.Errorf("%w: client %s", ErrNotFound, id)
	}
	return c, err
}

func (s *pgStore) ListClients(ctx context.Context) ([]Client, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pgClientCols+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Client, error) { return scanPgClient(r) })
}

// --- settings ---

func (s *pgStore) PutSetting(ctx context.Context, key string, value []byte) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO settings(key,value,updated) VALUES($1,$2,$3) ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated=excluded.updated`,
		key, value, time.Now().UTC())
	return err
}

func (s *pgStore) GetSetting(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key=$1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: setting %s", ErrNotFound, key)
	}
	return v, err
}
