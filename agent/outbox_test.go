package agent

import (
	"slices"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
)

// TestOutboxDropsOldestWhenFull: the documented policy.
func TestOutboxDropsOldestWhenFull(t *testing.T) {
	o := newOutbox(3)
	for i := range 5 {
		o.add(telemetryItem{ts: t0.Add(time.Duration(i) * time.Second)})
	}
	if len(o.queued) != 3 || !o.queued[0].ts.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("kept %d, oldest %v", len(o.queued), o.queued[0].ts)
	}
	if n := o.takeDropped(); n != 2 {
		t.Fatalf("dropped %d", n)
	}
	if n := o.takeDropped(); n != 0 {
		t.Fatal("dropped count not reset")
	}
}

// TestOutboxResendOrder: frames whose fate is unknown are resent in seq
// order, whatever order they came back in.
func TestOutboxResendOrder(t *testing.T) {
	o := newOutbox(10)
	o.inflight = []signedFrame{{seq: 5}, {seq: 6}, {seq: 7}}
	f, ok := o.take(0, 6)
	if _, found := o.take(0, 99); !ok || found {
		t.Fatal("take")
	}
	o.requeue([]signedFrame{f})
	o.requeue([]signedFrame{{seq: 2}, {seq: 9}})
	o.sessionEnded()
	var got []uint64
	for _, f := range o.resend {
		got = append(got, f.seq)
	}
	want := []uint64{2, 5, 6, 7, 9}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%v, want %v", got, want)
		}
	}
	if o.acked(0, 0) || len(o.inflight) != 0 {
		t.Fatal("inflight not emptied")
	}
}

// TestTelemetryNotTakenKeepsItsOrder: a batch the gateway refused before
// looking at it (gateway_busy) goes back to the front of the queue in its
// own order, ahead of newer telemetry, to be signed anew; a frame whose
// fate was already unknown goes back to be resent byte for byte. A frame
// answered with a final code (stale_counter, its fate known) is dropped.
func TestTelemetryNotTakenKeepsItsOrder(t *testing.T) {
	pub, priv := frameKey(t)
	a, _, _ := newTestAgent(t, newFakeGW(t, pub, func(*fakeConn) {}), priv)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	a.out.add(telemetryItem{ts: at(9)}) // newer, still queued
	a.mu.Lock()
	defer a.mu.Unlock()
	batch := []signedFrame{{seq: 1, ts: at(1)}, {seq: 2, ts: at(2)}, {seq: 3, ts: at(3), unknown: true}}
	if !a.settleLocked(t0, batch, []string{codes.GatewayBusy, codes.GatewayBusy, codes.GatewayBusy}) {
		t.Fatal("no backoff after gateway_busy")
	}
	queued := func() (ts []time.Time) {
		for _, it := range a.out.queued {
			ts = append(ts, it.ts)
		}
		return ts
	}
	if got, want := queued(), []time.Time{at(1), at(2), at(9)}; !slices.Equal(got, want) {
		t.Fatalf("queued %v, want %v", got, want)
	}
	if len(a.out.resend) != 1 || a.out.resend[0].seq != 3 {
		t.Fatalf("resend %+v, want the frame of unknown fate", a.out.resend)
	}
	if a.settleLocked(t0, []signedFrame{{seq: 4, ts: at(4)}}, []string{codes.StaleCounter}) {
		t.Fatal("backoff after a final refusal")
	}
	if got := queued(); len(got) != 3 || len(a.out.resend) != 1 {
		t.Fatalf("a frame refused for good was kept: queued %v, resend %d", got, len(a.out.resend))
	}
}
