package session

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/liveness"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

const testInterval = 500 * time.Millisecond // the fastest allowed: keeps the tests short

func fastConfig() Config {
	return Config{Interval: testInterval, Misses: 3, HandshakeTimeout: 2 * time.Second}
}

func fastAgent(c *agent.Config, _ *agent.Deps) {
	c.HeartbeatInterval = testInterval
	c.Misses = 3
}

func sampleTelemetry() frame.Telemetry {
	return frame.Telemetry{
		GNSS:          frame.GNSS{Lat: 32.7767, Lon: -96.797, SpeedMPS: 24.6, HeadingDeg: 91.5, Fix: frame.Fix3D, HDOP: 0.8},
		WheelSpeedMPS: 24.9, OdometerM: 1234567.8, State: frame.StateDriving,
		Health: frame.Health{CPUTempC: 61.5, BatteryV: 27.6, Faults: []string{}},
	}
}

// TestEndToEnd: a real agent connects over mTLS to the real handler on
// both store engines, handshakes, is resumed by the auto-resume policy,
// and its heartbeats and telemetry are acknowledged only once durable.
func TestEndToEnd(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		g := newGateway(t, st, gwOptions{cfg: fastConfig()})
		v := g.enroll("truck-1")
		a, av, log := g.agentFor(v, fastAgent)
		runAgent(t, a)

		waitFor(t, 10*time.Second, "session", func() bool { return a.Status().Connected })
		if a.Mode() != agent.ModeSafeState {
			t.Fatalf("an agent starts in safe state, got %v", a.Mode())
		}
		// Auto-resume: 3 stable safe_state heartbeats, a fresh challenge,
		// then the resume.
		waitFor(t, 10*time.Second, "auto-resume", func() bool { return len(log.find(agent.EventResumed)) == 1 })
		if _, r := av.counts(); r != 1 || len(log.find(agent.EventResumed)) != 1 {
			t.Fatalf("resumes: AV %d, events %d", r, len(log.find(agent.EventResumed)))
		}
		g.waitEvent(codes.SessionEstablished, 1)
		g.waitEvent(codes.SessionResumeSent, 1)

		for i := range 5 {
			tm := sampleTelemetry()
			tm.OdometerM += float64(i)
			if err := a.SendTelemetry(time.Now(), tm); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 10*time.Second, "telemetry acked", func() bool { return a.Status().Buffered == 0 })
		ctx := context.Background()
		rec, err := st.LatestFrame(ctx, "truck-1", "telemetry")
		if err != nil {
			t.Fatalf("telemetry not stored: %v", err)
		}
		if rec.Raw == nil || rec.Verdict == "" {
			t.Fatal("stored frame has no bytes or verdict")
		}
		if _, err := st.LatestFrame(ctx, "truck-1", "heartbeat"); err != nil {
			t.Fatalf("heartbeats not stored: %v", err)
		}
		if got := a.Status().Misses; got != 0 {
			t.Fatalf("misses while healthy: %d", got)
		}
		waitFor(t, 5*time.Second, "fleet state online", func() bool {
			s, ok := g.mon.State("truck-1")
			return ok && s.State == liveness.Online
		})
		if n := len(log.find(agent.EventGatewayFrameRejected)); n != 0 {
			t.Fatalf("valid gateway frames refused: %+v", log.find(agent.EventGatewayFrameRejected))
		}
	})
}

