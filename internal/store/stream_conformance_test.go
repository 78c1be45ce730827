package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestStreamConformance: the event stream (migration 0014) on both
// engines: events in append order after a position, paged; the head; a
// consumer's lease held by one holder at a time, taken over once it
// expires or is released; a cursor that only its live holder moves, and
// never backwards.
func TestStreamConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		t0 := time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC)

		if h, err := st.EventStreamHead(ctx); err != nil || h != 0 {
			t.Fatalf("head of an empty stream: %v, %v", h, err)
		}
		if got, err := st.ReadEventStream(ctx, 0, 0); err != nil || len(got) != 0 {
			t.Fatalf("empty stream: %v, %v", got, err)
		}
		for i := 0; i < 5; i++ {
			if err := st.AppendEvents(ctx, []store.EventRow{ev(fmt.Sprint("e", i), "replay", "s", t0.Add(time.Duration(i)*time.Second))}); err != nil {
				t.Fatal(err)
			}
		}
		var all []store.StreamEvent
		var pos store.StreamPos
		for {
			page, err := st.ReadEventStream(ctx, pos, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			if len(page) > 2 {
				t.Fatalf("page of %d with limit 2", len(page))
			}
			for _, p := range page {
				if p.Pos <= pos {
					t.Fatalf("position %d not after %d", p.Pos, pos)
				}
				pos = p.Pos
			}
			all = append(all, page...)
		}
		if len(all) != 5 {
			t.Fatalf("read %d events, want 5", len(all))
		}
		for i, p := range all {
			if p.ID != fmt.Sprint("e", i) || p.Code != "replay" || !p.Time.Equal(t0.Add(time.Duration(i)*time.Second)) {
				t.Fatalf("event %d: %+v", i, p.EventRow)
			}
		}
		if h, err := st.EventStreamHead(ctx); err != nil || h != all[4].Pos {
			t.Fatalf("head %v, %v; want %v", h, err, all[4].Pos)
		}

		// Consumers and leases.
		const name = "detect"
		p, created, err := st.ClaimStreamConsumer(ctx, name, "gw-a", time.Minute, false)
		if err != nil || !created || p != 0 {
			t.Fatalf("first claim: %v, %v, %v", p, created, err)
		}
		if _, _, err := st.ClaimStreamConsumer(ctx, name, "gw-b", time.Minute, false); !errors.Is(err, store.ErrLeaseHeld) {
			t.Fatalf("claim of a held consumer by another holder: %v, want ErrLeaseHeld", err)
		}
		if err := st.AdvanceStreamConsumer(ctx, name, "gw-b", all[1].Pos); !errors.Is(err, store.ErrLeaseHeld) {
			t.Fatalf("advance by a holder without the lease: %v, want ErrLeaseHeld", err)
		}
		if err := st.AdvanceStreamConsumer(ctx, name, "gw-a", all[2].Pos); err != nil {
			t.Fatal(err)
		}
		if err := st.AdvanceStreamConsumer(ctx, name, "gw-a", all[1].Pos); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a cursor moved back: %v, want ErrConflict", err)
		}
		if err := st.AdvanceStreamConsumer(ctx, "nobody", "gw-a", all[1].Pos); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("advance of an unknown consumer: %v, want ErrNotFound", err)
		}
		// Renewal by the holder keeps the cursor.
		if p, created, err := st.ClaimStreamConsumer(ctx, name, "gw-a", time.Minute, false); err != nil || created || p != all[2].Pos {
			t.Fatalf("renewal: %v, %v, %v; want %v", p, created, err, all[2].Pos)
		}
		// Released: another holder takes over at the cursor at once.
		if err := st.ReleaseStreamConsumer(ctx, name, "gw-a"); err != nil {
			t.Fatal(err)
		}
		if p, _, err := st.ClaimStreamConsumer(ctx, name, "gw-b", 50*time.Millisecond, false); err != nil || p != all[2].Pos {
			t.Fatalf("claim after release: %v, %v", p, err)
		}
		// Expired: another holder takes over, and the old one can no longer
		// advance.
		time.Sleep(100 * time.Millisecond)
		if _, _, err := st.ClaimStreamConsumer(ctx, name, "gw-a", time.Minute, false); err != nil {
			t.Fatalf("claim after expiry: %v", err)
		}
		if err := st.AdvanceStreamConsumer(ctx, name, "gw-b", all[3].Pos); !errors.Is(err, store.ErrLeaseHeld) {
			t.Fatalf("advance after losing the lease: %v, want ErrLeaseHeld", err)
		}
		// A new consumer that starts at the head.
		if p, created, err := st.ClaimStreamConsumer(ctx, "sink:new", "gw-a", time.Minute, true); err != nil || !created || p != all[4].Pos {
			t.Fatalf("a new consumer at the head: %v, %v, %v; want %v", p, created, err, all[4].Pos)
		}
		// atHead does not move an existing consumer.
		if p, _, err := st.ClaimStreamConsumer(ctx, name, "gw-a", time.Minute, true); err != nil || p != all[2].Pos {
			t.Fatalf("atHead moved an existing consumer: %v, %v; want %v", p, err, all[2].Pos)
		}
		if err := st.ReleaseStreamConsumer(ctx, "sink:new", "gw-a"); err != nil {
			t.Fatal(err)
		}
		cs, err := st.StreamConsumers(ctx)
		if err != nil || len(cs) != 2 || cs[0].Name != name || cs[0].Holder != "gw-a" || cs[0].Pos != all[2].Pos || cs[0].LeaseUntil.IsZero() ||
			cs[1].Name != "sink:new" || cs[1].Holder != "" || !cs[1].LeaseUntil.IsZero() {
			t.Fatalf("consumers: %+v, %v", cs, err)
		}
		for _, bad := range []string{"", "has space", string(make([]byte, store.MaxConsumerName+1))} {
			if _, _, err := st.ClaimStreamConsumer(ctx, bad, "gw-a", time.Minute, false); err == nil {
				t.Fatalf("consumer name %q accepted", bad)
			}
		}
	})
}

