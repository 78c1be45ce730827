package agent

import (
	"context"
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