func TestBlackoutStopsTheTruckAndResumeNeedsAFreshChallenge(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		g := newGateway(t, e.Open(t), gwOptions{cfg: fastConfig()})
		v := g.enroll("truck-1")
		link := newLink()
		a, av, log := g.agentFor(v, func(c *agent.Config, d *agent.Deps) {
			fastAgent(c, d)
			d.DialContext = link.dial
		})
		runAgent(t, a)
		waitFor(t, 10*time.Second, "driving", func() bool { return len(log.find(agent.EventResumed)) == 1 })
		resumedBefore := 1

		// Blackout: the link drops and stays down.
		cutAt := time.Now()
		link.cut()
		waitFor(t, 5*time.Second, "stopping", func() bool { return len(log.find(agent.EventStopping)) > 0 })
		stopAt := log.find(agent.EventStopping)[0].Time
		// The SLA: within Misses intervals of the link failing, with a
		// generous margin for a loaded test machine.
		if d := stopAt.Sub(cutAt); d > 3*testInterval+400*time.Millisecond {
			t.Fatalf("stopping %v after the blackout; want within 3 intervals (%v)", d, 3*testInterval)
		}
		waitFor(t, 5*time.Second, "safe state", func() bool { return len(log.find(agent.EventSafeState)) == 1 })
		if stops, _ := av.counts(); stops != 1 {
			t.Fatalf("BeginStop called %d times", stops)
		}
		// The gateway declares comm loss within its own SLA.
		waitFor(t, 5*time.Second, "comm_lost", func() bool {
			s, ok := g.mon.State("truck-1")
			return ok && s.State == liveness.CommLost
		})

		// The link comes back: the truck reconnects but stays in safe
		// state until a resume bound to a fresh challenge.
		link.restore()
		waitFor(t, 10*time.Second, "reconnect", func() bool { return a.Status().Connected })
		if a.Mode() != agent.ModeSafeState {
			t.Fatal("the truck left safe state because the link came back")
		}
		waitFor(t, 10*time.Second, "resume", func() bool { return len(log.find(agent.EventResumed)) == resumedBefore+1 })
		time.Sleep(4 * testInterval) // no second resume follows
		if got := len(log.find(agent.EventResumed)); got != resumedBefore+1 {
			t.Fatalf("resumed %d times", got-resumedBefore)
		}
		if n := len(log.find(agent.EventResumeRejected)); n != 0 {
			t.Fatalf("resume refused: %+v", log.find(agent.EventResumeRejected))
		}
	})
}

// TestStoppedAcksStopTheTruck: the connection stays up but the gateway
// cannot make heartbeats durable (nack store_unavailable): the truck stops;
// when the store recovers, the gateway re-challenges on the same session and
// resumes it.
//
// Without a liveness monitor: with one, the heartbeats the gateway cannot
// record also mean comm_lost, and the session is closed (the blackout test
// covers that path).
func TestStoppedAcksStopTheTruck(t *testing.T) {
	var failing atomic.Bool
	g := newGateway(t, storetest.Engines()[0].Open(t), gwOptions{cfg: fastConfig(), noLiveness: true, pipelineWrap: func(p Pipeline) Pipeline {
		return pipelineFunc{p, func(ctx context.Context, peer principal.Principal, src ingest.Source, kinds []frame.Kind, raws [][]byte) ([]ingest.Result, error) {
			if failing.Load() {
				return nil, ingest.ErrUnavailable
			}
			return p.Process(ctx, peer, src, kinds, raws)
		}}
	}})
	v := g.enroll("truck-1")
	a, _, log := g.agentFor(v, fastAgent)
	runAgent(t, a)
	waitFor(t, 10*time.Second, "driving", func() bool { return a.Mode() == agent.ModeDriving })

	failing.Store(true)
	waitFor(t, 5*time.Second, "safe state", func() bool { return len(log.find(agent.EventSafeState)) == 1 })
	misses := log.find(agent.EventHeartbeatMissed)
	if len(misses) == 0 || misses[len(misses)-1].Reason != agent.ReasonNacked {
		t.Fatalf("misses should name the nacks: %+v", misses)
	}
	if !a.Status().Connected {
		t.Fatal("the session should have stayed up")
	}
	failing.Store(false)
	waitFor(t, 10*time.Second, "resume on the same session", func() bool { return a.Mode() == agent.ModeDriving })
	if n := len(log.find(agent.EventConnected)); n != 1 {
		t.Fatalf("reconnected %d times; the resume should come on the same session", n-1)
	}
}

// pipelineFunc is a Pipeline whose Process is process.
type pipelineFunc struct {
	Pipeline
	process func(ctx context.Context, peer principal.Principal, src ingest.Source, kinds []frame.Kind, raws [][]byte) ([]ingest.Result, error)
}

func (f pipelineFunc) Process(ctx context.Context, peer principal.Principal, src ingest.Source, kinds []frame.Kind, raws [][]byte) ([]ingest.Result, error) {
	return f.process(ctx, peer, src, kinds, raws)
}

