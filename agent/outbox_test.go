package agent

import (
	"testing"
	"time"
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
