package agent

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
)

// gatewayKey is a gateway frame key for tests: its signer, PEM and kid.
type gatewayKey struct {
	signer frame.Signer
	pem    []byte
	kid    string
}

func newGatewayKey(t testing.TB) gatewayKey {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := frame.NewEd25519Signer(priv)
	if err != nil {
		t.Fatal(err)
	}
	p := publicPEM(t, priv.Public())
	kid, _ := GatewayKeyID(p)
	return gatewayKey{signer: s, pem: p, kid: kid}
}

func publicPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// TestPinnedKeySetFollowsARotation: an agent that pins the gateway's
// current and next keys keeps its heartbeats answered when the gateway
// starts signing with the next key in the middle of a session (a
// promotion): every frame is verified with the pinned key its kid names.
func TestPinnedKeySetFollowsARotation(t *testing.T) {
	pub, priv := frameKey(t)
	next := newGatewayKey(t)
	var promoted atomic.Bool
	var acksAfter atomic.Int32
	g := newFakeGW(t, pub, func(c *fakeConn) {
		n := 0
		c.heartbeats(func(f *frame.Frame, _ *frame.Heartbeat) bool {
			if n++; n == 3 {
				c.signer, c.kid = next.signer, next.kid
				promoted.Store(true)
			}
			c.send(ackOf(f))
			if promoted.Load() {
				acksAfter.Add(1)
			}
			return true
		})
	})
	a, _, evs := newTestAgentWith(t, g, priv, func(c *Config) {
		c.GatewayFrameKeys = []GatewayFrameKey{{PublicKeyPEM: g.pubPEM}, {PublicKeyPEM: next.pem}}
	})
	run(t, a)
	waitUntil(t, 20*time.Second, "heartbeats acked under the next key", func() bool { return acksAfter.Load() >= 4 })
	if rej := evs.of(EventGatewayFrameRejected); len(rej) != 0 {
		t.Fatalf("frames refused across the rotation: %+v", rej)
	}
	if st := a.Status(); !st.Connected || st.Misses != 0 {
		t.Fatalf("after the rotation: %+v", st)
	}
}

// TestAttackAckSignedWithAKeyOutsideThePinnedSet: with two gateway keys
// pinned, acks signed with a third key (an attacker's gateway that got a TLS
// certificate, or a retired key no longer pinned) are refused, whether they
// name the attacker's own kid (unknown_key) or a pinned one
// (bad_signature: the key the kid names, never any other, verifies it). They
// count as misses, which stop a driving truck.
func TestAttackAckSignedWithAKeyOutsideThePinnedSet(t *testing.T) {
	pub, priv := frameKey(t)
	pinned, rogue := newGatewayKey(t), newGatewayKey(t)
	g := newFakeGW(t, pub, func(c *fakeConn) {
		n := 0
		c.heartbeats(func(f *frame.Frame, _ *frame.Heartbeat) bool {
			if n++; n == 1 {
				c.send(ackOf(f)) // one honest answer
				return true
			}
			kid := rogue.kid
			if n%2 == 0 {
				kid = pinned.kid
			}
			env, _ := frame.Sign(rogue.signer, kid, &frame.Frame{VehicleID: testVehicle, Epoch: 1, Seq: c.g.seq.Add(1),
				TS: time.Now().UTC().Truncate(time.Millisecond), Body: ackOf(f)})
			c.write(env)
			return true
		})
	})
	a, _, evs := newTestAgentWith(t, g, priv, func(c *Config) {
		c.GatewayFrameKeys = []GatewayFrameKey{{PublicKeyPEM: g.pubPEM}, {PublicKeyPEM: pinned.pem}}
	})
	run(t, a)
	seen := func(r Reason) func() bool {
		return func() bool {
			for _, e := range evs.of(EventGatewayFrameRejected) {
				if e.Reason == r && e.FrameKind == string(frame.KindAck) {
					return true
				}
			}
			return false
		}
	}
	waitUntil(t, 10*time.Second, "an ack under an unpinned kid refused", seen(ReasonUnknownKey))
	waitUntil(t, 10*time.Second, "an ack under a pinned kid, signed by another key, refused", seen(ReasonBadSignature))
	waitUntil(t, 10*time.Second, "two misses in a row", func() bool {
		for _, e := range evs.of(EventHeartbeatMissed) {
			if (e.Reason == ReasonUnknownKey || e.Reason == ReasonBadSignature) && e.Misses >= 2 {
				return true
			}
		}
		return false
	})
}

// TestParseGatewayFrameKeys: the gateway's published file (comment lines,
// then one PEM block per key) gives one pinned key per block, each under
// the kid derived from it; anything else in a block is refused.
func TestParseGatewayFrameKeys(t *testing.T) {
	k1, k2 := newGatewayKey(t), newGatewayKey(t)
	file := "# " + k1.kid + " current\n" + string(k1.pem) + "# " + k2.kid + " next\n" + string(k2.pem)
	keys, err := ParseGatewayFrameKeys([]byte(file))
	if err != nil || len(keys) != 2 || keys[0].KID != k1.kid || keys[1].KID != k2.kid {
		t.Fatalf("parsed %+v, %v", keys, err)
	}
	for name, bad := range map[string]string{
		"empty":       "",
		"no PEM":      "# gw-x current\n",
		"certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}})),
		"not a key":   string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}})),
	} {
		if _, err := ParseGatewayFrameKeys([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestConfigRefusesAKidPinnedTwice: two pinned keys under one kid would
// make the key a frame is verified with depend on their order.
func TestConfigRefusesAKidPinnedTwice(t *testing.T) {
	pub, priv := frameKey(t)
	g := newFakeGW(t, pub, func(*fakeConn) {})
	other := newGatewayKey(t)
	_, err := New(Config{GatewayURL: g.srv.URL, GatewayCAPEM: g.pki.rootPEM, StateDir: t.TempDir(), DisableRenewal: true,
		GatewayFrameKeys: []GatewayFrameKey{{PublicKeyPEM: g.pubPEM}, {KID: g.kid, PublicKeyPEM: other.pem}}},
		Identity{Chain: g.pki.chain, TLSKey: g.pki.tlsKey, FrameKey: priv, FrameKID: "k-test"}, Deps{SafeStater: &testAV{}})
	if err == nil || !strings.Contains(err.Error(), "pinned twice") {
		t.Fatalf("New: %v", err)
	}
}
