package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// Flow control on the session (issue 17): when the gateway is saturated,
// telemetry yields, never liveness.

// heldStore holds the appends of one vehicle until released: a store
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

func (h *heldStore) AppendFrames(ctx context.Context, recs []store.FrameRecord, window int64) ([]store.AppendOutcome, error) {
	if len(recs) > 0 && recs[0].VehicleID == h.vehicle {
		h.once.Do(func() { close(h.holding) })
		<-h.release
	}
	return h.Store.AppendFrames(ctx, recs, window)
}

// busyGateway is a gateway whose pipeline takes at most one full batch of
// telemetry in flight, on a store that holds the appends of vehicle
// "flood"; fill makes a backfill of "flood" take every slot, and returns
// once the store holds it. release lets it through.
type busyGateway struct {
	*gw
	held *heldStore
	done chan error
}

func newBusyGateway(t *testing.T, o gwOptions) *busyGateway {
	held := &heldStore{Store: storetest.Engines()[0].Open(t), vehicle: "flood", holding: make(chan struct{}), release: make(chan struct{})}
	o.ingest.MaxInFlight = ingest.MaxBatchFrames
	b := &busyGateway{gw: newGateway(t, held, o), held: held, done: make(chan error, 1)}
	t.Cleanup(held.let)
	return b
}

func (b *busyGateway) fill() {
	b.t.Helper()
	v := b.enroll("flood")
	raws := make([][]byte, ingest.MaxBatchFrames)
	ts := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	for i := range raws {
		tm := sampleTelemetry()
		env, err := frame.Sign(v.signer, v.kid, &frame.Frame{VehicleID: "flood", Epoch: 0, Seq: uint64(i + 1), TS: ts, Body: &tm})
		if err != nil {
			b.t.Fatal(err)
		}
		raws[i] = env
	}
	go func() {
		_, err := b.pipe.Process(context.Background(), principal.Principal{Kind: principal.Vehicle, ID: "flood"},
			ingest.Backfill, ingest.BatchKinds, raws)
		b.done <- err
	}()
	<-b.held.holding
}

func (b *busyGateway) release() {
	b.t.Helper()
	b.held.let()
	if err := <-b.done; err != nil {
		b.t.Fatalf("the backfill that filled the flow: %v", err)
	}
}

// TestTelemetryYieldsHeartbeatsDoNot: while the telemetry in flight is at
// its limit (the store provably busy with another vehicle's backfill), a
// truck's telemetry is nacked gateway_busy, and its heartbeat on the same
// session is still acked. The refusal is recorded once for the vehicle.
// Once the flow drains, its telemetry is acked.
func TestTelemetryYieldsHeartbeatsDoNot(t *testing.T) {
	g := newBusyGateway(t, gwOptions{cfg: fastConfig()})
	c := g.dial(g.enroll("truck-1"))
	c.handshake(frame.StateDriving)
	g.fill()

	tm := sampleTelemetry()
	for range 3 {
		seq := c.send(&tm)
		n := c.expect(frame.KindNack).Body.(*frame.Nack)
		if n.AckSeq != seq || n.Reason != codes.GatewayBusy {
			t.Fatalf("telemetry while busy: nack %+v, want %s for seq %d", n, codes.GatewayBusy, seq)
		}
	}
	seq := c.send(&frame.Heartbeat{State: frame.StateDriving})
	if a := c.expect(frame.KindAck).Body.(*frame.Ack); a.AckSeq != seq {
		t.Fatalf("heartbeat while busy: ack of seq %d, want %d", a.AckSeq, seq)
	}
	if n := len(g.sink.ByCode(codes.GatewayBusy)); n != 1 {
		t.Fatalf("%d gateway_busy events for three refusals of one vehicle, want 1", n)
	}

	g.release()
	seq = c.send(&tm)
	if a := c.expect(frame.KindAck).Body.(*frame.Ack); a.AckSeq != seq {
		t.Fatalf("telemetry after the flow drained: ack of seq %d, want %d", a.AckSeq, seq)
	}
}