// ProcessParsed goes through process too, with the envelope's bytes, so a
// test's process sees every frame of the session.
func (f pipelineFunc) ProcessParsed(ctx context.Context, peer principal.Principal, src ingest.Source, kinds []frame.Kind, env *frame.Envelope, _ *frame.Frame) (ingest.Result, error) {
	res, err := f.process(ctx, peer, src, kinds, [][]byte{env.Encode()})
	if err != nil {
		return ingest.Result{}, err
	}
	return res[0], nil
}

// TestHandshakeThatNeverCompletes: silent after the upgrade, or silent
// after the challenge: closed after the timeout, with one event each.
func TestHandshakeThatNeverCompletes(t *testing.T) {
	cfg := fastConfig()
	cfg.HandshakeTimeout = 300 * time.Millisecond
	g := newGateway(t, storetest.Engines()[0].Open(t), gwOptions{cfg: cfg})
	v := g.enroll("truck-1")

	t.Run("silent after the upgrade", func(t *testing.T) {
		c := g.dial(v)
		start := time.Now()
		code, reason := c.closed()
		if code != CloseHandshakeTimeout || reason != codes.SessionHandshakeTimeout {
			t.Fatalf("closed with %d %q", code, reason)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("closed after %v", d)
		}
		g.waitEvent(codes.SessionHandshakeTimeout, 1)
	})
	t.Run("silent after the challenge", func(t *testing.T) {
		c := g.dial(v)
		hello := make([]byte, 32)
		rand.Read(hello)
		c.send(&frame.Hello{Nonce: hello, State: frame.StateDriving})
		c.expect(frame.KindChallenge)
		code, reason := c.closed()
		if code != CloseHandshakeTimeout || reason != codes.SessionHandshakeTimeout {
			t.Fatalf("closed with %d %q", code, reason)
		}
		g.waitEvent(codes.SessionHandshakeTimeout, 2)
	})
	if g.count(codes.SessionEstablished) != 0 {
		t.Fatal("a session was established")
	}
}

// TestSecondSession: a second session of the same vehicle wins only once
// its handshake completes; the older one keeps working until then, and is
// closed with session_superseded after.
func TestSecondSession(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := fastConfig()
		cfg.HandshakeTimeout = 2 * time.Second
		g := newGateway(t, e.Open(t), gwOptions{cfg: cfg})
		v := g.enroll("truck-1")
		old := g.dial(v)
		old.handshake(frame.StateDriving)

		heartbeat := func(c *rawClient) *frame.Frame {
			t.Helper()
			seq := c.send(&frame.Heartbeat{State: frame.StateDriving})
			f := c.expect(frame.KindAck)
			if f.Body.(*frame.Ack).AckSeq != seq {
				t.Fatal("ack echoes another seq")
			}
			return f
		}
		heartbeat(old)

		// A newer connection says hello and gets its challenge...
		newer := g.dial(v)
		newer.epoch, newer.seq = old.epoch, old.seq+100 // the same vehicle's counter
		hello := make([]byte, 32)
		rand.Read(hello)
		newer.send(&frame.Hello{Nonce: hello, State: frame.StateDriving})
		ch := newer.expect(frame.KindChallenge).Body.(*frame.Challenge)
		// ...but until it answers, the older session is the vehicle's.
		old.seq = newer.seq + 10
		heartbeat(old)
		if g.count(codes.SessionSuperseded) != 0 {
			t.Fatal("superseded before the newer handshake completed")
		}
		newer.send(&frame.ChallengeResponse{Nonce: ch.Nonce})
		newer.expect(frame.KindReady)
		code, reason := old.closed()
		if code != CloseSuperseded || reason != codes.SessionSuperseded {
			t.Fatalf("older session closed with %d %q", code, reason)
		}
		g.waitEvent(codes.SessionSuperseded, 1)
		newer.seq = old.seq + 10
		heartbeat(newer)
		if g.h.Sessions() != 1 {
			t.Fatalf("%d sessions", g.h.Sessions())
		}
	})
}

