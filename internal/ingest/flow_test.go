package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/ratelimit"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// heldStore holds the appends of one vehicle until released: a writer
// provably busy with that vehicle's telemetry, while every other vehicle's
// appends go through.
type heldStore struct {
	store.Store
	vehicle string
	holding chan struct{} // closed when an append of vehicle is held
	release chan struct{}
	once    sync.Once
	letOnce sync.Once
}

// let releases the held appends, and every later one.
func (h *heldStore) let() { h.letOnce.Do(func() { close(h.release) }) }

func holdAppendsOf(st store.Store, vehicle string) *heldStore {
	return &heldStore{Store: st, vehicle: vehicle, holding: make(chan struct{}), release: make(chan struct{})}
}

func (h *heldStore) AppendFrames(ctx context.Context, recs []store.FrameRecord, window int64) ([]store.AppendOutcome, error) {
	if len(recs) > 0 && recs[0].VehicleID == h.vehicle {
		h.once.Do(func() { close(h.holding) })
		<-h.release
	}
	return h.Store.AppendFrames(ctx, recs, window)
}

// TestAttackTelemetryFloodYieldsToHeartbeats: a vehicle's backfill fills
// the frames in flight (telemetry.max_in_flight) and the store is provably
// busy with it. Then another vehicle's telemetry is refused before its
// signature is checked, with 429 gateway_busy and a Retry-After on the
// batch path and ErrBusy on the session's path; nothing of it is stored,
// and it does not spend the vehicle's rate budget. Its heartbeat is still
// accepted and durable: heartbeats never take a slot. The refusals of a
// vehicle are one event, not one per refusal, and are counted in the
// metrics. Once the backfill is committed, the same telemetry is
// accepted.
func TestAttackTelemetryFloodYieldsToHeartbeats(t *testing.T) {
	f := newFleet(t, storetest.Engines()[0].Open(t))
	f.enroll("T1", "k1")
	f.enroll("FLOOD", "kf")
	held := holdAppendsOf(f.st, "FLOOD")
	t.Cleanup(held.let)
	reg := prometheus.NewRegistry()
	p, err := New(Config{MaxInFlight: MaxBatchFrames}, Deps{Store: held, Events: event.NewBus(nil, nil, f.mem), Metrics: reg,
		Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}

	flood := make([][]byte, MaxBatchFrames)
	for i := range flood {
		flood[i] = f.sign("FLOOD", "kf", telemetry("FLOOD", 0, uint64(i+1), f.now.Add(-time.Minute)))
	}
	floodDone := make(chan error, 1)
	go func() {
		res, err := p.Process(context.Background(), vehicle("FLOOD"), Backfill, BatchKinds, flood)
		if err == nil && res[MaxBatchFrames-1].Verdict != Accepted {
			err = errors.New("the backfill was not accepted: " + res[MaxBatchFrames-1].Code)
		}
		floodDone <- err
	}()
	<-held.holding // every slot is taken, and the store is busy with them

	// One frame per second, a burst of one: a refusal that spent the budget
	// would leave the vehicle rate limited for the rest of the test.
	lim := ratelimit.New(ratelimit.Config{PerSecond: 0.001, Burst: 1})
	h := &BatchHandler{Pipeline: p, Limiter: lim, Events: event.NewBus(nil, nil, f.mem),
		Peer: func(*http.Request) (principal.Principal, bool) { return vehicle("T1"), true }}
	tel := f.sign("T1", "k1", telemetry("T1", 0, 1, f.now))
	for range 3 {
		rec := post(h, "application/json", batchBody(tel))
		var pb struct{ Code string }
		_ = json.Unmarshal(rec.Body.Bytes(), &pb)
		ra, _ := strconv.Atoi(rec.Header().Get("Retry-After"))
		if rec.Code != http.StatusTooManyRequests || pb.Code != codes.GatewayBusy || ra < 1 ||
			rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("batch while busy: %d %s Retry-After %q; want 429 %s problem+json with a Retry-After",
				rec.Code, rec.Body, rec.Header().Get("Retry-After"), codes.GatewayBusy)
		}
	}
	live := []frame.Kind{frame.KindHeartbeat, frame.KindTelemetry}
	if _, err := p.Process(context.Background(), vehicle("T1"), Live, live, [][]byte{tel}); !errors.Is(err, ErrBusy) {
		t.Fatalf("live telemetry while busy: %v, want ErrBusy", err)
	}
	if _, err := f.st.LookupFrame(context.Background(), "T1", 0, 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused telemetry was stored (lookup: %v)", err)
	}

	hb := f.sign("T1", "k1", &frame.Frame{VehicleID: "T1", Epoch: 0, Seq: 2, TS: f.now, Body: &frame.Heartbeat{State: frame.StateDriving}})
	res, err := p.Process(context.Background(), vehicle("T1"), Live, live, [][]byte{hb})
	if err != nil || res[0].Verdict != Accepted {
		t.Fatalf("heartbeat while the telemetry in flight is at its limit: %+v, %v; want accepted", res, err)
	}
	if _, err := f.st.LookupFrame(context.Background(), "T1", 0, 2); err != nil {
		t.Fatalf("the accepted heartbeat is not durable: %v", err)
	}

	if n := len(f.mem.ByCode(codes.GatewayBusy)); n != 1 {
		t.Fatalf("%d gateway_busy events for 4 refusals of one vehicle in one window, want 1", n)
	}
	ev := f.mem.ByCode(codes.GatewayBusy)[0]
	if ev.Actor != vehicle("T1") || ev.Verdict != event.Reject || ev.Class != event.ClassTelemetry || ev.Attrs["frames"] != 0 {
		// The first refusal is a batch's, refused before its body was read:
		// its frames are not known.
		t.Fatalf("gateway_busy event %+v", ev)
	}
	busy := map[string]float64{"backfill": 0, "live": 1} // the batches were refused unread
	for src, want := range busy {
		if got := counterValue(t, p.flow.refused.WithLabelValues(src)); got != want {
			t.Errorf("fifthwheel_telemetry_busy_frames_total{source=%q} = %v, want %v", src, got, want)
		}
	}

	held.let()
	if err := <-floodDone; err != nil {
		t.Fatal(err)
	}
	// A new seq, since the heartbeat (seq 2) is stored: the vehicle sends
	// the same telemetry again, signed anew.
	tel = f.sign("T1", "k1", telemetry("T1", 0, 3, f.now))
	rec := post(h, "application/json", batchBody(tel))
	if rec.Code != http.StatusOK {
		t.Fatalf("batch after the backfill committed: %d %s (a refusal for busy spent the rate budget?)", rec.Code, rec.Body)
	}
	var out struct{ Results []BatchResult }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Results) != 1 || out.Results[0].Verdict != Accepted {
		t.Fatalf("batch after the backfill committed: %s", rec.Body)
	}
	if got := gaugeValue(t, reg, "fifthwheel_telemetry_frames_in_flight"); got != 0 {
		t.Fatalf("%v frames in flight after every call ended", got)
	}
}

