package agent

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
)

// TestAckAttacksCountAsMisses: a heartbeat answered only by an unsigned,
// badly signed, unpinned, replayed, wrong-echo or misaddressed ack is a
// miss, and each refused ack is reported with its typed reason.
func TestAckAttacksCountAsMisses(t *testing.T) {
	_, rogue, _ := ed25519.GenerateKey(rand.Reader)
	rogueSigner, _ := frame.NewEd25519Signer(rogue)
	for _, tc := range []struct {
		name string
		bad  func(c *fakeConn, hb *frame.Frame, first []byte) []byte
		want Reason
	}{
		{"unsigned ack", func(c *fakeConn, hb *frame.Frame, _ []byte) []byte {
			fb, _ := (&frame.Frame{VehicleID: testVehicle, Epoch: 1, Seq: c.g.seq.Add(1), TS: time.Now().UTC().Truncate(time.Millisecond), Body: ackOf(hb)}).MarshalCanonical()
			return []byte(`{"alg":"none","frame":` + string(fb) + `,"kid":"` + c.g.kid + `","sig":""}`)
		}, ReasonUnsigned},
		{"ack signed with another key under the pinned kid", func(c *fakeConn, hb *frame.Frame, _ []byte) []byte {
			env, _ := frame.Sign(rogueSigner, c.g.kid, &frame.Frame{VehicleID: testVehicle, Epoch: 1, Seq: c.g.seq.Add(1),
				TS: time.Now().UTC().Truncate(time.Millisecond), Body: ackOf(hb)})
			return env
		}, ReasonBadSignature},
		{"ack signed with an unpinned key", func(c *fakeConn, hb *frame.Frame, _ []byte) []byte {
			env, _ := frame.Sign(rogueSigner, "gw-rogue", &frame.Frame{VehicleID: testVehicle, Epoch: 1, Seq: c.g.seq.Add(1),
				TS: time.Now().UTC().Truncate(time.Millisecond), Body: ackOf(hb)})
			return env
		}, ReasonUnknownKey},
		{"replayed ack", func(_ *fakeConn, _ *frame.Frame, first []byte) []byte { return first }, ReasonReplayed},
		{"ack echoing another seq", func(c *fakeConn, hb *frame.Frame, _ []byte) []byte {
			return c.sign(&frame.Ack{AckEpoch: hb.Epoch, AckSeq: hb.Seq + 1000})
		}, ReasonWrongEcho},
		{"ack for another vehicle", func(c *fakeConn, hb *frame.Frame, _ []byte) []byte {
			env, _ := frame.Sign(c.g.signer, c.g.kid, &frame.Frame{VehicleID: "truck-2", Epoch: 1, Seq: c.g.seq.Add(1),
				TS: time.Now().UTC().Truncate(time.Millisecond), Body: ackOf(hb)})
			return env
		}, ReasonWrongVehicle},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pub, priv := frameKey(t)
			g := newFakeGW(t, pub, func(c *fakeConn) {
				var first []byte
				c.heartbeats(func(f *frame.Frame, _ *frame.Heartbeat) bool {
					if first == nil {
						first = c.send(ackOf(f)) // one honest answer
						return true
					}
					c.write(tc.bad(c, f, first))
					return true
				})
			})
			a, _, evs := newTestAgent(t, g, priv)
			run(t, a)
			waitUntil(t, 10*time.Second, "a refused ack", func() bool {
				for _, e := range evs.of(EventGatewayFrameRejected) {
					if e.Reason == tc.want {
						return true
					}
				}
				return false
			})
			waitUntil(t, 10*time.Second, "a miss naming it", func() bool {
				for _, e := range evs.of(EventHeartbeatMissed) {
					if e.Reason == tc.want && e.Misses >= 2 {
						return true
					}
				}
				return false
			})
			if a.Status().Misses < 2 {
				t.Fatalf("misses %d", a.Status().Misses)
			}
		})
	}
}