// TestSecondSessionThatNeverCompletes: a newer connection that never
// completes its handshake does not disturb the established session.
func TestSecondSessionThatNeverCompletes(t *testing.T) {
	cfg := fastConfig()
	cfg.HandshakeTimeout = 300 * time.Millisecond
	g := newGateway(t, storetest.Engines()[0].Open(t), gwOptions{cfg: cfg})
	v := g.enroll("truck-1")
	old := g.dial(v)
	old.handshake(frame.StateDriving)
	intruder := g.dial(v)
	hello := make([]byte, 32)
	rand.Read(hello)
	intruder.send(&frame.Hello{Nonce: hello, State: frame.StateDriving})
	intruder.expect(frame.KindChallenge)
	if code, _ := intruder.closed(); code != CloseHandshakeTimeout {
		t.Fatalf("intruder closed with %d", code)
	}
	seq := old.send(&frame.Heartbeat{State: frame.StateDriving})
	if f := old.expect(frame.KindAck); f.Body.(*frame.Ack).AckSeq != seq {
		t.Fatal("wrong ack")
	}
	if g.count(codes.SessionSuperseded) != 0 || !g.h.Connected("truck-1") {
		t.Fatal("the established session was disturbed")
	}
}

// TestHandshakeRefusals: each attack on the handshake is refused with its
// code, as a close reason and as exactly one event.
func TestHandshakeRefusals(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		g := newGateway(t, st, gwOptions{cfg: fastConfig()})
		v := g.enroll("truck-1")
		other := g.enroll("truck-2")
		ctx := context.Background()
		// A certificate for a vehicle the registry does not know.
		_, ghostKey, _ := ed25519.GenerateKey(rand.Reader)
		ghost := g.certify("truck-ghost", ghostKey, "k-ghost")
		// A suspended vehicle.
		susp := g.enroll("truck-susp")
		if err := st.SetVehicleStatus(ctx, "truck-susp", "suspended"); err != nil {
			t.Fatal(err)
		}
		// A retired key.
		ret := g.enroll("truck-ret")
		if err := st.RetireVehicleKey(ctx, "truck-ret", ret.kid, time.Now()); err != nil {
			t.Fatal(err)
		}
		_, wrongKey, _ := ed25519.GenerateKey(rand.Reader)
		wrongSigner, _ := frame.NewEd25519Signer(wrongKey)

		hello := func(c *rawClient) *frame.Frame {
			n := make([]byte, 32)
			rand.Read(n)
			return c.frame(&frame.Hello{Nonce: n, State: frame.StateDriving})
		}
		for _, tc := range []struct {
			name   string
			v      *vehicle
			script func(c *rawClient) []byte // returns the message that is refused
			status websocket.StatusCode
			code   string
		}{
			{"vehicle_id in hello is not the certificate's", v, func(c *rawClient) []byte {
				f := hello(c)
				f.VehicleID = "truck-2"
				env, _ := frame.Sign(other.signer, other.kid, f) // even signed with truck-2's own key
				return env
			}, CloseProtocol, "vehicle_mismatch"},
			{"vehicle not registered", ghost, func(c *rawClient) []byte { return c.sign(hello(c)) }, CloseRefused, "vehicle_unknown"},
			{"vehicle suspended", susp, func(c *rawClient) []byte { return c.sign(hello(c)) }, CloseRefused, "vehicle_suspended"},
			{"frame key retired", ret, func(c *rawClient) []byte { return c.sign(hello(c)) }, CloseRefused, "retired_kid"},
			{"frame key not registered", v, func(c *rawClient) []byte {
				env, _ := frame.Sign(wrongSigner, "k-unknown", hello(c))
				return env
			}, CloseRefused, "unknown_kid"},
			{"hello signed with another key under the vehicle's kid", v, func(c *rawClient) []byte {
				env, _ := frame.Sign(wrongSigner, v.kid, hello(c))
				return env
			}, CloseProtocol, "bad_signature"},
			{"hello from a minute ago (replayed)", v, func(c *rawClient) []byte {
				f := hello(c)
				f.TS = f.TS.Add(-time.Minute)
				return c.sign(f)
			}, CloseProtocol, "clock_skew"},
			{"telemetry before the handshake", v, func(c *rawClient) []byte {
				tm := sampleTelemetry()
				return c.sign(c.frame(&tm))
			}, CloseProtocol, codes.UnexpectedKind},
			{"not canonical", v, func(c *rawClient) []byte {
				return []byte(`{"alg":"Ed25519","kid":"` + v.kid + `","frame":{ "v":1},"sig":"` + string(make64()) + `"}`)
			}, CloseProtocol, "not_canonical"},
			{"challenge_response signing another nonce", v, func(c *rawClient) []byte {
				c.write(c.sign(hello(c)))
				c.expect(frame.KindChallenge)
				n := make([]byte, 32)
				rand.Read(n)
				return c.sign(c.frame(&frame.ChallengeResponse{Nonce: n}))
			}, CloseProtocol, codes.NonceMismatch},
			{"challenge_response under another key", v, func(c *rawClient) []byte {
				c.write(c.sign(hello(c)))
				ch := c.expect(frame.KindChallenge).Body.(*frame.Challenge)
				env, _ := frame.Sign(wrongSigner, "k-other", c.frame(&frame.ChallengeResponse{Nonce: ch.Nonce}))
				return env
			}, CloseProtocol, codes.KIDChanged},
			{"challenge_response replayed from before the hello", v, func(c *rawClient) []byte {
				early := c.frame(&frame.ChallengeResponse{Nonce: make([]byte, 32)})
				c.write(c.sign(hello(c)))
				ch := c.expect(frame.KindChallenge).Body.(*frame.Challenge)
				early.Body = &frame.ChallengeResponse{Nonce: ch.Nonce}
				return c.sign(early)
			}, CloseProtocol, codes.StaleCounter},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := len(g.sink.ByCode(tc.code))
				c := g.dial(tc.v)
				if err := c.write(tc.script(c)); err != nil {
					t.Fatal(err)
				}
				status, reason := c.closed()
				if status != tc.status || reason != tc.code {
					t.Fatalf("closed with %d %q, want %d %q", status, reason, tc.status, tc.code)
				}
				waitFor(t, 5*time.Second, "event", func() bool {
					for _, ev := range g.sink.ByCode(tc.code)[before:] {
						if ev.Activity == "session_handshake" {
							return true
						}
					}
					return false
				})
			})
		}
		if g.count(codes.SessionEstablished) != 0 {
			t.Fatal("a refused handshake established a session")
		}
	})
}