// TestStreamNeverSkipsALateCommit: on PostgreSQL a transaction that took a
// lower seq and commits after a higher one was read must still be read.
// A reader ordered by seq alone skips it for ever (the event would never
// reach detection or a SIEM): events.seq is taken at insert, not commit.
// The stream numbers rows only once they are committed, so the late one
// comes after the position already read. SQLite has no such case: its one
// writer commits in seq order.
func TestStreamNeverSkipsALateCommit(t *testing.T) {
	cfg := storetest.PostgresConfig(t)
	st := storetest.OpenConfig(t, cfg)
	t0 := time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC)

	conn, err := pgx.Connect(ctx, cfg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	slow, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback(ctx)
	if _, err := slow.Exec(ctx, `INSERT INTO events(id,time,class,verdict,code,subject,body) VALUES ('slow',$1,'test','reject','replay','s','{}')`, t0); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents(ctx, []store.EventRow{ev("fast", "replay", "s", t0)}); err != nil {
		t.Fatal(err)
	}
	// The fast event committed first, with the higher seq; a reader gets
	// it and moves its cursor past it.
	got, err := st.ReadEventStream(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "fast" {
		t.Fatalf("while the slow transaction runs: %v, want [fast]", streamIDs(got))
	}
	cursor := got[0].Pos
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, err = st.ReadEventStream(ctx, cursor, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "slow" {
		t.Fatalf("after the slow commit, reading after the cursor: %v; want [slow] (a reader past fast must still get it)", streamIDs(got))
	}
	fast, _ := st.GetEvent(ctx, "fast")
	if got[0].Seq >= fast.Seq {
		t.Fatalf("the test did not make the case: slow's seq %d is not below fast's %d", got[0].Seq, fast.Seq)
	}
}

func streamIDs(evs []store.StreamEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}
