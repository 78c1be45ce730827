package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestPostgresHeartbeatOvertakesTelemetry: with every pooled connection
// taken and a backlog of telemetry appends waiting for one, a heartbeat
// append is still acknowledged, before any of that backlog; then the
// backlog commits in full. (The SQLite writer's counterpart is
// TestSQLiteHeartbeatOvertakesTelemetry.)
func TestPostgresHeartbeatOvertakesTelemetry(t *testing.T) {
	st := storetest.OpenConfig(t, storetest.PostgresConfig(t))
	release := store.HoldPostgresPool(t, st)
	var once sync.Once
	t.Cleanup(func() { once.Do(release) })

	const calls, perCall = 4 * store.PostgresCommitters, 64
	telDone := make(chan error, calls)
	for c := range calls {
		go func() {
			recs := make([]store.FrameRecord, perCall)
			for i := range recs {
				recs[i] = rec(fmt.Sprintf("T%02d", c), 0, int64(i), "t")
			}
			out, err := st.AppendFrames(ctx, recs, 0)
			if err == nil && out[perCall-1] != store.AppendStored {
				err = fmt.Errorf("outcome %v", out[perCall-1])
			}
			telDone <- err
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for store.PostgresAppendsWaiting(st) < calls {
		if time.Now().After(deadline) {
			t.Fatalf("%d telemetry appends waiting, want %d", store.PostgresAppendsWaiting(st), calls)
		}
		time.Sleep(time.Millisecond)
	}

	hbDone := make(chan error, 1)
	go func() {
		out, err := st.AppendFrames(ctx, []store.FrameRecord{hbRec("H1", 0, 1, "hb")}, 0)
		if err == nil && out[0] != store.AppendStored {
			err = fmt.Errorf("heartbeat outcome %v", out[0])
		}
		hbDone <- err
	}()
	select {
	case err := <-hbDone:
		if err != nil {
			t.Fatal(err)
		}
	case err := <-telDone:
		t.Fatalf("a telemetry append returned (%v) while every connection was held", err)
	case <-time.After(30 * time.Second):
		// Not a timing assertion: without its own connections the
		// heartbeat would wait here until the pool is given back.
		t.Fatal("the heartbeat append is waiting behind the telemetry backlog")
	}
	if n := store.PostgresAppendsWaiting(st); n != calls {
		t.Fatalf("%d telemetry appends waiting when the heartbeat returned, want all %d", n, calls)
	}
	once.Do(release)
	for range calls {
		if err := <-telDone; err != nil {
			t.Fatal(err)
		}
	}
	if c, err := st.GetCounter(ctx, "H1"); err != nil || c.HighSeq != 1 {
		t.Fatalf("heartbeat counter %+v, %v", c, err)
	}
}