func make64() []byte {
	b := make([]byte, 86)
	for i := range b {
		b[i] = 'A'
	}
	return b
}

// TestProtocolViolations: after the handshake, a broken message closes the
// session with 4004 and one session_protocol_violation event.
func TestProtocolViolations(t *testing.T) {
	g := newGateway(t, storetest.Engines()[0].Open(t), gwOptions{cfg: fastConfig()})
	v := g.enroll("truck-1")
	other := g.enroll("truck-2")
	for _, tc := range []struct {
		name   string
		send   func(c *rawClient) error
		reason string
	}{
		{"binary message", func(c *rawClient) error {
			return c.c.Write(context.Background(), websocket.MessageBinary, []byte{1, 2, 3})
		}, codes.BinaryMessage},
		{"not JSON", func(c *rawClient) error { return c.write([]byte("hello")) }, "bad_json"},
		{"frame for another vehicle", func(c *rawClient) error {
			f := c.frame(&frame.Heartbeat{State: frame.StateDriving})
			f.VehicleID = "truck-2"
			env, _ := frame.Sign(other.signer, other.kid, f)
			return c.write(env)
		}, "vehicle_mismatch"},
		{"a gateway kind from the vehicle", func(c *rawClient) error {
			return c.write(c.sign(c.frame(&frame.Resume{Nonce: make([]byte, 32)})))
		}, codes.UnexpectedKind},
		{"challenge_response with no challenge outstanding", func(c *rawClient) error {
			return c.write(c.sign(c.frame(&frame.ChallengeResponse{Nonce: make([]byte, 32)})))
		}, codes.UnexpectedKind},
		{"oversize message", func(c *rawClient) error {
			return c.write(make([]byte, frame.MaxEnvelopeSize+1))
		}, string(frame.CodeTooLarge)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := g.count(codes.SessionProtocolViolation)
			c := g.dial(v)
			c.handshake(frame.StateDriving)
			if err := tc.send(c); err != nil {
				t.Fatal(err)
			}
			status, reason := c.closed()
			if tc.reason == string(frame.CodeTooLarge) {
				if status != websocket.StatusMessageTooBig && status != CloseProtocol {
					t.Fatalf("closed with %d %q", status, reason)
				}
			} else if status != CloseProtocol || reason != tc.reason {
				t.Fatalf("closed with %d %q, want %q", status, reason, tc.reason)
			}
			g.waitEvent(codes.SessionProtocolViolation, before+1)
		})
	}
}

