package store

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"
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

// TestSQLiteBulkWritesYield: with the writer busy, writes queued after a
// backlog of bulk writes run before all of them, and every bulk write
// still commits.
func TestSQLiteBulkWritesYield(t *testing.T) {
	st, err := Open(context.Background(), Config{DataDir: t.TempDir(), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := st.(*sqliteStore)
	ctx := context.Background()

	hold, held := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 100)
	go func() {
		errc <- s.write(ctx, func(*sql.Tx) error { close(held); <-hold; return nil })
	}()
	<-held // the writer is inside the first batch

	var mu sync.Mutex
	var order []string
	record := func(name string) func(*sql.Tx) error {
		return func(*sql.Tx) error { mu.Lock(); order = append(order, name); mu.Unlock(); return nil }
	}
	const nBulk = 20
	for i := 0; i < nBulk; i++ {
		go func() { errc <- s.write(Bulk(ctx), record("bulk")) }()
	}
	waitQueued(t, s.bulk, nBulk)
	const nLive = 3
	for i := 0; i < nLive; i++ {
		go func() { errc <- s.write(ctx, record("live")) }()
	}
	waitQueued(t, s.writes, nLive)
	close(hold)
	for i := 0; i < 1+nBulk+nLive; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	want := strings.Repeat("live ", nLive) + strings.Repeat("bulk ", nBulk)
	if got := strings.Join(order, " ") + " "; got != want {
		t.Fatalf("order = %s; want the live writes first, then the bulk writes", got)
	}
}

func waitQueued(t *testing.T, q chan writeReq, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(q) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", len(q), n)
		}
		time.Sleep(time.Millisecond)
	}
}