// TestAgentBuffersBusyTelemetry: a real agent whose telemetry the gateway
// refuses gateway_busy keeps it and sends it again later (no loss) while
// its heartbeats go on being answered (no stop), however long the gateway
// stays busy: here for 4 × misses heartbeats, past the point where a truck
// whose heartbeats waited behind the telemetry's backoff would stop. The
// telemetry is by then older than the agent's live limit, so it goes
// through the batch path (refused gateway_busy there too while busy).
// Once the gateway drains, it is stored, once, and nothing was refused for
// good.
func TestAgentBuffersBusyTelemetry(t *testing.T) {
	var heartbeats, busy atomic.Int64 // truck-1's, on the session
	counting := func(p Pipeline) Pipeline {
		return pipelineFunc{p, func(ctx context.Context, peer principal.Principal, src ingest.Source, kinds []frame.Kind, raws [][]byte) ([]ingest.Result, error) {
			res, err := p.Process(ctx, peer, src, kinds, raws)
			switch {
			case peer.ID != "truck-1":
			case errors.Is(err, ingest.ErrBusy):
				busy.Add(1)
			case err == nil && res[0].Kind == frame.KindHeartbeat && res[0].Verdict == ingest.Accepted:
				heartbeats.Add(1)
			}
			return res, err
		}}
	}
	g := newBusyGateway(t, gwOptions{cfg: fastConfig(), pipelineWrap: counting})
	v := g.enroll("truck-1")
	a, av, log := g.agentFor(v, func(c *agent.Config, d *agent.Deps) {
		fastAgent(c, d)
		c.LiveMaxAge = 300 * time.Millisecond
	})
	runAgent(t, a)
	waitFor(t, 10*time.Second, "driving", func() bool { return len(log.find(agent.EventResumed)) == 1 })

	g.fill()
	tm := sampleTelemetry()
	tm.OdometerM = 4242.5
	if err := a.SendTelemetry(time.Now(), tm); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the telemetry refused on the session", func() bool { return busy.Load() > 0 })
	from := heartbeats.Load()
	const hold = 4 * 3 // heartbeats answered while the gateway stays busy
	waitFor(t, 30*time.Second, "heartbeats answered while busy", func() bool {
		return heartbeats.Load() >= from+hold || len(log.find(agent.EventStopping)) > 0
	})
	if s := log.find(agent.EventStopping); len(s) > 0 {
		t.Fatalf("the truck stopped while the gateway refused its telemetry gateway_busy (%d heartbeats answered): %+v",
			heartbeats.Load()-from, s[0])
	}
	if g.batches.Load() == 0 {
		t.Fatal("telemetry older than the live limit was not sent through the batch path")
	}
	// Backing off: a few tries while a dozen heartbeats were answered, not
	// a loop hammering the busy gateway.
	if tries := busy.Load() + g.batches.Load(); tries > 2*hold {
		t.Fatalf("the refused telemetry was tried %d times while %d heartbeats were answered", tries, hold)
	}
	if a.Status().Buffered != 1 {
		t.Fatalf("%d frames buffered while busy, want the one refused", a.Status().Buffered)
	}

	g.release()
	waitFor(t, 20*time.Second, "the telemetry stored", func() bool { return a.Status().Buffered == 0 })
	recs, err := g.st.ListFrames(context.Background(), "truck-1", time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var stored []*frame.Telemetry
	for _, r := range recs {
		if r.Kind != string(frame.KindTelemetry) {
			continue
		}
		f, err := frame.DecodeFrame(r.Raw)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, f.Body.(*frame.Telemetry))
	}
	if len(stored) != 1 || stored[0].OdometerM != tm.OdometerM {
		t.Fatalf("stored telemetry %+v, want the one sent, once", stored)
	}
	for _, k := range []agent.EventKind{agent.EventTelemetryRejected, agent.EventTelemetryDropped, agent.EventStopping} {
		if evs := log.find(k); len(evs) > 0 {
			t.Fatalf("%s: %+v", k, evs)
		}
	}
	if stops, _ := av.counts(); stops != 0 {
		t.Fatalf("BeginStop called %d times", stops)
	}
	// Telemetry refused for busy is signed anew, not resent under a seq a
	// heartbeat has overtaken: a busy gateway raises no false alarm.
	if n := g.count(codes.StaleCounter); n != 0 {
		t.Fatalf("%d stale_counter events", n)
	}
}