// TestBusyEventsAggregatePerVehicle: under a flood of refusals each
// vehicle's first refusal of a window is recorded at once, and the rest
// in one summary once the window has closed, with counts that add up
// exactly; a vehicle refused once gets no summary.
func TestBusyEventsAggregatePerVehicle(t *testing.T) {
	var clock atomic.Int64
	start := time.Unix(1_000_000, 0)
	clock.Store(start.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	mem := &event.MemorySink{}
	b := newBusyLog(now, event.NewBus(nil, nil, mem))
	ctx := context.Background()
	for range 1000 {
		b.refused(ctx, vehicle("T1"), Live, 1, 2048, 2048)
	}
	b.refused(ctx, vehicle("T1"), Backfill, 256, 2048, 2048)
	b.refused(ctx, vehicle("T2"), Backfill, 64, 2048, 2048)
	if n := len(mem.ByCode(codes.GatewayBusy)); n != 2 {
		t.Fatalf("%d events for 1,002 refusals of two vehicles, want 2 (one each)", n)
	}

	b.sweepIfDue() // the window is open: nothing is due
	clock.Store(start.Add(busyEventWindow).UnixNano())
	b.sweepIfDue()
	waitFor(t, "the summary", func() bool { return len(mem.ByCode(codes.GatewayBusy)) == 3 })
	sum := mem.ByCode(codes.GatewayBusy)[2]
	if sum.Actor != vehicle("T1") || sum.Attrs["aggregated"] != true || sum.Attrs["count"] != 1000 ||
		sum.Attrs["total"] != 1001 || sum.Attrs["frames"] != 1000+256 {
		t.Fatalf("summary %+v; want T1's 1,000 refusals after the first, 1,256 frames", sum)
	}
	waitFor(t, "the sweep to end", func() bool { return !b.sweeping.Load() })
	if b.next.Load() != 0 || len(b.windows) != 0 {
		t.Fatalf("windows left open after the sweep: %d", len(b.windows))
	}
	b.refused(ctx, vehicle("T1"), Live, 1, 2048, 2048) // a new window: recorded at once
	if n := len(mem.ByCode(codes.GatewayBusy)); n != 4 {
		t.Fatalf("%d events; the first refusal of a new window was not recorded", n)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestAttackBatchFloodRefusedBeforeTheBodyIsRead: when the telemetry in
// flight leaves no room for a full batch, the batch path answers
// gateway_busy without reading the body: a saturated gateway spends
// nothing on parsing and admitting frames it will refuse. The body here is
// not even JSON: had it been read, the answer would be malformed_batch.
func TestAttackBatchFloodRefusedBeforeTheBodyIsRead(t *testing.T) {
	f := newFleet(t, storetest.Engines()[0].Open(t))
	f.enroll("T1", "k1")
	p, err := New(Config{MaxInFlight: 2 * MaxBatchFrames}, Deps{Store: f.st, Events: event.NewBus(nil, nil, f.mem),
		Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	h := &BatchHandler{Pipeline: p, Events: event.NewBus(nil, nil, f.mem),
		Peer: func(*http.Request) (principal.Principal, bool) { return vehicle("T1"), true }}

	// Room for a full batch: the body is read (and refused as malformed).
	p.flow.inFlight.Store(MaxBatchFrames)
	if rec := post(h, "application/json", []byte("not json")); rec.Code != http.StatusBadRequest {
		t.Fatalf("with room for a batch: %d %s, want 400 (the body read)", rec.Code, rec.Body)
	}
	// Less than a full batch of room: refused before the body is read.
	p.flow.inFlight.Store(MaxBatchFrames + 1)
	rec := post(h, "application/json", []byte("not json"))
	var pb struct{ Code string }
	_ = json.Unmarshal(rec.Body.Bytes(), &pb)
	if rec.Code != http.StatusTooManyRequests || pb.Code != codes.GatewayBusy || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("batch while nearly full: %d %s; want 429 %s with Retry-After, the body unread", rec.Code, rec.Body, codes.GatewayBusy)
	}
	if got := len(f.mem.ByCode(codes.GatewayBusy)); got != 1 {
		t.Fatalf("%d gateway_busy events, want the refusal recorded once", got)
	}
}