// TestResumeReplayedFromAPreviousSession: a resume from an earlier session,
// re-sent verbatim or re-signed, does not take the truck out of safe state.
func TestResumeReplayedFromAPreviousSession(t *testing.T) {
	pub, priv := frameKey(t)
	var oldResume []byte
	var oldNonce []byte
	var replayed, legit atomic.Bool
	g := newFakeGW(t, pub, func(c *fakeConn) {
		n := 0
		c.heartbeats(func(f *frame.Frame, hb *frame.Heartbeat) bool {
			n++
			if c.n == 1 {
				// Session 1: answer, resume the truck, then stop answering
				// until it is in safe state again, then drop the link.
				switch {
				case n <= 2:
					c.send(ackOf(f))
				case n == 3:
					c.send(ackOf(f))
					oldNonce = c.nonce
					oldResume = c.send(&frame.Resume{Nonce: c.nonce})
				case n > 5 && hb.State == frame.StateSafeState:
					return false // the link drops
				case n <= 5:
					c.send(ackOf(f))
				}
				return true
			}
			// Session 2: an honest link, but the old resume comes back.
			c.send(ackOf(f))
			switch n {
			case 2:
				c.write(oldResume)                             // verbatim
				c.send(&frame.Resume{Nonce: oldNonce})         // re-signed, old nonce
				c.send(&frame.Resume{Nonce: make([]byte, 32)}) // made up
				replayed.Store(true)
			case 8:
				c.send(&frame.Resume{Nonce: c.nonce}) // the real one: bound to this session's challenge
				legit.Store(true)
			}
			return true
		})
	})
	a, av, evs := newTestAgent(t, g, priv)
	run(t, a)
	waitUntil(t, 10*time.Second, "resumed on session 1", func() bool { return len(evs.of(EventResumed)) == 1 })
	// Session 1 stops answering: the truck stops.
	waitUntil(t, 10*time.Second, "safe state", func() bool { return len(evs.of(EventSafeState)) == 1 })
	waitUntil(t, 10*time.Second, "replays sent", replayed.Load)
	time.Sleep(time.Second) // heartbeats answered meanwhile
	if a.Mode() != ModeSafeState {
		t.Fatalf("a replayed resume took the truck to %v", a.Mode())
	}
	rej := evs.of(EventResumeRejected)
	frameRej := evs.of(EventGatewayFrameRejected)
	var sawReplay bool
	for _, e := range frameRej {
		if e.Reason == ReasonReplayed && e.FrameKind == string(frame.KindResume) {
			sawReplay = true
		}
	}
	if !sawReplay || len(rej) != 2 {
		t.Fatalf("replayed resume not reported: frame rejections %+v, resume rejections %+v", frameRej, rej)
	}
	for _, e := range rej {
		if e.Reason != ReasonNonceMismatch {
			t.Fatalf("resume rejected for %s, want nonce_mismatch", e.Reason)
		}
	}
	waitUntil(t, 10*time.Second, "the legitimate resume", func() bool { return len(evs.of(EventResumed)) == 2 })
	if n := av.resumed(); n != 2 {
		t.Fatalf("AV resumed %d times", n)
	}
}

// TestResumeWithoutAFreshChallenge: on the same session, a resume bound to
// the challenge answered before the truck stopped is refused; only a
// challenge answered after the stop can resume it.
func TestResumeWithoutAFreshChallenge(t *testing.T) {
	pub, priv := frameKey(t)
	var stale, fresh atomic.Bool
	g := newFakeGW(t, pub, func(c *fakeConn) {
		var first []byte
		phase, n := 0, 0
		c.heartbeats(func(f *frame.Frame, hb *frame.Heartbeat) bool {
			n++
			switch phase {
			case 0: // in safe state after boot: resume with the handshake's challenge
				c.send(ackOf(f))
				if n == 2 {
					first = c.nonce
					c.send(&frame.Resume{Nonce: first})
					phase, n = 1, 0
				}
			case 1: // driving: answer twice, then go silent until it stops
				if hb.State == frame.StateSafeState {
					c.send(ackOf(f))
					c.send(&frame.Resume{Nonce: first}) // bound to the pre-stop challenge
					stale.Store(true)
					phase, n = 2, 0
				} else if n <= 2 {
					c.send(ackOf(f))
				}
			case 2: // answer; after two heartbeats, a fresh challenge and resume
				c.send(ackOf(f))
				if n == 2 {
					if !c.challenge() {
						return false
					}
					fresh.Store(true) // before the send: the agent may report the resume before this goroutine runs again
					c.send(&frame.Resume{Nonce: c.nonce})
					phase = 3
				}
			default:
				c.send(ackOf(f))
			}
			return true
		})
	})
	a, _, evs := newTestAgent(t, g, priv)
	run(t, a)
	waitUntil(t, 10*time.Second, "driving", func() bool { return len(evs.of(EventResumed)) == 1 })
	waitUntil(t, 15*time.Second, "stale resume", stale.Load)
	waitUntil(t, 5*time.Second, "refusal", func() bool { return len(evs.of(EventResumeRejected)) == 1 })
	if r := evs.of(EventResumeRejected)[0]; r.Reason != ReasonNoFreshChallenge {
		t.Fatalf("refused for %s", r.Reason)
	}
	if a.Mode() != ModeSafeState {
		t.Fatal(a.Mode())
	}
	waitUntil(t, 10*time.Second, "fresh resume", func() bool { return len(evs.of(EventResumed)) == 2 })
	if a.Mode() != ModeDriving || !fresh.Load() {
		t.Fatal(a.Mode())
	}
	if len(evs.of(EventConnected)) != 1 {
		t.Fatal("the session was not kept")
	}
}

