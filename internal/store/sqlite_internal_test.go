package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"slices"
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
	waitQueued(t, s.lanes[laneBulk], nBulk)
	const nLive = 3
	for i := 0; i < nLive; i++ {
		go func() { errc <- s.write(ctx, record("live")) }()
	}
	waitQueued(t, s.lanes[laneWrites], nLive)
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

// TestSQLiteHeartbeatOvertakesTelemetry: with the writer busy and a
// backlog of telemetry appends queued (several commits' worth), a heartbeat
// append queued after all of them goes into the very next commit, and
// returns while the rest of the backlog still waits; every commit stays
// within MaxCommitRows.
func TestSQLiteHeartbeatOvertakesTelemetry(t *testing.T) {
	st, err := Open(context.Background(), Config{DataDir: t.TempDir(), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*sqliteStore)
	ctx := context.Background()

	// The hook sees every commit after the blocking one, and holds the
	// second of them until the test has seen the heartbeat return.
	var mu sync.Mutex
	var commits [][]writeReq
	atSecond, gate := make(chan struct{}), make(chan struct{})
	armed := false
	s.beforeCommit = func(batch []writeReq) {
		mu.Lock()
		if !armed {
			mu.Unlock()
			return
		}
		commits = append(commits, slices.Clone(batch))
		n := len(commits)
		mu.Unlock()
		if n == 2 {
			close(atSecond)
			<-gate
		}
	}
	var gateOnce sync.Once
	open := func() { gateOnce.Do(func() { close(gate) }) }
	t.Cleanup(func() { open(); st.Close() })

	hold, held := make(chan struct{}), make(chan struct{})
	go func() { _ = s.write(ctx, func(*sql.Tx) error { close(held); <-hold; return nil }) }()
	<-held // the writer is inside a commit
	mu.Lock()
	armed = true
	mu.Unlock()

	const calls, perCall = 3 * MaxCommitRows / 64, 64
	telDone := make(chan error, calls)
	for c := range calls {
		go func() {
			recs := make([]FrameRecord, perCall)
			for i := range recs {
				recs[i] = testFrame(fmt.Sprintf("T%02d", c), int64(i), "telemetry")
			}
			_, err := st.AppendFrames(ctx, recs, 0)
			telDone <- err
		}()
	}
	waitQueued(t, s.lanes[laneWrites], calls)
	hbDone := make(chan error, 1)
	go func() {
		out, err := st.AppendFrames(ctx, []FrameRecord{testFrame("H1", 0, HeartbeatKind)}, 0)
		if err == nil && out[0] != AppendStored {
			err = fmt.Errorf("heartbeat outcome %v", out[0])
		}
		hbDone <- err
	}()
	waitQueued(t, s.lanes[lanePriority], 1)
	close(hold)

	select {
	case err = <-hbDone:
	case <-atSecond:
		// The writer is held before its second commit: the heartbeat is
		// answered only if it was in the first.
		mu.Lock()
		first := commits[0]
		mu.Unlock()
		if first[0].lane != lanePriority {
			t.Fatalf("the first commit after the backlog formed began with a request of lane %d, not the heartbeat", first[0].lane)
		}
		err = <-hbDone
	}
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	first := commits[0]
	mu.Unlock()
	// The heartbeat is acknowledged; the writer is held in the second
	// commit, so what telemetry has returned is at most the first commit's.
	returned := 0
	for len(telDone) > 0 {
		if err := <-telDone; err != nil {
			t.Fatal(err)
		}
		returned++
	}
	if returned >= calls || returned > len(first)-1 {
		t.Fatalf("%d of %d telemetry appends returned before the heartbeat's; want only those of its commit (%d)", returned, calls, len(first)-1)
	}
	open()
	for range calls - returned {
		if err := <-telDone; err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, b := range commits {
		rows := 0
		for _, r := range b {
			rows += r.rows
		}
		if rows > MaxCommitRows && len(b) > 1 {
			t.Errorf("commit %d folded in %d rows, over MaxCommitRows (%d)", i, rows, MaxCommitRows)
		}
	}
	if len(commits) < 3 {
		t.Fatalf("the backlog went in %d commits; the test needs it to span several", len(commits))
	}
}

// testFrame is a minimal record of kind for vehicle at seq.
func testFrame(vehicle string, seq int64, kind string) FrameRecord {
	raw := []byte(fmt.Sprintf(`{"seq":%d,"vehicle_id":%q,"kind":%q}`, seq, vehicle, kind))
	h := sha256.Sum256(raw)
	now := time.Now()
	return FrameRecord{VehicleID: vehicle, Seq: seq, Kind: kind, TS: now, ReceivedAt: now, Alg: "Ed25519", KID: "k1",
		Hash: h[:], Raw: raw, Sig: make([]byte, 64), Verdict: "accepted"}
}
