package store_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

func TestTelemetryConformance(t *testing.T) {
	cases := []struct {
		name string
		f    func(t *testing.T, e storetest.Engine)
	}{
		{"keys", testKeys},
		{"counter_rules", testCounterRules},
		{"window", testWindow},
		{"epoch_advance", testEpochAdvance},
		{"reads", testFrameReads},
		{"same_frame_two_replicas", testSameFrameTwoReplicas},
		{"events_with_frame", testEventsWithFrame},
		{"heartbeat_kept_without_frame_row", testHeartbeatKept},
		{"heartbeat_resends", testHeartbeatResends},
		{"window_cannot_reuse_heartbeat_seq", testWindowHeartbeatSeqs},
		{"heartbeat_epochs", testHeartbeatEpochs},
		{"heartbeats_and_frames_in_one_call", testHeartbeatsMixed},
		{"same_heartbeat_two_replicas", testSameHeartbeatTwoReplicas},
		{"window_wider_than_mask_refused", testWindowTooWide},
	}
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { c.f(t, e) })
		}
	})
}

func testKeys(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	at := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	k := store.VehicleKey{VehicleID: "T1", KID: "k1", Alg: "Ed25519", Material: make([]byte, 32), CreatedAt: at}
	if err := st.AddVehicleKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := st.AddVehicleKey(ctx, k); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate kid: %v", err)
	}
	got, err := st.GetVehicleKey(ctx, "T1", "k1")
	if err != nil || got.Status != store.KeyActive || got.Alg != "Ed25519" || len(got.Material) != 32 || !got.RetiredAt.IsZero() || !got.CreatedAt.Equal(at) {
		t.Fatalf("GetVehicleKey = %+v, %v", got, err)
	}
	if _, err := st.GetVehicleKey(ctx, "T2", "k1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("other vehicle's kid must not resolve: %v", err)
	}
	if err := st.RetireVehicleKey(ctx, "T1", "k1", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := st.RetireVehicleKey(ctx, "T1", "k1", at.Add(2*time.Hour)); err != nil {
		t.Fatalf("retiring twice: %v", err)
	}
	got, _ = st.GetVehicleKey(ctx, "T1", "k1")
	if got.Status != store.KeyRetired || !got.RetiredAt.Equal(at.Add(time.Hour)) {
		t.Fatalf("after retire: %+v", got)
	}
	if err := st.AddVehicleKey(ctx, k); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a retired kid must never be reused: %v", err)
	}
	if err := st.RetireVehicleKey(ctx, "T1", "nope", at); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("retire missing: %v", err)
	}
	k2 := k
	k2.KID = "k0"
	st.AddVehicleKey(ctx, k2)
	if ks, err := st.ListVehicleKeys(ctx, "T1"); err != nil || len(ks) != 2 || ks[0].KID != "k0" {
		t.Fatalf("ListVehicleKeys = %+v, %v", ks, err)
	}
}

func rec(vehicle string, epoch, seq int64, body string) store.FrameRecord {
	raw := []byte(fmt.Sprintf(`{"epoch":%d,"seq":%d,"x":%q}`, epoch, seq, body))
	h := sha256.Sum256(raw)
	ts := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Second)
	return store.FrameRecord{VehicleID: vehicle, Epoch: epoch, Seq: seq, Kind: "telemetry", TS: ts, ReceivedAt: ts,
		Alg: "Ed25519", KID: "k1", Hash: h[:], Raw: raw, Sig: []byte("sig"), Verdict: "accepted"}
}

