package agent

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
)

// TestReportStop: a stop event goes out signed on the session and
// ReportStop returns the gateway's answer: nil for an ack, a
// *StopRefusedError with the code for a nack; a transient nack sends it
// again as a new frame; a session that ends before the answer sends it
// again on the next one.
func TestReportStop(t *testing.T) {
	pub, priv := frameKey(t)
	var mu sync.Mutex
	var seen []*frame.StopEvent
	g := newFakeGW(t, pub, func(c *fakeConn) {
		c.frames(func(f *frame.Frame) bool {
			switch b := f.Body.(type) {
			case *frame.Heartbeat:
				c.send(ackOf(f))
			case *frame.StopEvent:
				mu.Lock()
				seen = append(seen, b)
				n := len(seen)
				mu.Unlock()
				switch {
				case b.TenderID == "L-other":
					c.send(&frame.Nack{AckEpoch: f.Epoch, AckSeq: f.Seq, Reason: codes.StopEventNotDispatched})
				case n == 2: // the first report of L1, first time: busy store
					c.send(&frame.Nack{AckEpoch: f.Epoch, AckSeq: f.Seq, Reason: codes.StoreUnavailable})
				case n == 3 && c.n == 1: // the retry: the link drops before the answer
					return false
				default:
					c.send(ackOf(f))
				}
			}
			return true
		})
	})
	a, _, _ := newTestAgent(t, g, priv)
	run(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	at := time.Date(2026, 12, 5, 14, 0, 0, 123e6, time.UTC)

	err := a.ReportStop(ctx, StopEvent{TenderID: "L-other", StopSeq: 1, Status: frame.StopArrived, At: at, Lat: 41.5, Lon: -88.1})
	var refused *StopRefusedError
	if !errors.As(err, &refused) || refused.Code != codes.StopEventNotDispatched {
		t.Fatalf("a stop of a load not dispatched: %v", err)
	}
	if err := a.ReportStop(ctx, StopEvent{TenderID: "L1", StopSeq: 1, Status: frame.StopArrived, At: at, Lat: 41.5, Lon: -88.1}); err != nil {
		t.Fatalf("a stop after a transient refusal and a dropped link: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 4 {
		t.Fatalf("%d stop events sent, want 4 (refused, store busy, link dropped, acked)", len(seen))
	}
	for _, s := range seen[1:] {
		if s.TenderID != "L1" || s.StopSeq != 1 || s.Status != frame.StopArrived || !s.At.Equal(at) {
			t.Fatalf("resent stop event %+v", s)
		}
	}
	if g.sessions.Load() < 2 {
		t.Fatal("the link drop did not lead to a second session")
	}
}

// TestReportStopRefusesInvalidAndBounds: an invalid report is refused
// unsent; while offline reports wait, at most MaxPendingStops.
func TestReportStopRefusesInvalidAndBounds(t *testing.T) {
	pub, priv := frameKey(t)
	g := newFakeGW(t, pub, func(c *fakeConn) {})
	a, _, _ := newTestAgent(t, g, priv) // not running: offline
	ctx := context.Background()
	if err := a.ReportStop(ctx, StopEvent{TenderID: "L/1", Status: frame.StopArrived, At: time.Now()}); err == nil {
		t.Fatal("an invalid tender id was taken")
	}
	if err := a.ReportStop(ctx, StopEvent{TenderID: "L1", Status: "teleported", At: time.Now()}); err == nil {
		t.Fatal("an invalid status was taken")
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for range MaxPendingStops {
		wg.Go(func() {
			_ = a.ReportStop(context.Background(), StopEvent{TenderID: "L1", StopSeq: 1, Status: frame.StopArrived, At: time.Now()})
		})
	}
	waitUntil(t, 5*time.Second, "the queue to fill", func() bool { a.mu.Lock(); defer a.mu.Unlock(); return len(a.stops) == MaxPendingStops })
	if err := a.ReportStop(short, StopEvent{TenderID: "L1", StopSeq: 2, Status: frame.StopArrived, At: time.Now()}); !errors.Is(err, ErrStopQueueFull) {
		t.Fatalf("a report beyond the bound: %v", err)
	}
	a.mu.Lock()
	for _, p := range a.stops {
		p.done <- nil
	}
	a.stops = nil
	a.mu.Unlock()
	wg.Wait()
}

// TestTelemetryCarriesETA: SetETA's estimate goes out in every telemetry
// frame until ClearETA; a frame with its own ETA keeps it.
func TestTelemetryCarriesETA(t *testing.T) {
	pub, priv := frameKey(t)
	got := make(chan *frame.Telemetry, 16)
	g := newFakeGW(t, pub, func(c *fakeConn) {
		c.frames(func(f *frame.Frame) bool {
			c.send(ackOf(f))
			if tm, ok := f.Body.(*frame.Telemetry); ok {
				got <- tm
			}
			return true
		})
	})
	a, _, _ := newTestAgent(t, g, priv)
	run(t, a)
	eta := time.Date(2026, 12, 5, 18, 0, 0, 0, time.UTC)
	if err := a.SetETA("L1", 2, eta); err != nil {
		t.Fatal(err)
	}
	if err := a.SetETA("L/1", 2, eta); err == nil {
		t.Fatal("an invalid ETA was taken")
	}
	tm := frame.Telemetry{State: frame.StateDriving, GNSS: frame.GNSS{Fix: frame.Fix3D, Lat: 41, Lon: -88}, Health: frame.Health{Faults: []string{}}}
	next := func() *frame.Telemetry {
		t.Helper()
		if err := a.SendTelemetry(time.Now(), tm); err != nil {
			t.Fatal(err)
		}
		select {
		case x := <-got:
			return x
		case <-time.After(10 * time.Second):
			t.Fatal("no telemetry")
			return nil
		}
	}
	if x := next(); x.ETA == nil || x.ETA.TenderID != "L1" || x.ETA.StopSeq != 2 || !x.ETA.At.Equal(eta) {
		t.Fatalf("telemetry ETA %+v", x.ETA)
	}
	own := tm
	own.ETA = &frame.ETA{TenderID: "L2", StopSeq: 1, At: eta}
	if err := a.SendTelemetry(time.Now(), own); err != nil {
		t.Fatal(err)
	}
	if x := <-got; x.ETA == nil || x.ETA.TenderID != "L2" {
		t.Fatalf("a frame's own ETA was replaced: %+v", x.ETA)
	}
	a.ClearETA()
	if x := next(); x.ETA != nil {
		t.Fatalf("ETA after ClearETA: %+v", x.ETA)
	}
}