// TestAttackForgedTLSAlertBeforeServerHello: an on-path attacker answers
// the truck's ClientHello with one plaintext TLS alert record
// (certificate_revoked, certificate_expired, unknown_ca, bad_certificate,
// certificate_required) before any ServerHello, so before the gateway has
// proven anything. The agent must not believe it: it reports a network
// error and reconnects with its normal backoff, never revoked, expired or
// not enrolled with the refusal's 30 s floor. A real gateway's refusal, sent
// after the handshake authenticated it, is still typed.
func TestAttackForgedTLSAlertBeforeServerHello(t *testing.T) {
	for _, tc := range []struct {
		name  string
		alert byte // TLS AlertDescription (RFC 8446 §6)
	}{
		{"certificate_revoked", 44},
		{"certificate_expired", 45},
		{"unknown_ca", 48},
		{"bad_certificate", 42},
		{"certificate_required", 116},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, dials := forgedAlertServer(t, tc.alert)
			pub, priv := frameKey(t)
			g := newFakeGW(t, pub, func(*fakeConn) {}) // only its PKI: the truck trusts the gateway's CA
			g.srv.URL = "https://" + addr
			a, _, evs := newTestAgent(t, g, priv)
			run(t, a)
			waitUntil(t, 10*time.Second, "three forged refusals", func() bool { return len(evs.of(EventDisconnected)) >= 3 })
			for _, ev := range evs.of(EventDisconnected) {
				if !errors.Is(ev.Err, ErrNetwork) || KindOf(ev.Err) != KindNetwork || ev.Code != "" {
					t.Fatalf("a forged %s alert was reported as %v (kind %s, code %q), want a network error", tc.name, ev.Err, KindOf(ev.Err), ev.Code)
				}
				if w := a.reconnectWait(ev.Err, a.cfg.ReconnectMax); w > a.cfg.ReconnectMax {
					t.Fatalf("reconnect after a forged %s alert waits %v, want the normal backoff (≤ %v)", tc.name, w, a.cfg.ReconnectMax)
				}
			}
			if dials.Load() < 3 {
				t.Fatalf("%d dials", dials.Load())
			}
		})
	}

	// A real gateway's refusal, after the handshake: a truck whose
	// certificate comes from another CA gets unknown_ca from the gateway it
	// authenticated, and that is typed.
	t.Run("real gateway refusal after the handshake", func(t *testing.T) {
		pub, priv := frameKey(t)
		g := newFakeGW(t, pub, func(*fakeConn) {})
		other := newTestPKI(t)
		av, evs := &testAV{}, &events{}
		a, err := New(Config{GatewayURL: g.srv.URL, GatewayCAPEM: g.pki.rootPEM, GatewayFrameKeys: []GatewayFrameKey{{PublicKeyPEM: g.pubPEM}},
			StateDir: t.TempDir(), ReconnectMin: 20 * time.Millisecond, ReconnectMax: 50 * time.Millisecond, DisableRenewal: true},
			Identity{Chain: other.chain, TLSKey: other.tlsKey, FrameKey: priv, FrameKID: "k-test"}, Deps{SafeStater: av, OnEvent: evs.add})
		if err != nil {
			t.Fatal(err)
		}
		run(t, a)
		waitUntil(t, 10*time.Second, "the refusal", func() bool { return len(evs.of(EventDisconnected)) > 0 })
		if ev := evs.of(EventDisconnected)[0]; !errors.Is(ev.Err, ErrNotEnrolled) || ev.Code != "tls_unknown_authority" {
			t.Fatalf("the gateway's unknown_ca alert was reported as %v (code %q), want not enrolled", ev.Err, ev.Code)
		}
	})
}

// forgedAlertServer listens on loopback and answers every connection's
// first record (the ClientHello) with a plaintext fatal alert record of the
// given description, then closes. It counts the connections.
func forgedAlertServer(t *testing.T, alert byte) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var dials atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				hdr := make([]byte, 5) // record header: type, version, length
				if _, err := io.ReadFull(c, hdr); err != nil || hdr[0] != 0x16 {
					return
				}
				if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint16(hdr[3:]))); err != nil {
					return
				}
				// ContentType alert (21), legacy version TLS 1.2, length 2,
				// level fatal (2), the description.
				_, _ = c.Write([]byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, alert})
			}()
		}
	}()
	return ln.Addr().String(), &dials
}
