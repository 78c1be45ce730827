package store_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// markNewer records a schema version this binary does not know, directly in
// the engine, as a newer fifthwheel would.
func markNewer(t *testing.T, cfg store.Config) {
	t.Helper()
	next := store.LatestVersion() + 1
	if cfg.URL != "" {
		c, err := pgx.Connect(context.Background(), cfg.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), `INSERT INTO schema_migrations(version,name,applied) VALUES($1,'future',now())`, next); err != nil {
			t.Fatal(err)
		}
		return
	}
	db, err := sql.Open("sqlite", filepath.Join(cfg.DataDir, store.DBFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO schema_migrations(version,name,applied_us) VALUES(?,'future',0)`, next); err != nil {
		t.Fatal(err)
	}
}

func testSchemaTooNew(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutSetting(ctx, "k", []byte("before")); err != nil {
		t.Fatal(err)
	}
	st.Close()
	markNewer(t, cfg)
	if _, err := store.Open(ctx, cfg); !errors.Is(err, store.ErrSchemaTooNew) || !strings.Contains(err.Error(), "upgrade fifthwheel") {
		t.Fatalf("Open of a newer schema: %v, want ErrSchemaTooNew naming the fix", err)
	}
}

// Bad input to Open: each refused with a clear error, nothing created.
func TestOpenRefusals(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "corrupt")
	os.MkdirAll(notDB, 0o700)
	junk := []byte("this is not a sqlite database, it is a text file of some length....................................................")
	os.WriteFile(filepath.Join(notDB, store.DBFileName), junk, 0o600)
	aFile := filepath.Join(dir, "file")
	os.WriteFile(aFile, nil, 0o600)

	cases := []struct {
		name string
		cfg  store.Config
		want string
	}{
		{"corrupt_database_file", store.Config{DataDir: notDB}, "not a usable fifthwheel database"},
		{"missing_data_dir", store.Config{DataDir: filepath.Join(dir, "absent")}, "does not exist"},
		{"data_dir_is_a_file", store.Config{DataDir: aFile}, "not a directory"},
		{"store_url_does_not_connect", store.Config{URL: "postgres://u:hunter2@127.0.0.1:1/db?sslmode=disable"}, "cannot connect to PostgreSQL at 127.0.0.1:1/db"},
		{"store_url_not_postgres", store.Config{URL: "mysql://x"}, "postgres://"},
		{"both_data_and_url", store.Config{DataDir: dir, URL: "postgres://x"}, "not both"},
		{"neither", store.Config{}, "no store given"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := store.Open(context.Background(), c.cfg)
			if err == nil {
				st.Close()
				t.Fatalf("Open accepted %+v", c.cfg)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
	// Nothing was modified: the corrupt file is byte-identical, no WAL appeared,
	// and the missing directory was not created.
	if b, _ := os.ReadFile(filepath.Join(notDB, store.DBFileName)); string(b) != string(junk) {
		t.Fatal("corrupt database file was modified")
	}
	if ents, _ := os.ReadDir(notDB); len(ents) != 1 {
		t.Fatalf("corrupt data dir gained files: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("missing data dir was created without Create")
	}
}

func TestMigrationsMatchAcrossEngines(t *testing.T) {
	for _, eng := range []string{"sqlite", "postgres"} {
		ents, err := os.ReadDir(filepath.Join("migrations", eng))
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != store.LatestVersion() {
			t.Fatalf("%s has %d migrations, sqlite has %d: both engines must move together", eng, len(ents), store.LatestVersion())
		}
	}
}

var _ = storetest.Engines
