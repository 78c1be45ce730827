// Package storetest gives tests both store engines: a fresh SQLite data
// directory, and a fresh PostgreSQL schema that is dropped after the test.
// Every stateful package runs its tests through Engines, so both engines are
// held to the same cases.
//
// PostgreSQL is found through FIFTHWHEEL_TEST_POSTGRES (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable). If it cannot be
// reached the test fails with a message saying how to start it; setting
// FIFTHWHEEL_SKIP_POSTGRES=1 skips the PostgreSQL engine instead, loudly.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fifthwheel/fifthwheel/internal/store"
)

// DefaultPostgresURL is used when FIFTHWHEEL_TEST_POSTGRES is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Engine is one store engine under test.
type Engine struct {
	Name string
	// New returns the configuration of a fresh, empty store (a new data
	// directory or a new schema) that lives until the test ends. Open it with
	// store.Open as often as the test needs: every Open sees the same data.
	New func(t testing.TB) store.Config
}

// Open opens a fresh store of engine e and closes it when the test ends.
func (e Engine) Open(t testing.TB) store.Store {
	t.Helper()
	return OpenConfig(t, e.New(t))
}

// OpenConfig opens cfg and closes the store when the test ends.
func OpenConfig(t testing.TB, cfg store.Config) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Engines returns SQLite and PostgreSQL.
func Engines() []Engine {
	return []Engine{{Name: "sqlite", New: SQLiteConfig}, {Name: "postgres", New: PostgresConfig}}
}

// Run runs f once per engine as a subtest named after the engine.
func Run(t *testing.T, f func(t *testing.T, e Engine)) {
	for _, e := range Engines() {
		t.Run(e.Name, func(t *testing.T) { f(t, e) })
	}
}

// SQLiteConfig returns the configuration of a fresh embedded store.
func SQLiteConfig(t testing.TB) store.Config {
	return store.Config{DataDir: t.TempDir(), Create: true}
}

// PostgresConfig returns the configuration of a fresh PostgreSQL schema,
// dropped when the test ends.
func PostgresConfig(t testing.TB) store.Config {
	t.Helper()
	base, schema := pgCreate(t, "SCHEMA", "DROP SCHEMA %s CASCADE")
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("FIFTHWHEEL_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return store.Config{URL: u.String()}
}

// PostgresDatabaseConfig is PostgresConfig with a database of the test's
// own instead of a schema: for the tests that count LISTEN/NOTIFY
// wake-ups. NOTIFY is per database, not per schema, so a test counting
// "exactly one notification" in the shared database also hears every
// other test's (another package's, run at the same time) on the same
// channel. The database is dropped when the test ends.
func PostgresDatabaseConfig(t testing.TB) store.Config {
	t.Helper()
	base, db := pgCreate(t, "DATABASE", "DROP DATABASE %s WITH (FORCE)")
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("FIFTHWHEEL_TEST_POSTGRES: %v", err)
	}
	u.Path = "/" + db
	return store.Config{URL: u.String()}
}

// pgCreate creates a uniquely named object of kind (SCHEMA, DATABASE) on
// the test server and drops it with drop (a format taking its name) when
// the test ends; it returns the server's base URL and the name.
func pgCreate(t testing.TB, kind, drop string) (base, name string) {
	t.Helper()
	if os.Getenv("FIFTHWHEEL_SKIP_POSTGRES") == "1" {
		t.Skip("PostgreSQL engine skipped: FIFTHWHEEL_SKIP_POSTGRES=1")
	}
	base = os.Getenv("FIFTHWHEEL_TEST_POSTGRES")
	if base == "" {
		base = DefaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL is required for the store conformance suite and is not reachable (%v).\n"+
			"Run `make test` (it starts or installs PostgreSQL), set FIFTHWHEEL_TEST_POSTGRES to a reachable URL, "+
			"or set FIFTHWHEEL_SKIP_POSTGRES=1 to skip the PostgreSQL engine.", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name = "fwtest_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE "+kind+" "+name); err != nil {
		t.Fatalf("create test %s: %v", strings.ToLower(kind), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop test %s %s: %v", strings.ToLower(kind), name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, fmt.Sprintf(drop, name)); err != nil {
			t.Errorf("drop test %s %s: %v", strings.ToLower(kind), name, err)
		}
	})
	return base, name
}
