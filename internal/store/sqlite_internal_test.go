package store

import (
	"context"
	"testing"
)

// The durability promise rests on these pragmas; check them on the live
// writer connection rather than trusting the DSN.
func TestSQLiteDurabilityPragmas(t *testing.T) {
	st, err := Open(context.Background(), Config{DataDir: t.TempDir(), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := st.(*sqliteStore)
	var mode string
	var sync, busy int
	if err := s.wdb.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	if err := s.wdb.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != 2 {
		t.Fatalf("synchronous = %d, %v; want 2 (FULL)", sync, err)
	}
	if err := s.wdb.QueryRow("PRAGMA busy_timeout").Scan(&busy); err != nil || busy != int(BusyTimeout.Milliseconds()) {
		t.Fatalf("busy_timeout = %d, %v", busy, err)
	}
}
