package store_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestMigration0004PrincipalRevocation: a store written at schema version 3
// (certificates recorded before principals existed) is migrated, and its
// old certificates are then covered by a principal revocation like new ones:
// revoked by it, and no longer renewable after it.
func TestMigration0004PrincipalRevocation(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		legacy := []string{"80000000000000000000000000000001", "80000000000000000000000000000002"}
		writeAtVersion3(t, e.Name, cfg, legacy, at)

		st := storetest.OpenConfig(t, cfg)
		if v, err := st.SchemaVersion(ctx); err != nil || v != store.LatestVersion() {
			t.Fatalf("migrated to %d, %v", v, err)
		}
		row := func(serial string) store.CertRow {
			return store.CertRow{Serial: serial, Kind: "vehicle", ID: "truck-1", Profile: "vehicle", NotBefore: at, NotAfter: at.Add(24 * time.Hour),
				IssuerKeyID: "0123456789abcdef0123456789abcdef", DER: []byte{0x30, 0x00}}
		}
		// Before any revocation an old certificate renews as before.
		renewed := "80000000000000000000000000000003"
		if err := st.RecordIssued(ctx, row(renewed), store.IssueBasis{RenewedFrom: legacy[0]}); err != nil {
			t.Fatalf("renewal of a pre-migration certificate: %v", err)
		}
		res, err := st.RevokePrincipal(ctx, "vehicle", "truck-1", 1, at.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Revoked) != 3 || res.TokensSpent != 1 {
			t.Fatalf("revoked %d certificates and %d tokens, want the 2 old and the renewed one, and the old unused token", len(res.Revoked), res.TokensSpent)
		}
		if err := st.RecordIssued(ctx, row("80000000000000000000000000000004"), store.IssueBasis{RenewedFrom: legacy[1]}); !errors.Is(err, store.ErrRevoked) {
			t.Fatalf("renewal of a pre-migration certificate after the revocation: %v, want ErrRevoked", err)
		}
	})
}

// writeAtVersion3 applies migrations 0001-0003 by hand, as a binary of that
// version did, and records certificates of truck-1 and an unused join token
// of truck-1 in them.
func writeAtVersion3(t *testing.T, engine string, cfg store.Config, serials []string, at time.Time) {
	t.Helper()
	dir := filepath.Join("migrations", engine)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })

	var exec func(q string, args ...any) error
	// Statements per engine: the schema_migrations table as migrate makes
	// it, a version row, a certificate row, a join token row.
	var q [4]string
	var ts func(time.Time) any
	if engine == "postgres" {
		c, err := pgx.Connect(ctx, cfg.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		exec = func(s string, args ...any) error { _, err := c.Exec(ctx, s, args...); return err }
		q = [4]string{
			`CREATE TABLE schema_migrations (version INT PRIMARY KEY, name TEXT NOT NULL, applied TIMESTAMPTZ NOT NULL)`,
			`INSERT INTO schema_migrations VALUES ($1,$2,now())`,
			`INSERT INTO certs(serial,kind,id,profile,not_before,not_after,issuer_key_id,der,reason) VALUES ($1,'vehicle','truck-1','vehicle',$2,$3,'k','\x30',0)`,
			`INSERT INTO join_tokens(hash,vehicle_id,created,expires) VALUES ('\x01','truck-1',$1,$2)`,
		}
		ts = func(t time.Time) any { return t }
	} else {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", filepath.Join(cfg.DataDir, store.DBFileName))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		exec = func(s string, args ...any) error { _, err := db.ExecContext(ctx, s, args...); return err }
		q = [4]string{
			`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_us INTEGER NOT NULL) STRICT`,
			`INSERT INTO schema_migrations VALUES (?,?,0)`,
			`INSERT INTO certs(serial,kind,id,profile,not_before_us,not_after_us,issuer_key_id,der,reason) VALUES (?,'vehicle','truck-1','vehicle',?,?,'k',x'30',0)`,
			`INSERT INTO join_tokens(hash,vehicle_id,created_us,expires_us) VALUES (x'01','truck-1',?,?)`,
		}
		ts = func(t time.Time) any { return t.UnixMicro() }
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(exec(q[0]))
	for _, en := range ents[:3] {
		b, err := os.ReadFile(filepath.Join(dir, en.Name()))
		must(err)
		must(exec(string(b)))
		num, name, _ := strings.Cut(strings.TrimSuffix(en.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		must(err)
		must(exec(q[1], v, name))
	}
	for _, s := range serials {
		must(exec(q[2], s, ts(at), ts(at.Add(24*time.Hour))))
	}
	now := time.Now()
	must(exec(q[3], ts(now), ts(now.Add(time.Hour))))
}
