package agent

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
)

// TestOnTelemetryAckedReportsOnlyAcknowledgedFrames: Deps.OnTelemetryAcked
// is told of each telemetry frame the gateway acknowledged, with the
// envelope exactly as signed, and of no frame it refused.
func TestOnTelemetryAckedReportsOnlyAcknowledgedFrames(t *testing.T) {
	pub, priv := frameKey(t)
	var mu sync.Mutex
	var ackedAtGW []uint64
	g := newFakeGW(t, pub, func(c *fakeConn) {
		c.frames(func(f *frame.Frame) bool {
			if _, ok := f.Body.(*frame.Telemetry); !ok {
				c.send(ackOf(f)) // heartbeats
				return true
			}
			if f.Seq%2 == 1 {
				c.send(&frame.Nack{AckEpoch: f.Epoch, AckSeq: f.Seq, Reason: "replay"}) // final
				return true
			}
			mu.Lock()
			ackedAtGW = append(ackedAtGW, f.Seq)
			mu.Unlock()
			c.send(ackOf(f))
			return true
		})
	})
	a, _, _ := newTestAgent(t, g, priv)
	var reported []TelemetryAck
	a.d.OnTelemetryAcked = func(ack TelemetryAck) {
		mu.Lock()
		reported = append(reported, ack)
		mu.Unlock()
	}
	run(t, a)
	for range 10 {
		if err := a.SendTelemetry(time.Now(), extTelemetry(nil)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 10*time.Second, "every frame answered", func() bool { return a.Status().Buffered == 0 })

	mu.Lock()
	defer mu.Unlock()
	if len(ackedAtGW) == 0 || len(ackedAtGW) == 10 || len(reported) != len(ackedAtGW) {
		t.Fatalf("the gateway acknowledged seqs %v; reported %d", ackedAtGW, len(reported))
	}
	var seqs []uint64
	for _, r := range reported {
		env, err := frame.ParseEnvelope(r.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		f, err := frame.DecodeFrame(env.Frame())
		if err != nil {
			t.Fatal(err)
		}
		if f.Epoch != r.Epoch || f.Seq != r.Seq || f.Kind() != frame.KindTelemetry {
			t.Fatalf("reported (%d, %d) with the envelope of %s (%d, %d)", r.Epoch, r.Seq, f.Kind(), f.Epoch, f.Seq)
		}
		seqs = append(seqs, r.Seq)
	}
	slices.Sort(seqs)
	slices.Sort(ackedAtGW)
	if !slices.Equal(seqs, ackedAtGW) {
		t.Fatalf("reported seqs %v, the gateway acknowledged %v", seqs, ackedAtGW)
	}
}