func appendOne(t *testing.T, st store.Store, r store.FrameRecord, window int64) store.AppendOutcome {
	t.Helper()
	out, err := st.AppendFrames(ctx, []store.FrameRecord{r}, window)
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func testCounterRules(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	if _, err := st.GetCounter(ctx, "T1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("counter before first frame: %v", err)
	}
	steps := []struct {
		name string
		r    store.FrameRecord
		want store.AppendOutcome
	}{
		{"first_frame_epoch_jump", rec("T1", 3, 0, "a"), store.AppendEpochNotAuthorized},
		{"first_frame", rec("T1", 0, 5, "a"), store.AppendStored},
		{"next", rec("T1", 0, 6, "b"), store.AppendStored},
		{"exact_resend_is_duplicate", rec("T1", 0, 5, "a"), store.AppendDuplicate},
		{"same_seq_other_bytes_is_replay", rec("T1", 0, 6, "evil"), store.AppendReplay},
		{"counter_rollback", rec("T1", 0, 4, "c"), store.AppendReplay},
		{"epoch_jump_without_authorization", rec("T1", 1, 7, "d"), store.AppendEpochNotAuthorized},
		{"gap_is_fine", rec("T1", 0, 100, "e"), store.AppendStored},
		{"other_vehicle_independent", rec("T2", 0, 1, "a"), store.AppendStored},
	}
	for _, s := range steps {
		if got := appendOne(t, st, s.r, 0); got != s.want {
			t.Errorf("%s: outcome %v, want %v", s.name, got, s.want)
		}
	}
	c, err := st.GetCounter(ctx, "T1")
	if err != nil || c.Epoch != 0 || c.HighSeq != 100 {
		t.Fatalf("counter = %+v, %v; want epoch 0 high 100", c, err)
	}
	// The rejected ones changed nothing.
	if f, err := st.GetFrame(ctx, "T1", 0, 6); err != nil || string(f.Raw) != string(rec("T1", 0, 6, "b").Raw) {
		t.Fatalf("frame 6 overwritten: %s, %v", f.Raw, err)
	}
	for _, missing := range [][2]int64{{0, 4}, {1, 7}, {3, 0}} {
		if _, err := st.GetFrame(ctx, "T1", missing[0], missing[1]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("rejected frame %v was stored", missing)
		}
	}
	// A batch: outcomes in order, and a later frame of the batch sees the
	// counter moved by an earlier one.
	out, err := st.AppendFrames(ctx, []store.FrameRecord{rec("T1", 0, 101, "f"), rec("T1", 0, 101, "f"), rec("T1", 0, 102, "g"), rec("T1", 0, 50, "h")}, 0)
	want := []store.AppendOutcome{store.AppendStored, store.AppendDuplicate, store.AppendStored, store.AppendReplay}
	if err != nil || fmt.Sprint(out) != fmt.Sprint(want) {
		t.Fatalf("batch outcomes %v, %v; want %v", out, err, want)
	}
}

func testWindow(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	appendOne(t, st, rec("T1", 0, 100, "a"), 64)
	cases := []struct {
		name string
		r    store.FrameRecord
		want store.AppendOutcome
	}{
		{"late_within_window", rec("T1", 0, 90, "x"), store.AppendStored},
		{"late_within_window_again_is_duplicate", rec("T1", 0, 90, "x"), store.AppendDuplicate},
		{"late_within_window_other_bytes", rec("T1", 0, 90, "y"), store.AppendReplay},
		{"below_window", rec("T1", 0, 36, "z"), store.AppendReplay},
	}
	for _, c := range cases {
		if got := appendOne(t, st, c.r, 64); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if c, _ := st.GetCounter(ctx, "T1"); c.HighSeq != 100 {
		t.Fatalf("a late frame moved the high-water mark to %d", c.HighSeq)
	}
}

func testEpochAdvance(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	appendOne(t, st, rec("T1", 0, 10, "a"), 0)
	now := time.Now()
	if err := st.AdvanceEpoch(ctx, "T1", 0, now); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("advance to the same epoch: %v", err)
	}
	if err := st.AdvanceEpoch(ctx, "T1", 2, now); err != nil {
		t.Fatal(err)
	}
	if err := st.AdvanceEpoch(ctx, "T1", 1, now); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("epoch moved backwards: %v", err)
	}
	if got := appendOne(t, st, rec("T1", 0, 11, "b"), 0); got != store.AppendReplay {
		t.Fatalf("old epoch after advance: %v", got)
	}
	if got := appendOne(t, st, rec("T1", 2, 0, "c"), 0); got != store.AppendStored {
		t.Fatalf("first frame of the new epoch: %v", got)
	}
	// A vehicle with no frames yet can be started in a later epoch.
	if err := st.AdvanceEpoch(ctx, "T9", 4, now); err != nil {
		t.Fatal(err)
	}
	if got := appendOne(t, st, rec("T9", 4, 0, "a"), 0); got != store.AppendStored {
		t.Fatalf("authorized epoch on a fresh vehicle: %v", got)
	}
}

