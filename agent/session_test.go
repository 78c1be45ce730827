package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fifthwheel/fifthwheel/frame"
)

// TestRunEndsWithGoodbye: when the AV stack ends Run, the gateway receives
// a WebSocket close with status 1000 (goodbye), so it marks the truck
// offline instead of declaring comm_lost 3 intervals later. Repeated,
// because the goodbye used to lose a race with the agent's own read.
func TestRunEndsWithGoodbye(t *testing.T) {
	pub, priv := frameKey(t)
	for i := 0; i < 20; i++ {
		established := make(chan struct{}, 1)
		status := make(chan websocket.StatusCode, 1)
		g := newFakeGW(t, pub, func(c *fakeConn) {
			if !c.handshake() {
				status <- -1
				return
			}
			established <- struct{}{}
			for {
				_, data, err := c.ws.Read(context.Background())
				if err != nil {
					status <- websocket.CloseStatus(err)
					return
				}
				if env, err := frame.ParseEnvelope(data); err == nil {
					if f, err := env.DecodeFrame(); err == nil && f.Kind() == frame.KindHeartbeat {
						c.send(ackOf(f))
					}
				}
			}
		})
		a, _, _ := newTestAgent(t, g, priv)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { a.Run(ctx); close(done) }()
		select {
		case <-established:
		case <-time.After(10 * time.Second):
			t.Fatal("no session")
		}
		time.Sleep(time.Duration(i%5) * 10 * time.Millisecond) // vary where the loops are
		cancel()
		<-done
		select {
		case st := <-status:
			if st != websocket.StatusNormalClosure {
				t.Fatalf("run %d: the gateway saw close status %d, want %d (goodbye)", i, st, websocket.StatusNormalClosure)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("run %d: the session did not end at the gateway", i)
		}
	}
}

// TestRetryAfterIsHonored: a gateway that refuses with 503 and Retry-After
// is not dialed again before that delay, however short the agent's own
// reconnect backoff.
func TestRetryAfterIsHonored(t *testing.T) {
	pub, priv := frameKey(t)
	g := newFakeGW(t, pub, func(c *fakeConn) {
		if c.handshake() {
			for c.read() != nil {
			}
		}
	})
	g.refuse.Store(1)
	g.mu.Lock()
	g.retryAfter = "2"
	g.mu.Unlock()
	a, _, evs := newTestAgent(t, g, priv) // reconnect backoff 20-50 ms
	run(t, a)
	waitUntil(t, 10*time.Second, "a session after the refusal", func() bool { return g.sessions.Load() == 1 })
	g.mu.Lock()
	at := append([]time.Time(nil), g.attempts...)
	g.mu.Unlock()
	if len(at) != 2 || at[1].Sub(at[0]) < 2*time.Second {
		t.Fatalf("attempts %v: want the second one at least 2 s after the refusal", at)
	}
	if d := evs.of(EventDisconnected); len(d) == 0 || d[0].Code != "gateway_overloaded" || !errors.Is(d[0].Err, ErrNetwork) {
		t.Fatalf("disconnected events: %+v", d)
	}
}
