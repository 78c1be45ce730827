package store_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// purgeAll runs PurgeFramePayloads until it says no more may remain, and
// checks that no call went beyond its limit.
func purgeAll(t *testing.T, st store.Store, before time.Time, limit int) int {
	t.Helper()
	total := 0
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("the purge never finishes")
		}
		n, more, err := st.PurgeFramePayloads(ctx, before, before.Add(time.Hour), limit)
		if err != nil {
			t.Fatal(err)
		}
		if n > limit {
			t.Fatalf("one call purged %d rows, limit %d", n, limit)
		}
		total += n
		if !more {
			return total
		}
	}
}

// TestRetentionConformance: a purge empties the payload of frames older
// than its cut-off, on every vehicle, in bounded calls, and keeps the rest
// of the row; reads say the row is purged.
func TestRetentionConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		for _, v := range []string{"T1", "T2"} {
			for seq := int64(0); seq < 10; seq++ {
				if o := appendOne(t, st, rec(v, 0, seq, "b"), 0); o != store.AppendStored {
					t.Fatalf("%s/%d: %v", v, seq, o)
				}
			}
		}
		if o := appendOne(t, st, hbRec("T1", 0, 10, "hb"), 0); o != store.AppendStored {
			t.Fatalf("heartbeat: %v", o)
		}
		cut := rec("T1", 0, 5, "b").TS // seqs 0..4 of each vehicle are older
		if n := purgeAll(t, st, cut, 3); n != 10 {
			t.Fatalf("purged %d rows, want 10 (5 a vehicle)", n)
		}
		for _, v := range []string{"T1", "T2"} {
			fs, err := st.ListFrames(ctx, v, cut.Add(-time.Hour), cut.Add(time.Hour), 0)
			if err != nil || len(fs) != 10 {
				t.Fatalf("ListFrames(%s) = %d rows, %v", v, len(fs), err)
			}
			for _, f := range fs {
				want := rec(v, 0, f.Seq, "b")
				if f.Purged() != (f.Seq < 5) {
					t.Fatalf("%s/%d purged=%v", v, f.Seq, f.Purged())
				}
				if !bytes.Equal(f.Hash, want.Hash) || f.KID != "k1" || f.Alg != "Ed25519" || f.Verdict != "accepted" || !f.TS.Equal(want.TS) {
					t.Fatalf("%s/%d: kept fields changed: %+v", v, f.Seq, f)
				}
				if f.Purged() {
					if len(f.Raw) != 0 || len(f.Sig) != 0 || !f.PurgedAt.Equal(cut.Add(time.Hour)) {
						t.Fatalf("%s/%d: payload kept after purge: raw %d sig %d at %v", v, f.Seq, len(f.Raw), len(f.Sig), f.PurgedAt)
					}
				} else if !bytes.Equal(f.Raw, want.Raw) || !bytes.Equal(f.Sig, want.Sig) {
					t.Fatalf("%s/%d: a frame inside retention lost its payload", v, f.Seq)
				}
			}
		}
		f, err := st.GetFrame(ctx, "T1", 0, 2)
		if err != nil || !f.Purged() || len(f.Raw) != 0 {
			t.Fatalf("GetFrame of a purged row = %+v, %v", f, err)
		}
		hb, err := st.LatestFrame(ctx, "T1", store.HeartbeatKind)
		if err != nil || hb.Purged() || len(hb.Raw) == 0 {
			t.Fatalf("the latest heartbeat must never be purged: %+v, %v", hb, err)
		}
		// Idempotent: again, or with an earlier cut-off, nothing.
		if n := purgeAll(t, st, cut, 3); n != 0 {
			t.Fatalf("a second purge purged %d rows", n)
		}
		if n := purgeAll(t, st, cut.Add(-3*time.Second), 3); n != 0 {
			t.Fatalf("an earlier cut-off purged %d rows", n)
		}
		// A later cut-off purges the next rows only; many rows at one time
		// and a limit of one still finish.
		if n := purgeAll(t, st, rec("T1", 0, 7, "b").TS, 1); n != 4 {
			t.Fatalf("the next cut-off purged %d rows, want 4", n)
		}
		if n, more, err := st.PurgeFramePayloads(ctx, cut.Add(time.Hour), cut, store.MaxPurgeBatch+100); err != nil || n != 6 || more {
			t.Fatalf("last purge = %d, %v, %v", n, more, err)
		}
	})
}

// TestRetentionSameTimeRows: more rows at one frame time than one call's
// limit are all purged (the mark does not skip the rest of the time).
func TestRetentionSameTimeRows(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		base := rec("T1", 0, 0, "b").TS
		for seq := int64(0); seq < 7; seq++ {
			r := rec("T1", 0, seq, "b")
			r.TS = base
			if o := appendOne(t, st, r, 0); o != store.AppendStored {
				t.Fatalf("%d: %v", seq, o)
			}
		}
		if n := purgeAll(t, st, base.Add(time.Second), 2); n != 7 {
			t.Fatalf("purged %d of 7 rows sharing one time", n)
		}
	})
}

// TestAttackPurgedFrameReplayedIsDuplicate: once a frame's payload is
// purged, an exact re-send of it is still a duplicate (its hash is kept),
// and another frame at the same (vehicle, epoch, seq) is still a replay;
// neither changes the purged row.
func TestAttackPurgedFrameReplayedIsDuplicate(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		for seq := int64(0); seq < 3; seq++ {
			appendOne(t, st, rec("T1", 0, seq, "b"), 0)
		}
		if n := purgeAll(t, st, rec("T1", 0, 2, "b").TS, 10); n != 2 {
			t.Fatalf("purged %d", n)
		}
		old := rec("T1", 0, 1, "b")
		if o := appendOne(t, st, old, 0); o != store.AppendDuplicate {
			t.Fatalf("exact re-send of a purged frame: %v, want duplicate", o)
		}
		if o := appendOne(t, st, old, store.MaxAppendWindow); o != store.AppendDuplicate {
			t.Fatalf("exact re-send of a purged frame, window open: %v, want duplicate", o)
		}
		if o := appendOne(t, st, rec("T1", 0, 1, "forged"), store.MaxAppendWindow); o != store.AppendReplay {
			t.Fatalf("other bytes at a purged frame's seq: %v, want replay", o)
		}
		f, err := st.GetFrame(ctx, "T1", 0, 1)
		if err != nil || !f.Purged() || !bytes.Equal(f.Hash, old.Hash) || len(f.Raw) != 0 {
			t.Fatalf("the purged row changed: %+v, %v", f, err)
		}
		if h, err := st.LookupFrame(ctx, "T1", 0, 1); err != nil || !bytes.Equal(h, old.Hash) {
			t.Fatalf("LookupFrame of a purged frame = %x, %v", h, err)
		}
	})
}