func testFrameReads(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	for seq := int64(1); seq <= 5; seq++ {
		appendOne(t, st, rec("T1", 0, seq, "x"), 0)
	}
	hb := rec("T1", 0, 6, "hb")
	hb.Kind = "heartbeat"
	appendOne(t, st, hb, 0)
	latest, err := st.LatestFrame(ctx, "T1", "telemetry")
	if err != nil || latest.Seq != 5 {
		t.Fatalf("LatestFrame = %d, %v", latest.Seq, err)
	}
	if _, err := st.LatestFrame(ctx, "T2", "telemetry"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("latest of unknown vehicle: %v", err)
	}
	base := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	list, err := st.ListFrames(ctx, "T1", base.Add(2*time.Second), base.Add(4*time.Second), 0)
	if err != nil || len(list) != 2 || list[0].Seq != 2 || list[1].Seq != 3 {
		t.Fatalf("ListFrames = %v, %v", list, err)
	}
	want := rec("T1", 0, 3, "x")
	got, err := st.GetFrame(ctx, "T1", 0, 3)
	if err != nil || string(got.Raw) != string(want.Raw) || string(got.Hash) != string(want.Hash) || !got.TS.Equal(want.TS) || got.KID != "k1" {
		t.Fatalf("GetFrame = %+v, %v", got, err)
	}
	if h, err := st.LookupFrame(ctx, "T1", 0, 3); err != nil || string(h) != string(want.Hash) {
		t.Fatalf("LookupFrame: %x, %v", h, err)
	}
	if _, err := st.LookupFrame(ctx, "T1", 0, 99); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LookupFrame missing: %v", err)
	}
}

// Invariant 3 across replicas: the same frames appended concurrently through
// two independent store handles (two gateways) are stored once each.
func testSameFrameTwoReplicas(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	a := storetest.OpenConfig(t, cfg)
	b := storetest.OpenConfig(t, cfg)
	const n = 50
	var wg sync.WaitGroup
	results := make([][]store.AppendOutcome, 2)
	for i, st := range []store.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := int64(0); seq < n; seq++ {
				out, err := st.AppendFrames(ctx, []store.FrameRecord{rec("T1", 0, seq, "same")}, 0)
				if err != nil {
					t.Error(err)
					return
				}
				results[i] = append(results[i], out[0])
			}
		}()
	}
	wg.Wait()
	stored := 0
	for seq := 0; seq < n; seq++ {
		x, y := results[0][seq], results[1][seq]
		switch {
		case x == store.AppendStored && y != store.AppendStored, y == store.AppendStored && x != store.AppendStored:
			stored++
			if x != store.AppendDuplicate && y != store.AppendDuplicate && x != store.AppendReplay && y != store.AppendReplay {
				t.Errorf("seq %d: outcomes %v/%v", seq, x, y)
			}
		default:
			t.Errorf("seq %d: outcomes %v/%v; want exactly one stored", seq, x, y)
		}
	}
	list, _ := a.ListFrames(ctx, "T1", time.Time{}, time.Now().Add(24*time.Hour*365), 1000)
	if len(list) != n || stored != n {
		t.Fatalf("%d frames stored (%d reported stored), want %d", len(list), stored, n)
	}
}

