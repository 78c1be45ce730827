package session

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestOverloadSheddingRefusesNewSessions: while the gateway answers frames
// more slowly than Config.OverloadLatency, a new session is refused with
// 503 gateway_overloaded, a Retry-After and an event, and the vehicles
// already connected keep their acks; once answers are fast again, sessions
// are admitted.
func TestOverloadSheddingRefusesNewSessions(t *testing.T) {
	g := newGateway(t, storetest.Engines()[0].Open(t), gwOptions{cfg: fastConfig()})
	c1 := g.dial(g.enroll("truck-1"))
	c1.handshake(frame.StateDriving)
	heartbeat := func() {
		t.Helper()
		seq := c1.send(&frame.Heartbeat{State: frame.StateDriving})
		if f := c1.expect(frame.KindAck); f.Body.(*frame.Ack).AckSeq != seq {
			t.Fatal("ack echoes another seq")
		}
	}
	heartbeat()

	// The gateway has been answering in a second: far above a quarter of
	// the interval.
	for range 200 {
		g.h.noteLatency(time.Second)
	}
	v2 := g.enroll("truck-2")
	resp := upgrade(t, g, v2)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &p)
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusServiceUnavailable || p.Code != codes.GatewayOverloaded || ra < overloadRetryMin || ra > overloadRetryMin+overloadRetryJitter {
		t.Fatalf("overloaded: %d %s, Retry-After %q; want 503 %s with a Retry-After", resp.StatusCode, body, resp.Header.Get("Retry-After"), codes.GatewayOverloaded)
	}
	g.waitEvent(codes.GatewayOverloaded, 1)
	heartbeat() // the connected vehicle is still served

	// Fast answers again: the average comes down and sessions are admitted.
	for range 200 {
		g.h.noteLatency(time.Millisecond)
	}
	if _, err := g.tryDial(v2); err != nil {
		t.Fatalf("after the overload: %v", err)
	}

	// A stale average (no frame answered for an interval) does not refuse.
	for range 200 {
		g.h.noteLatency(time.Second)
	}
	g.h.latAt.Store(time.Now().Add(-2 * testInterval).UnixNano())
	if g.h.overloaded() {
		t.Fatal("a stale average still refuses sessions")
	}
}

// upgrade attempts the session upgrade as v and returns the HTTP answer
// of a refusal.
func upgrade(t *testing.T, g *gw, v *vehicle) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: g.tlsConfig(v)}}
	c, resp, err := websocket.Dial(ctx, g.url+Path, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{Subprotocol}})
	if err == nil {
		c.CloseNow()
		t.Fatal("the session was admitted")
	}
	if resp == nil {
		t.Fatalf("no HTTP answer: %v", err)
	}
	return resp
}

// TestLoadIsSizedBySessionsServedInTime: while overloaded, the gateway
// takes new sessions only into the room left by the sessions it held when
// it last answered in time: a truck that dropped off comes back, none is
// added beyond those. Handler.Load (what the vehicle listener's admission
// asks before a TLS handshake) and the upgrade's own check agree.
func TestLoadIsSizedBySessionsServedInTime(t *testing.T) {
	g := newGateway(t, storetest.Engines()[0].Open(t), gwOptions{cfg: fastConfig()})
	c1 := g.dial(g.enroll("truck-1"))
	c1.handshake(frame.StateDriving)
	seq := c1.send(&frame.Heartbeat{State: frame.StateDriving})
	if f := c1.expect(frame.KindAck); f.Body.(*frame.Ack).AckSeq != seq {
		t.Fatal("ack echoes another seq")
	}
	if over, _ := g.h.Load(); over {
		t.Fatal("overloaded while answering in time")
	}
	slow := func() { // answers far slower than the budget, just now
		for range 200 {
			g.h.noteLatency(time.Second)
		}
	}
	slow()
	if over, room := g.h.Load(); !over || room != 0 {
		t.Fatalf("Load = %v, %d; want overloaded with no room beyond the one session served in time", over, room)
	}
	v2 := g.enroll("truck-2")
	if resp := upgrade(t, g, v2); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a session beyond those served in time: %d", resp.StatusCode)
	} else {
		resp.Body.Close()
	}

	c1.c.CloseNow() // truck-1 drops off
	waitFor(t, 5*time.Second, "truck-1's session to end", func() bool { return g.h.Sessions() == 0 })
	slow()
	if over, room := g.h.Load(); !over || room != 1 {
		t.Fatalf("Load = %v, %d; want overloaded with room for the session that ended", over, room)
	}
	c2, err := g.tryDial(v2)
	if err != nil {
		t.Fatalf("a session into the room left: %v", err)
	}
	c2.handshake(frame.StateDriving)
	slow()
	if over, room := g.h.Load(); !over || room != 0 {
		t.Fatalf("Load = %v, %d; want no room once it is taken", over, room)
	}
	if resp := upgrade(t, g, g.enroll("truck-3")); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a session beyond the room: %d", resp.StatusCode)
	} else {
		resp.Body.Close()
	}
}
