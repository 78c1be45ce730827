package store_test

import (
	"errors"
	"testing"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// downgradeTo6 undoes migration 0007 in cfg's engine, as a binary of schema
// version 6 left the store: heartbeats were frames rows then.
func downgradeTo6(t *testing.T, cfg store.Config) {
	t.Helper()
	for _, q := range [][2]string{
		{`DROP TABLE vehicle_heartbeats`, `DROP TABLE vehicle_heartbeats`},
		{`ALTER TABLE vehicle_counters DROP COLUMN hb_mask`, `ALTER TABLE vehicle_counters DROP COLUMN hb_mask`},
		{`CREATE INDEX frames_received ON frames(received_us)`, `CREATE INDEX frames_received ON frames(received)`},
		{`CREATE INDEX events_subject ON events(subject, seq)`, `CREATE INDEX events_subject ON events(subject, seq)`},
		{`DELETE FROM schema_migrations WHERE version >= 7`, `DELETE FROM schema_migrations WHERE version >= 7`},
	} {
		storetest.Exec(t, cfg, q[0], q[1])
	}
}

// TestMigration0007KeepsHeartbeatRows: a store of schema version 6, whose
// heartbeats are frames rows, migrates with them readable: the latest is
// the vehicle's latest heartbeat and its re-send a duplicate until a newer
// heartbeat is kept the new way, without a frames row.
func TestMigration0007KeepsHeartbeatRows(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		st := storetest.OpenConfig(t, cfg)
		st.Close()
		downgradeTo6(t, cfg)
		old := hbRec("T1", 0, 7, "old")
		at := storetest.Timestamp(cfg, old.TS)
		storetest.Exec(t, cfg,
			`INSERT INTO frames(vehicle_id,epoch,seq,kind,ts_us,received_us,alg,kid,hash,raw,sig,verdict) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)`,
			`INSERT INTO frames(vehicle_id,epoch,seq,kind,ts,received,alg,kid,hash,raw,sig,verdict) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
			old.VehicleID, old.Epoch, old.Seq, old.Kind, at, at, old.Alg, old.KID, old.Hash, old.Raw, old.Sig, old.Verdict)
		storetest.Exec(t, cfg,
			`INSERT INTO vehicle_counters(vehicle_id,epoch,high_seq,updated_us) VALUES('T1',0,7,?)`,
			`INSERT INTO vehicle_counters(vehicle_id,epoch,high_seq,updated) VALUES('T1',0,7,$1)`, at)

		st = storetest.OpenConfig(t, cfg)
		if v, err := st.SchemaVersion(ctx); err != nil || v != store.LatestVersion() {
			t.Fatalf("schema version %d, %v", v, err)
		}
		if f, err := st.LatestFrame(ctx, "T1", store.HeartbeatKind); err != nil || f.Seq != 7 || string(f.Raw) != string(old.Raw) {
			t.Fatalf("latest heartbeat after the migration: %+v, %v", f, err)
		}
		if got := appendOne(t, st, old, 0); got != store.AppendDuplicate {
			t.Fatalf("re-send of the pre-migration heartbeat: %v, want duplicate", got)
		}
		if got := appendOne(t, st, hbRec("T1", 0, 8, "new"), 0); got != store.AppendStored {
			t.Fatalf("first heartbeat after the migration: %v", got)
		}
		if f, err := st.LatestFrame(ctx, "T1", store.HeartbeatKind); err != nil || f.Seq != 8 {
			t.Fatalf("latest heartbeat: %+v, %v", f, err)
		}
		if _, err := st.GetFrame(ctx, "T1", 0, 7); err != nil {
			t.Fatalf("the pre-migration heartbeat row is no longer readable: %v", err)
		}
		if list, err := st.ListFrames(ctx, "T1", old.TS.Add(-1), old.TS.Add(3600e9), 0); err != nil || len(list) != 1 || list[0].Seq != 7 {
			t.Fatalf("frames rows: %+v, %v; want the pre-migration heartbeat only", list, err)
		}
		if got := appendOne(t, st, old, 0); got != store.AppendDuplicate {
			t.Fatalf("re-send of the pre-migration heartbeat row after a newer one: %v, want duplicate (its row is kept)", got)
		}
		if _, err := st.LookupFrame(ctx, "T1", 0, 9); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("LookupFrame of nothing: %v", err)
		}
	})
}
