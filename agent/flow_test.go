package agent

import (
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
)

// When the gateway cannot take telemetry, telemetry waits and heartbeats
// do not (issue 17). The real gateway's flow control (gateway_busy) is
// exercised against this agent in internal/session
// (TestAgentBuffersBusyTelemetry); these cover what the fake gateway can
// stage and the real one rarely does.

// TestResendDoesNotHoldHeartbeats: a telemetry frame whose fate is unknown
// (the link dropped while it was in flight) is resent byte for byte after
// the reconnect, and the gateway cannot decide it (store_unavailable) for
// as long as it takes to answer 2 × misses heartbeats: the heartbeats go
// on while the resend backs off, none is missed. The gateway then answers
// the resend stale_counter (the heartbeats, newer, were stored; the frame
// never was): the agent signs the same telemetry anew, and it is taken,
// nothing refused for good.
func TestResendDoesNotHoldHeartbeats(t *testing.T) {
	pub, priv := frameKey(t)
	var (
		mu          sync.Mutex
		firstSeq    uint64 // the telemetry in flight when the link dropped
		resends     int    // its byte-for-byte resends
		resentAt    time.Time
		heartbeats  int // answered on the second session, since the first resend
		taken       *frame.Frame
		odometer    = 777.5 // the telemetry sent
		takenSignal = make(chan struct{})
	)
	// answer decides a telemetry frame the second session or the batch
	// path receives; mu is held.
	answer := func(f *frame.Frame) (ok bool, code string) {
		switch {
		case f.Seq == firstSeq:
			if resends == 0 {
				resentAt = time.Now()
			}
			resends++
			if heartbeats >= 2*DefaultMisses {
				return false, codes.StaleCounter
			}
			return false, codes.StoreUnavailable
		case taken == nil && f.Body.(*frame.Telemetry).OdometerM == odometer:
			taken = f
			close(takenSignal)
		}
		return true, ""
	}
	g := newFakeGW(t, pub, func(c *fakeConn) {
		c.frames(func(f *frame.Frame) bool {
			mu.Lock()
			defer mu.Unlock()
			switch _, isTelemetry := f.Body.(*frame.Telemetry); {
			case !isTelemetry:
				if resends > 0 {
					heartbeats++
				}
				c.send(ackOf(f))
			case c.n == 1:
				firstSeq = f.Seq
				return false // the link drops with the frame in flight
			default:
				if ok, code := answer(f); ok {
					c.send(ackOf(f))
				} else {
					c.send(&frame.Nack{AckEpoch: f.Epoch, AckSeq: f.Seq, Reason: code})
				}
			}
			return true
		})
	})
	g.batch = func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Frames []json.RawMessage }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var out struct {
			Results []batchResult `json:"results"`
		}
		mu.Lock()
		for i, raw := range body.Frames {
			env, err := frame.ParseEnvelope(raw)
			if err != nil || env.Verify(g.vehicle) != nil {
				panic("the agent sent a bad frame")
			}
			f, _ := env.DecodeFrame()
			res := batchResult{Index: i, Verdict: "accepted"}
			if ok, code := answer(f); !ok {
				res.Verdict, res.Code = "rejected", code
			}
			out.Results = append(out.Results, res)
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}
	a, _, evs := newTestAgent(t, g, priv)
	run(t, a)
	waitUntil(t, 10*time.Second, "a session", func() bool { return a.Status().Connected })
	tm := frame.Telemetry{GNSS: frame.GNSS{Lat: 1, Lon: 2, Fix: frame.Fix3D}, OdometerM: odometer, State: frame.StateDriving,
		Health: frame.Health{Faults: []string{}}}
	if err := a.SendTelemetry(time.Now(), tm); err != nil {
		t.Fatal(err)
	}
	select {
	case <-takenSignal:
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the telemetry was not taken: %d resends, %d heartbeats answered meanwhile", resends, heartbeats)
	}
	mu.Lock()
	defer mu.Unlock()
	if taken.Seq <= firstSeq {
		t.Fatalf("the telemetry was taken under seq %d, not signed anew after %d", taken.Seq, firstSeq)
	}
	for _, m := range evs.of(EventHeartbeatMissed) {
		if m.Time.After(resentAt) {
			t.Fatalf("a heartbeat missed while the resend backed off: %+v", m)
		}
	}
	if r := evs.of(EventTelemetryRejected); len(r) > 0 {
		t.Fatalf("telemetry refused for good: %+v", r)
	}
}

// TestRefusedBeforeTheHandshakeIsANetworkErrorWithBackoff: while the
// gateway is overloaded its vehicle listener closes new connections at
// once, before any TLS handshake. The agent takes that for a network
// error (not a refusal an operator must fix) and dials again with its
// jittered, doubling backoff, never in a tight loop: each attempt comes at
// least half the reconnect minimum after the previous one.
func TestRefusedBeforeTheHandshakeIsANetworkErrorWithBackoff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var (
		mu       sync.Mutex
		attempts []time.Time
	)
	var stop atomic.Bool
	go func() {
		for !stop.Load() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			attempts = append(attempts, time.Now())
			mu.Unlock()
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // as the gateway's admission closes it: a reset
			}
			c.Close()
		}
	}()
	defer stop.Store(true)

	pub, priv := frameKey(t)
	g := newFakeGW(t, pub, func(*fakeConn) {})
	const reconnectMin = 100 * time.Millisecond
	a, _, evs := newTestAgentWith(t, g, priv, func(c *Config) {
		c.GatewayURL = "https://" + ln.Addr().String()
		c.ReconnectMin, c.ReconnectMax = reconnectMin, 4*reconnectMin
	})
	run(t, a)
	waitUntil(t, 10*time.Second, "five attempts", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(attempts) >= 5
	})
	mu.Lock()
	at := append([]time.Time(nil), attempts...)
	mu.Unlock()
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < reconnectMin/2 {
			t.Fatalf("attempt %d came %v after the previous one, below the backoff's floor %v (attempts %v)", i+1, gap, reconnectMin/2, at)
		}
	}
	for _, d := range evs.of(EventDisconnected) {
		if KindOf(d.Err) != KindNetwork {
			t.Fatalf("a connection closed before the handshake was taken for %v: %v", KindOf(d.Err), d.Err)
		}
	}
	if len(evs.of(EventDisconnected)) == 0 {
		t.Fatal("no disconnection reported")
	}
}