// testEventsWithFrame: a frame's events are recorded in its transaction
// when, and only when, the frame is stored.
func testEventsWithFrame(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	ev := func(id string) store.EventRow {
		return store.EventRow{ID: id, Time: time.Now(), Class: "telemetry", Verdict: "accept", Code: "frame_accepted",
			Subject: "vehicle:T1", Body: []byte(`{"id":"` + id + `"}`)}
	}
	r := rec("T1", 0, 1, "a")
	r.Events = []store.EventRow{ev("e1"), ev("e2")}
	if out := appendOne(t, st, r, 0); out != store.AppendStored {
		t.Fatalf("first append: %v", out)
	}
	r.Events = []store.EventRow{ev("e3")} // the re-send of a stored frame
	if out := appendOne(t, st, r, 0); out != store.AppendDuplicate {
		t.Fatalf("re-send: %v", out)
	}
	old := rec("T1", 0, 0, "b") // behind the counter
	old.Events = []store.EventRow{ev("e4")}
	if out := appendOne(t, st, old, 0); out != store.AppendReplay {
		t.Fatalf("stale: %v", out)
	}
	rows, err := st.ListEvents(ctx, store.EventFilter{Code: "frame_accepted"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	if fmt.Sprint(ids) != "[e1 e2]" {
		t.Fatalf("events recorded: %v, want [e1 e2] (only those of the stored frame)", ids)
	}
	// An event id already recorded fails the frame's whole transaction.
	dup := rec("T1", 0, 2, "c")
	dup.Events = []store.EventRow{ev("e1")}
	if _, err := st.AppendFrames(ctx, []store.FrameRecord{dup}, 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate event id: %v, want ErrConflict", err)
	}
	if _, err := st.LookupFrame(ctx, "T1", 0, 2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the frame of a failed transaction was stored: %v", err)
	}
}

func hbRec(vehicle string, epoch, seq int64, body string) store.FrameRecord {
	r := rec(vehicle, epoch, seq, body)
	r.Kind = store.HeartbeatKind
	return r
}

// frameRows lists the vehicle's frames rows, all of them.
func frameRows(t *testing.T, st store.Store, vehicle string) []store.FrameRecord {
	t.Helper()
	list, err := st.ListFrames(ctx, vehicle, time.Time{}, time.Now().Add(24*time.Hour*365*10), store.MaxPage)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// testHeartbeatKept: a stored heartbeat leaves no frames row; it moves the
// counter and is kept, byte for byte, as the vehicle's latest heartbeat.
func testHeartbeatKept(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	st := storetest.OpenConfig(t, cfg)
	for seq := int64(1); seq <= 3; seq++ {
		if got := appendOne(t, st, hbRec("T1", 0, seq, "hb"), 0); got != store.AppendStored {
			t.Fatalf("heartbeat %d: %v", seq, got)
		}
	}
	if rows := frameRows(t, st, "T1"); len(rows) != 0 {
		t.Fatalf("heartbeats left %d frames rows", len(rows))
	}
	// Durable: what a restart (or another replica) reads.
	st.Close()
	st = storetest.OpenConfig(t, cfg)
	if c, err := st.GetCounter(ctx, "T1"); err != nil || c.Epoch != 0 || c.HighSeq != 3 {
		t.Fatalf("counter = %+v, %v; want epoch 0 high 3", c, err)
	}
	want := hbRec("T1", 0, 3, "hb")
	got, err := st.LatestFrame(ctx, "T1", store.HeartbeatKind)
	if err != nil || got.Seq != 3 || got.Kind != store.HeartbeatKind || string(got.Raw) != string(want.Raw) || string(got.Sig) != string(want.Sig) ||
		string(got.Hash) != string(want.Hash) || !got.TS.Equal(want.TS) || !got.ReceivedAt.Equal(want.ReceivedAt) || got.Alg != want.Alg ||
		got.KID != want.KID || got.Verdict != want.Verdict {
		t.Fatalf("latest heartbeat = %+v, %v; want %+v", got, err, want)
	}
	if f, err := st.GetFrame(ctx, "T1", 0, 3); err != nil || string(f.Raw) != string(want.Raw) || f.Kind != store.HeartbeatKind {
		t.Fatalf("GetFrame of the latest heartbeat = %+v, %v", f, err)
	}
	if h, err := st.LookupFrame(ctx, "T1", 0, 3); err != nil || string(h) != string(want.Hash) {
		t.Fatalf("LookupFrame of the latest heartbeat: %x, %v", h, err)
	}
	for _, seq := range []int64{1, 2} {
		if _, err := st.LookupFrame(ctx, "T1", 0, seq); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LookupFrame of older heartbeat %d: %v, want ErrNotFound (only the latest is kept)", seq, err)
		}
	}
	if _, err := st.LatestFrame(ctx, "T1", "telemetry"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("latest telemetry of a vehicle that sent only heartbeats: %v", err)
	}
	if _, err := st.LatestFrame(ctx, "T2", store.HeartbeatKind); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("latest heartbeat of an unknown vehicle: %v", err)
	}
}

// testHeartbeatResends: an exact re-send of the latest heartbeat is a
// duplicate; other bytes under its seq, or an older heartbeat, a replay.
func testHeartbeatResends(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	steps := []struct {
		name string
		r    store.FrameRecord
		want store.AppendOutcome
	}{
		{"heartbeat", hbRec("T1", 0, 1, "a"), store.AppendStored},
		{"telemetry_after_it", rec("T1", 0, 2, "t"), store.AppendStored},
		{"latest_heartbeat_resent_is_duplicate", hbRec("T1", 0, 1, "a"), store.AppendDuplicate},
		{"next_heartbeat", hbRec("T1", 0, 3, "b"), store.AppendStored},
		{"latest_heartbeat_resent_again", hbRec("T1", 0, 3, "b"), store.AppendDuplicate},
		{"older_heartbeat_resent_is_replay", hbRec("T1", 0, 1, "a"), store.AppendReplay},
		{"latest_heartbeat_seq_other_bytes", hbRec("T1", 0, 3, "evil"), store.AppendReplay},
		{"telemetry_under_the_heartbeat_seq", rec("T1", 0, 3, "t"), store.AppendReplay},
	}
	for _, s := range steps {
		if got := appendOne(t, st, s.r, 0); got != s.want {
			t.Errorf("%s: %v, want %v", s.name, got, s.want)
		}
	}
	if c, _ := st.GetCounter(ctx, "T1"); c.HighSeq != 3 {
		t.Fatalf("high-water mark %d, want 3", c.HighSeq)
	}
	if f, _ := st.LatestFrame(ctx, "T1", store.HeartbeatKind); f.Seq != 3 || string(f.Raw) != string(hbRec("T1", 0, 3, "b").Raw) {
		t.Fatalf("latest heartbeat %d %s, want 3 (the refused ones changed nothing)", f.Seq, f.Raw)
	}
	if rows := frameRows(t, st, "T1"); len(rows) != 1 || rows[0].Seq != 2 {
		t.Fatalf("frames rows %+v, want the telemetry frame only", rows)
	}
}

// testWindowHeartbeatSeqs: the out-of-order window admits a late frame only
// under a seq no heartbeat took, the latest or an older one, whatever its
// distance below the mark, and after a restart.
func testWindowHeartbeatSeqs(t *testing.T, e storetest.Engine) {
	const w = store.MaxAppendWindow
	cfg := e.New(t)
	st := storetest.OpenConfig(t, cfg)
	for _, r := range []store.FrameRecord{rec("T1", 0, 100, "t"), hbRec("T1", 0, 101, "h"), hbRec("T1", 0, 102, "h"), rec("T1", 0, 103, "t")} {
		if got := appendOne(t, st, r, w); got != store.AppendStored {
			t.Fatalf("seq %d: %v", r.Seq, got)
		}
	}
	cases := []struct {
		name string
		r    store.FrameRecord
		want store.AppendOutcome
	}{
		{"late_frame_under_an_older_heartbeat_seq", rec("T1", 0, 101, "x"), store.AppendReplay},
		{"late_frame_under_the_latest_heartbeat_seq", rec("T1", 0, 102, "x"), store.AppendReplay},
		{"late_frame_under_a_free_seq", rec("T1", 0, 99, "x"), store.AppendStored},
		{"late_heartbeat_under_a_free_seq", hbRec("T1", 0, 98, "h"), store.AppendStored},
		{"late_frame_under_the_late_heartbeat_seq", rec("T1", 0, 98, "x"), store.AppendReplay},
		{"late_heartbeat_resent", hbRec("T1", 0, 98, "h"), store.AppendReplay},
	}
	for _, c := range cases {
		if got := appendOne(t, st, c.r, w); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if f, _ := st.LatestFrame(ctx, "T1", store.HeartbeatKind); f.Seq != 102 {
		t.Fatalf("a late heartbeat replaced the latest: %d", f.Seq)
	}
	// Move the mark so that seq 101 is the oldest seq the window reaches
	// (high - 63), then restart: the heartbeat's claim travels with the
	// mark and is durable.
	if got := appendOne(t, st, rec("T1", 0, 101+w-1, "t"), w); got != store.AppendStored {
		t.Fatalf("advance: %v", got)
	}
	st.Close()
	st = storetest.OpenConfig(t, cfg)
	for _, c := range []struct {
		name string
		r    store.FrameRecord
		want store.AppendOutcome
	}{
		{"oldest_seq_in_window_taken_by_heartbeat", rec("T1", 0, 101, "y"), store.AppendReplay},
		{"free_seq_in_window", rec("T1", 0, 104, "y"), store.AppendStored},
		{"below_window", rec("T1", 0, 100, "y"), store.AppendReplay},
	} {
		if got := appendOne(t, st, c.r, w); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	for _, seq := range []int64{101, 102, 98} {
		if _, err := st.GetFrame(ctx, "T1", 0, seq); err == nil && seq != 102 {
			t.Errorf("a frames row was stored under heartbeat seq %d", seq)
		}
	}
}

// testHeartbeatEpochs: heartbeats follow the epoch rules of every frame.
func testHeartbeatEpochs(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	steps := []struct {
		name string
		r    store.FrameRecord
		want store.AppendOutcome
	}{
		{"first_heartbeat_epoch_jump", hbRec("T1", 3, 0, "a"), store.AppendEpochNotAuthorized},
		{"first_heartbeat", hbRec("T1", 0, 5, "a"), store.AppendStored},
		{"later_epoch_unauthorized", hbRec("T1", 1, 6, "b"), store.AppendEpochNotAuthorized},
	}
	for _, s := range steps {
		if got := appendOne(t, st, s.r, 0); got != s.want {
			t.Errorf("%s: %v, want %v", s.name, got, s.want)
		}
	}
	if err := st.AdvanceEpoch(ctx, "T1", 2, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		name string
		r    store.FrameRecord
		want store.AppendOutcome
	}{
		{"old_epoch_after_advance", hbRec("T1", 0, 6, "c"), store.AppendReplay},
		{"old_epoch_latest_resent", hbRec("T1", 0, 5, "a"), store.AppendDuplicate},
		{"new_epoch_any_seq", hbRec("T1", 2, 0, "d"), store.AppendStored},
		{"new_epoch_frame_after", rec("T1", 2, 1, "e"), store.AppendStored},
	} {
		if got := appendOne(t, st, s.r, store.MaxAppendWindow); got != s.want {
			t.Errorf("%s: %v, want %v", s.name, got, s.want)
		}
	}
	if f, err := st.LatestFrame(ctx, "T1", store.HeartbeatKind); err != nil || f.Epoch != 2 || f.Seq != 0 {
		t.Fatalf("latest heartbeat %d/%d, %v; want 2/0", f.Epoch, f.Seq, err)
	}
	if c, _ := st.GetCounter(ctx, "T1"); c.Epoch != 2 || c.HighSeq != 1 {
		t.Fatalf("counter %+v", c)
	}
}

// testHeartbeatsMixed: in one call a later record sees what an earlier one
// stored, heartbeat or frame.
func testHeartbeatsMixed(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	out, err := st.AppendFrames(ctx, []store.FrameRecord{
		hbRec("T1", 0, 1, "a"), rec("T1", 0, 2, "t"), hbRec("T1", 0, 1, "a"), hbRec("T1", 0, 3, "b"),
		rec("T1", 0, 3, "t"), hbRec("T2", 0, 1, "a"), rec("T1", 0, 1, "late"), rec("T1", 0, 0, "late"),
	}, store.MaxAppendWindow)
	want := []store.AppendOutcome{store.AppendStored, store.AppendStored, store.AppendDuplicate, store.AppendStored,
		store.AppendReplay, store.AppendStored, store.AppendReplay, store.AppendStored}
	if err != nil || fmt.Sprint(out) != fmt.Sprint(want) {
		t.Fatalf("outcomes %v, %v; want %v", out, err, want)
	}
	if rows := frameRows(t, st, "T1"); len(rows) != 2 || rows[0].Seq != 0 || rows[1].Seq != 2 {
		t.Fatalf("frames rows %+v, want seqs 0 and 2", rows)
	}
	for v, seq := range map[string]int64{"T1": 3, "T2": 1} {
		if f, err := st.LatestFrame(ctx, v, store.HeartbeatKind); err != nil || f.Seq != seq {
			t.Fatalf("latest heartbeat of %s: %d, %v; want %d", v, f.Seq, err, seq)
		}
	}
}

// testSameHeartbeatTwoReplicas: the same heartbeats appended concurrently
// through two store handles are each stored once.
func testSameHeartbeatTwoReplicas(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	a := storetest.OpenConfig(t, cfg)
	b := storetest.OpenConfig(t, cfg)
	const n = 50
	var wg sync.WaitGroup
	results := make([][]store.AppendOutcome, 2)
	for i, st := range []store.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := int64(0); seq < n; seq++ {
				out, err := st.AppendFrames(ctx, []store.FrameRecord{hbRec("T1", 0, seq, "same")}, store.MaxAppendWindow)
				if err != nil {
					t.Error(err)
					return
				}
				results[i] = append(results[i], out[0])
			}
		}()
	}
	wg.Wait()
	for seq := 0; seq < n && len(results[0]) == n && len(results[1]) == n; seq++ {
		x, y := results[0][seq], results[1][seq]
		if (x == store.AppendStored) == (y == store.AppendStored) {
			t.Errorf("seq %d: outcomes %v/%v; want exactly one stored", seq, x, y)
		}
	}
	if c, err := a.GetCounter(ctx, "T1"); err != nil || c.HighSeq != n-1 {
		t.Fatalf("counter %+v, %v", c, err)
	}
}

// testWindowTooWide: a window the heartbeat mask cannot cover is refused,
// and nothing is stored.
func testWindowTooWide(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	for _, w := range []int64{store.MaxAppendWindow + 1, -1} {
		if _, err := st.AppendFrames(ctx, []store.FrameRecord{rec("T1", 0, 1, "a")}, w); err == nil {
			t.Errorf("window %d accepted", w)
		}
	}
	if _, err := st.GetCounter(ctx, "T1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused call moved the counter: %v", err)
	}
}