// TestHeartbeats: acked only after durable, echoing the seq; a replay with
// other bytes is nacked with its reason; an exact re-send is acked but is
// not a proof of life.
func TestHeartbeats(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		g := newGateway(t, st, gwOptions{cfg: fastConfig()})
		v := g.enroll("truck-1")
		c := g.dial(v)
		c.handshake(frame.StateDriving)

		f := c.frame(&frame.Heartbeat{State: frame.StateDriving})
		env := c.sign(f)
		c.write(env)
		ack := c.expect(frame.KindAck).Body.(*frame.Ack)
		if ack.AckEpoch != f.Epoch || ack.AckSeq != f.Seq {
			t.Fatalf("ack echoes (%d,%d)", ack.AckEpoch, ack.AckSeq)
		}
		// Durable before the ack.
		if _, err := st.LookupFrame(context.Background(), "truck-1", int64(f.Epoch), int64(f.Seq)); err != nil {
			t.Fatalf("acked heartbeat not in the store: %v", err)
		}
		// Exact re-send: acked as a duplicate.
		c.write(env)
		if a := c.expect(frame.KindAck).Body.(*frame.Ack); a.AckSeq != f.Seq {
			t.Fatal("duplicate not acked")
		}
		// Same (epoch, seq), other bytes: a replay.
		f2 := *f
		f2.Body = &frame.Heartbeat{State: frame.StateParked}
		c.write(c.sign(&f2))
		n := c.expect(frame.KindNack).Body.(*frame.Nack)
		if n.AckSeq != f.Seq || n.Reason != codes.Replay {
			t.Fatalf("nack %+v", n)
		}
		// Stale ts: clock_skew.
		f3 := c.frame(&frame.Heartbeat{State: frame.StateDriving})
		f3.TS = f3.TS.Add(-time.Minute)
		c.write(c.sign(f3))
		if n := c.expect(frame.KindNack).Body.(*frame.Nack); n.Reason != codes.ClockSkew {
			t.Fatalf("nack %+v", n)
		}
		// Telemetry: acked after durable, too.
		tm := sampleTelemetry()
		seq := c.send(&tm)
		if a := c.expect(frame.KindAck).Body.(*frame.Ack); a.AckSeq != seq {
			t.Fatal("telemetry ack echoes another seq")
		}
		if _, err := st.GetFrame(context.Background(), "truck-1", 0, int64(seq)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRevocationClosesTheSession: revoking the certificate closes the live
// session within 1 s with 4003, and the agent reports revoked; its next
// handshakes are refused by TLS and, with the CA's CRL as proof, still
// reported as revoked (never as a network error).
func TestRevocationClosesTheSession(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		g := newGateway(t, e.Open(t), gwOptions{cfg: fastConfig()})
		v := g.enroll("truck-1")
		a, _, log := g.agentFor(v, fastAgent)
		runAgent(t, a)
		waitFor(t, 10*time.Second, "session", func() bool { return a.Status().Connected })

		if _, err := g.ca.Revoke(context.Background(), v.serial, pki.ReasonKeyCompromise, principal.Principal{}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		g.rs.Notify()
		waitFor(t, 2*time.Second, "closed", func() bool { return len(log.find(agent.EventDisconnected)) > 0 })
		if d := time.Since(start); d > time.Second+200*time.Millisecond {
			t.Fatalf("closed %v after the revocation", d)
		}
		err := log.find(agent.EventDisconnected)[0].Err
		if !errors.Is(err, agent.ErrRevoked) || agent.KindOf(err) != agent.KindRevoked {
			t.Fatalf("agent error %v, want revoked", err)
		}
		g.waitEvent(codes.SessionClosedRevoked, 1)
		// The liveness monitor records the revocation, not a comm loss.
		g.waitOffline(t, "truck-1", "revoked")
		// The reconnect is refused in the TLS handshake.
		waitFor(t, 10*time.Second, "refused reconnect", func() bool { return len(log.find(agent.EventDisconnected)) > 1 })
		err = log.find(agent.EventDisconnected)[1].Err
		if !errors.Is(err, agent.ErrRevoked) {
			t.Fatalf("reconnect error %v, want revoked (CRL proof)", err)
		}
	})
}

// TestTypedRefusalsReachTheAgent: the agent tells not enrolled and
// suspended apart from each other and from network errors.
func TestTypedRefusalsReachTheAgent(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	g := newGateway(t, st, gwOptions{cfg: fastConfig()})
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	ghost := g.certify("truck-ghost", k, "k-ghost")
	susp := g.enroll("truck-susp")
	if err := st.SetVehicleStatus(context.Background(), "truck-susp", "suspended"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		v    *vehicle
		want error
		code string
	}{
		{ghost, agent.ErrNotEnrolled, "vehicle_unknown"},
		{susp, agent.ErrSuspended, "vehicle_suspended"},
	} {
		a, _, log := g.agentFor(tc.v, fastAgent)
		stop := runAgent(t, a)
		waitFor(t, 10*time.Second, "refusal", func() bool { return len(log.find(agent.EventDisconnected)) > 0 })
		stop()
		ev := log.find(agent.EventDisconnected)[0]
		if !errors.Is(ev.Err, tc.want) || ev.Code != tc.code || errors.Is(ev.Err, agent.ErrNetwork) {
			t.Fatalf("%s: %v (code %q), want %v", tc.v.id, ev.Err, ev.Code, tc.want)
		}
	}
}

// TestCertificateRenewal: the agent renews over POST /v1/pki/renew and
// uses the new certificate for its next session.
func TestCertificateRenewal(t *testing.T) {
	g := newGateway(t, storetest.Engines()[0].Open(t), gwOptions{cfg: fastConfig()})
	v := g.enroll("truck-1")
	a, _, log := g.agentFor(v, fastAgent)
	old := a.Certificate()
	if err := a.RenewNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.Certificate().SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Fatal("certificate not replaced")
	}
	runAgent(t, a)
	waitFor(t, 10*time.Second, "session", func() bool { return a.Status().Connected })
	if len(log.find(agent.EventCertificateRenewed)) != 1 {
		t.Fatal("no renewal event")
	}
	g.waitEvent(codes.CertRenewed, 1)
}

// TestEnrollThenConnect: a truck enrolls with a join token through the
// SDK (registering its frame key), then connects with what it got.
func TestEnrollThenConnect(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	g := newGateway(t, st, gwOptions{cfg: fastConfig()})
	// Enrollment is reached without a client certificate; the real server
	// admits that on /v1/pki/enroll only.
	mux := http.NewServeMux()
	for p, h := range g.pkiAPI.Routes() {
		mux.Handle(p, h)
	}
	es := httptest.NewUnstartedServer(mux)
	gwCert, _ := g.tlsCfg.GetCertificate(nil)
	es.TLS = &tls.Config{Certificates: []tls.Certificate{*gwCert}, MinVersion: tls.VersionTLS13}
	es.StartTLS()
	t.Cleanup(es.Close)
	tok, err := g.ca.CreateJoinToken(context.Background(), "truck-new", 0, principal.Principal{Kind: principal.Operator, ID: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	tlsKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, frameKey, _ := ed25519.GenerateKey(rand.Reader)
	en, err := agent.Enroll(context.Background(), agent.EnrollRequest{GatewayURL: es.URL, GatewayCAPEM: g.rootPEM(),
		VehicleID: "truck-new", Token: tok.Secret, TLSKey: tlsKey, FrameKey: frameKey})
	if err != nil {
		t.Fatal(err)
	}
	if en.FrameKID == "" || len(en.Chain) != 2 {
		t.Fatalf("enrollment %+v", en)
	}
	if _, err := agent.Enroll(context.Background(), agent.EnrollRequest{GatewayURL: es.URL, GatewayCAPEM: g.rootPEM(),
		VehicleID: "truck-new", Token: tok.Secret, TLSKey: tlsKey}); !errors.Is(err, agent.ErrNotEnrolled) {
		t.Fatalf("a used token: %v", err)
	}
	v := &vehicle{id: "truck-new", chain: en.Chain, tlsKey: tlsKey, frameKey: frameKey, kid: en.FrameKID}
	a, _, _ := g.agentFor(v, fastAgent)
	runAgent(t, a)
	waitFor(t, 10*time.Second, "session", func() bool { return a.Status().Connected })
}

// TestBackfillAfterOutage: telemetry made while offline is sent, in order,
// through the batch path once it is too old for the session, and none is
// lost or refused as stale despite the heartbeats in between.
func TestBackfillAfterOutage(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		g := newGateway(t, st, gwOptions{cfg: fastConfig()})
		v := g.enroll("truck-1")
		link := newLink()
		a, _, log := g.agentFor(v, func(c *agent.Config, d *agent.Deps) {
			fastAgent(c, d)
			c.LiveMaxAge = 300 * time.Millisecond
			d.DialContext = link.dial
		})
		link.cut()
		runAgent(t, a)
		const n = 300
		start := time.Now().Add(-time.Minute)
		for i := range n {
			tm := sampleTelemetry()
			tm.OdometerM += float64(i)
			if err := a.SendTelemetry(start.Add(time.Duration(i)*100*time.Millisecond), tm); err != nil {
				t.Fatal(err)
			}
		}
		link.restore()
		waitFor(t, 20*time.Second, "backfill", func() bool { return a.Status().Buffered == 0 && a.Status().Connected })
		if r := log.find(agent.EventTelemetryRejected); len(r) != 0 {
			t.Fatalf("frames refused: %+v", r[0])
		}
		recs, err := st.ListFrames(context.Background(), "truck-1", start.Add(-time.Second), start.Add(time.Hour), 1000)
		if err != nil {
			t.Fatal(err)
		}
		var tel int
		for _, r := range recs {
			if r.Kind == "telemetry" {
				tel++
			}
		}
		if tel != n {
			for _, e := range log.all() {
				t.Logf("%+v", e)
			}
			t.Fatalf("%d telemetry frames stored, want %d (of %d rows)", tel, n, len(recs))
		}
	})
}

// TestSuspensionClosesTheSession: when the server cuts a suspended vehicle
// off through the ConnTracker (as pki.SuspensionWatch does, with
// session_closed_suspended), the vehicle learns it is suspended, not
// revoked.
func TestSuspensionClosesTheSession(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	g := newGateway(t, st, gwOptions{cfg: fastConfig()})
	v := g.enroll("truck-1")
	a, _, log := g.agentFor(v, fastAgent)
	runAgent(t, a)
	waitFor(t, 10*time.Second, "session", func() bool { return a.Status().Connected })
	if err := st.SetVehicleStatus(context.Background(), "truck-1", "suspended"); err != nil {
		t.Fatal(err)
	}
	if n := g.tracker.ClosePrincipal(context.Background(), principal.Principal{Kind: principal.Vehicle, ID: "truck-1"}, codes.SessionClosedSuspended); n != 1 {
		t.Fatalf("closed %d connections", n)
	}
	waitFor(t, 5*time.Second, "closed", func() bool { return len(log.find(agent.EventDisconnected)) > 0 })
	if err := log.find(agent.EventDisconnected)[0].Err; !errors.Is(err, agent.ErrSuspended) {
		t.Fatalf("agent error %v, want suspended", err)
	}
	// The liveness monitor records the suspension, not a comm loss.
	g.waitOffline(t, "truck-1", "suspended")
}

// TestManualResume: with auto-resume off, a truck in safe state stays there
// however stable its link, until an operator asks; the resume still goes
// through a fresh challenge.
func TestManualResume(t *testing.T) {
	cfg := fastConfig()
	cfg.ManualResume = true
	g := newGateway(t, storetest.Engines()[0].Open(t), gwOptions{cfg: cfg})
	v := g.enroll("truck-1")
	a, _, log := g.agentFor(v, fastAgent)
	runAgent(t, a)
	waitFor(t, 10*time.Second, "session", func() bool { return a.Status().Connected })
	time.Sleep(8 * testInterval)
	if a.Mode() != agent.ModeSafeState || g.count(codes.SessionResumeSent) != 0 {
		t.Fatalf("resumed without an operator: %v", a.Mode())
	}
	op := principal.Principal{Kind: principal.Operator, ID: "alice"}
	if err := g.h.Resume("truck-2", op); !errors.Is(err, ErrNoSession) {
		t.Fatalf("resume of an unconnected vehicle: %v", err)
	}
	if err := g.h.Resume("truck-1", op); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "resumed", func() bool { return len(log.find(agent.EventResumed)) == 1 })
	g.waitEvent(codes.SessionResumeSent, 1)
	if by := g.sink.ByCode(codes.SessionResumeSent)[0].Attrs["by"]; by != op.String() {
		t.Fatalf("resume event by %v", by)
	}
}
