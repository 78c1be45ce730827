package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
)

// cmdGW is a fake gateway that answers heartbeats, resumes the truck once
// it is supervised, sends commands the test hands it and collects the
// truck's command answers.
type cmdGW struct {
	*fakeGW
	out  chan func(c *fakeConn) []byte // builds the next message to send (signed when it is sent)
	acks chan *frame.CommandAck
	n    atomic.Int64 // cmd_seq source
}

func newCmdGW(t *testing.T, pub ed25519.PublicKey) *cmdGW {
	cg := &cmdGW{out: make(chan func(*fakeConn) []byte, 16), acks: make(chan *frame.CommandAck, 16)}
	cg.fakeGW = newFakeGW(t, pub, func(c *fakeConn) {
		done := make(chan struct{})
		defer close(done)
		started := false
		n := 0
		c.frames(func(f *frame.Frame) bool {
			switch b := f.Body.(type) {
			case *frame.Heartbeat:
				c.send(ackOf(f))
				n++
				if n == 2 && b.State == frame.StateSafeState {
					c.send(&frame.Resume{Nonce: c.nonce})
				}
				if !started { // commands go out once the session carries heartbeats
					started = true
					go func() {
						for {
							select {
							case mk := <-cg.out:
								c.sendWith(func() []byte { return mk(c) })
							case <-done:
								return
							}
						}
					}()
				}
			case *frame.CommandAck:
				cg.acks <- b
			}
			return true
		})
	})
	return cg
}

// command builds a dispatch for the test vehicle with the next cmd_seq,
// expiring in a minute; edit may change it before it is signed.
func (cg *cmdGW) command(edit func(f *frame.Frame, c *frame.Command)) (*frame.Frame, *frame.Command) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	nonce := make([]byte, 16)
	rand.Read(nonce)
	seq := uint64(cg.n.Add(1))
	c := &frame.Command{CommandID: "cmd-" + hex.EncodeToString(nonce[:4]), CommandType: frame.CommandDispatch, CmdSeq: seq,
		Nonce: nonce, IssuedAt: now, ExpiresAt: now.Add(time.Minute), Risk: frame.RiskHigh,
		Payload: frame.CommandPayload{TenderID: "T-1",
			Stops: []frame.Stop{{Seq: 1, Type: frame.StopPickup, Facility: "Joliet DC", Lat: 41.5, Lon: -88.1, TZ: "America/Chicago",
				WindowStart: now.Add(time.Hour), WindowEnd: now.Add(2 * time.Hour)}},
			Waypoints: []frame.Waypoint{{Seq: 1, Lat: 41.5, Lon: -88.1}, {Seq: 2, Lat: 39.8, Lon: -89.6, Name: "Springfield hub", Handoff: true}}}}
	f := &frame.Frame{VehicleID: testVehicle, Epoch: 1, Body: c}
	if edit != nil {
		edit(f, c)
	}
	return f, c
}

// signed returns a builder that signs f with the gateway's command key
// under a fresh gateway seq, when it is sent.
func (cg *cmdGW) signed(f *frame.Frame) func(c *fakeConn) []byte {
	return cg.signedWith(f, cg.cmdSigner, cg.cmdKID)
}

func (cg *cmdGW) signedWith(f *frame.Frame, s frame.Signer, kid string) func(c *fakeConn) []byte {
	return func(c *fakeConn) []byte {
		g := *f
		g.Seq, g.TS = cg.seq.Add(1), time.Now().UTC().Truncate(time.Millisecond)
		env, err := frame.Sign(s, kid, &g)
		if err != nil {
			panic(err)
		}
		return env
	}
}

func (cg *cmdGW) ack(t *testing.T) *frame.CommandAck {
	t.Helper()
	select {
	case a := <-cg.acks:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no command answer")
		return nil
	}
}

func (cg *cmdGW) noAck(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case a := <-cg.acks:
		t.Fatalf("unexpected command answer %+v", a)
	case <-time.After(d):
	}
}

// testHandler counts calls and answers with answer (accept when zero).
type testHandler struct {
	mu     sync.Mutex
	calls  []Command
	answer Answer
	block  chan struct{} // if set, HandleCommand waits for it to close
	called chan struct{} // if set, closed at the first call
}

func (h *testHandler) HandleCommand(_ context.Context, c Command) Answer {
	h.mu.Lock()
	h.calls = append(h.calls, c)
	if h.called != nil && len(h.calls) == 1 {
		close(h.called)
	}
	ans, block := h.answer, h.block
	h.mu.Unlock()
	if block != nil {
		<-block
	}
	if ans.Verdict == "" {
		return Accept()
	}
	return ans
}

func (h *testHandler) n() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.calls)
}

// driving starts the agent and waits until the gateway resumed it.
func driving(t *testing.T, a *Agent) {
	t.Helper()
	run(t, a)
	waitUntil(t, 10*time.Second, "the truck driving", func() bool { return a.Mode() == ModeDriving })
}

func wantRejected(t *testing.T, ack *frame.CommandAck, c *frame.Command, reason string) {
	t.Helper()
	if ack.Verdict != frame.VerdictRejected || ack.Reason != reason || ack.CommandID != c.CommandID || ack.CmdSeq != c.CmdSeq {
		t.Fatalf("answer %+v, want rejected %s for %s/%d", ack, reason, c.CommandID, c.CmdSeq)
	}
}

// wantSafeState: the truck started its minimal-risk maneuver and the
// operator event names why.
func wantSafeState(t *testing.T, a *Agent, av *testAV, evs *events, why Reason) {
	t.Helper()
	waitUntil(t, 10*time.Second, "the truck stopping", func() bool {
		av.mu.Lock()
		defer av.mu.Unlock()
		return av.stops > 0
	})
	if m := a.Mode(); m != ModeStopping && m != ModeSafeState {
		t.Fatalf("mode %v", m)
	}
	for _, e := range evs.of(EventCommandRefused) {
		if e.Reason == why {
			return
		}
	}
	t.Fatalf("no command_refused event for %s: %+v", why, evs.of(EventCommandRefused))
}

// TestCommandAccepted: the happy path. A verified dispatch reaches the
// handler once, typed; its answer is recorded and sent signed; the truck
// keeps driving.
func TestCommandAccepted(t *testing.T) {
	pub, priv := frameKey(t)
	cg := newCmdGW(t, pub)
	h := &testHandler{}
	a, av, evs := newTestAgentHandling(t, cg.fakeGW, priv, nil, h)
	driving(t, a)
	f, c := cg.command(nil)
	cg.out <- cg.signed(f)
	ack := cg.ack(t)
	if ack.Verdict != frame.VerdictAccepted || ack.Reason != "" || ack.CommandID != c.CommandID || ack.CmdSeq != c.CmdSeq {
		t.Fatalf("answer %+v", ack)
	}
	if h.n() != 1 || h.calls[0].Type != frame.CommandDispatch || len(h.calls[0].Payload.Waypoints) != 2 ||
		!h.calls[0].Payload.Waypoints[1].Handoff || h.calls[0].Seq != c.CmdSeq {
		t.Fatalf("handler calls %+v", h.calls)
	}
	if a.Mode() != ModeDriving || av.stops != 0 || len(evs.of(EventCommandAnswered)) != 1 {
		t.Fatalf("mode %v, stops %d, events %+v", a.Mode(), av.stops, evs.of(EventCommandAnswered))
	}
}

// TestCommandBusinessRejectionKeepsDriving: the handler declines (an
// infeasible route): the rejection is answered with its reason and
// detail, and the truck keeps driving.
func TestCommandBusinessRejectionKeepsDriving(t *testing.T) {
	pub, priv := frameKey(t)
	cg := newCmdGW(t, pub)
	h := &testHandler{answer: Reject(codes.CommandInfeasible, "bridge clearance 4.0 m")}
	a, av, evs := newTestAgentHandling(t, cg.fakeGW, priv, nil, h)
	driving(t, a)
	f, c := cg.command(nil)
	cg.out <- cg.signed(f)
	ack := cg.ack(t)
	wantRejected(t, ack, c, codes.CommandInfeasible)
	if ack.Detail != "bridge clearance 4.0 m" {
		t.Fatalf("detail %q", ack.Detail)
	}
	time.Sleep(200 * time.Millisecond)
	if a.Mode() != ModeDriving || av.stops != 0 || len(evs.of(EventCommandRefused)) != 0 {
		t.Fatalf("a business rejection stopped the truck: mode %v, stops %d", a.Mode(), av.stops)
	}
}

// TestAttackReplayedCommandEnvelope: the exact bytes of an answered
// command, sent again on the session, are refused as a replay (gateway
// frame order): no second answer, no second execution, and — an
// authenticity failure inside the session — the operator event and the
// safe state.
func TestAttackReplayedCommandEnvelope(t *testing.T) {
	pub, priv := frameKey(t)
	cg := newCmdGW(t, pub)
	h := &testHandler{}
	a, av, evs := newTestAgentHandling(t, cg.fakeGW, priv, nil, h)
	driving(t, a)
	f, _ := cg.command(nil)
	var env []byte
	sign := cg.signed(f)
	cg.out <- func(c *fakeConn) []byte { env = sign(c); return env }
	cg.ack(t)
	cg.out <- func(*fakeConn) []byte { return env }
	wantSafeState(t, a, av, evs, ReasonReplayed)
	cg.noAck(t, 300*time.Millisecond)
	if h.n() != 1 || len(evs.of(EventCommandRedelivered)) != 0 {
		t.Fatalf("handler called %d times, redelivered %d", h.n(), len(evs.of(EventCommandRedelivered)))
	}
}

// TestCommandRedeliveredAnsweredAgain: the gateway signs an answered
// command again (new epoch, seq, ts): the same answer, not a second run.
func TestCommandRedeliveredAnsweredAgain(t *testing.T) {
	pub, priv := frameKey(t)
	cg := newCmdGW(t, pub)
	h := &testHandler{answer: Reject(codes.CommandInfeasible, "")}
	a, av, evs := newTestAgentHandling(t, cg.fakeGW, priv, nil, h)
	driving(t, a)
	f, c := cg.command(nil)
	cg.out <- cg.signed(f)
	first := cg.ack(t)
	h.mu.Lock()
	h.answer = Accept() // a second run would answer otherwise
	h.mu.Unlock()
	g := *f
	g.Epoch = 2
	cg.out <- cg.signed(&g)
	second := cg.ack(t)
	if *second != *first || h.n() != 1 {
		t.Fatalf("answers %+v then %+v, handler called %d times", first, second, h.n())
	}
	wantRejected(t, second, c, codes.CommandInfeasible)
	// Events reach OnEvent from the agent's event loop, after the answer
	// may have gone out: wait for the report.
	waitUntil(t, 5*time.Second, "the redelivery reported", func() bool { return len(evs.of(EventCommandRedelivered)) == 1 })
	av.mu.Lock()
	stops := av.stops
	av.mu.Unlock()
	if n := len(evs.of(EventCommandRedelivered)); n != 1 || stops != 0 {
		t.Fatalf("%d redelivery reports and %d stops, want 1 and 0", n, stops)
	}
}

// TestAttackCommandForAnotherVehicle: a command signed by the gateway's
// command key for truck-2, delivered to truck-1: refused, answered
// command_wrong_vehicle, the operator told and the truck stopped.
func TestAttackCommandForAnotherVehicle(t *testing.T) {
	pub, priv := frameKey(t)
	cg := newCmdGW(t, pub)
	h := &testHandler{}
	a, av, evs := newTestAgentHandling(t, cg.fakeGW, priv, nil, h)
	driving(t, a)
	f, c := cg.command(func(f *frame.Frame, _ *frame.Command) { f.VehicleID = "truck-2" })
	cg.out <- cg.signed(f)
	wantRejected(t, cg.ack(t), c, codes.CommandWrongVehicle)
	wantSafeState(t, a, av, evs, ReasonWrongVehicle)
	if h.n() != 0 {
		t.Fatal("the handler ran another truck's command")
	}
}

// TestAttackTamperedCommandPayload: a signed command whose payload was
// changed on the way (a waypoint moved): bad_signature, not run, stopped.
func TestAttackTamperedCommandPayload(t *testing.T) {
	pub, priv := frameKey(t)
	cg := newCmdGW(t, pub)
	h := &testHandler{}
	a, av, evs := newTestAgentHandling(t, cg.fakeGW, priv, nil, h)
	driving(t, a)
	f, c := cg.command(nil)
	sign := cg.signed(f)
	cg.out <- func(conn *fakeConn) []byte {
		env := sign(conn)
		out := bytes.Replace(env, []byte(`"lat":39.8`), []byte(`"lat":38.8`), 1)
		if bytes.Equal(out, env) {
			panic("nothing tampered")
		}
		return out
	}
	wantRejected(t, cg.ack(t), c, string(frame.CodeBadSignature))
	wantSafeState(t, a, av, evs, ReasonBadSignature)
	if h.n() != 0 {
		t.Fatal("the handler ran a tampered command")
	}
}

// TestAttackUnpinnedCommandKey: commands signed by a key that is not a
// pinned command key are refused and stop the truck: a stranger's key,
// and the gateway's own frame key (purpose separation), under its own kid
// or under the command key's.
func TestAttackUnpinnedCommandKey(t *testing.T) {
	_, rogue, _ := ed25519.GenerateKey(rand.Reader)
	rogueSigner, _ := frame.NewEd25519Signer(rogue)
	for _, tc := range []struct {
		name string
		key  func(cg *cmdGW) (frame.Signer, string)
		code string
		why  Reason
	}{
		{"stranger's key", func(*cmdGW) (frame.Signer, string) { return rogueSigner, frame.CommandKIDPrefix + "rogue" }, string(frame.CodeUnknownKID), ReasonUnknownKey},
		{"gateway frame key under its kid", func(cg *cmdGW) (frame.Signer, string) { return cg.signer, cg.kid }, string(frame.CodeUnknownKID), ReasonUnknownKey},
		{"gateway frame key under the command kid", func(cg *cmdGW) (frame.Signer, string) { return cg.signer, cg.cmdKID }, string(frame.CodeBadSignature), ReasonBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pub, priv := frameKey(t)
			cg := newCmdGW(t, pub)
			h := &testHandler{}
			a, av, evs := newTestAgentHandling(t, cg.fakeGW, priv, nil, h)
			driving(t, a)
			f, c := cg.command(nil)
			s, kid := tc.key(cg)
			cg.out <- cg.signedWith(f, s, kid)
			wantRejected(t, cg.ack(t), c, tc.code)
			wantSafeState(t, a, av, evs, tc.why)
			if h.n() != 0 {
				t.Fatal("the handler ran a command signed by an unpinned key")
			}
		})
	}
}

// TestAttackRolledBackCmdSeq: after cmd_seq 5 is answered, a new command
// with cmd_seq 3 (a rolled-back counter) is refused, and so is another
// command under the answered cmd_seq 5: not run, the truck stopped.
func TestAttackRolledBackCmdSeq(t *testing.T) {
	for _, tc := range []struct {
		name   string
		seq    uint64
		code   string
		why    Reason
		sameID bool
	}{
		{"lower cmd_seq", 3, codes.CommandSeqRollback, ReasonCommandSeqRollback, false},
		{"answered cmd_seq, other command", 5, codes.CommandConflict, ReasonCommandConflict, false},
		{"answered command_id, other cmd_seq", 6, codes.CommandConflict, ReasonCommandConflict, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pub, priv := frameKey(t)
			cg := newCmdGW(t, pub)
			h := &testHandler{}
			a, av, evs := newTestAgentHandling(t, cg.fakeGW, priv, nil, h)
			driving(t, a)
			f, first := cg.command(func(_ *frame.Frame, c *frame.Command) { c.CmdSeq = 5 })
			cg.out <- cg.signed(f)
			if ack := cg.ack(t); ack.Verdict != frame.VerdictAccepted {
				t.Fatalf("first command: %+v", ack)
			}
			g, c := cg.command(func(_ *frame.Frame, c *frame.Command) {
				c.CmdSeq = tc.seq
				if tc.sameID {
					c.CommandID = first.CommandID
				}
			})
			cg.out <- cg.signed(g)
			wantRejected(t, cg.ack(t), c, tc.code)
			wantSafeState(t, a, av, evs, tc.why)
			if h.n() != 1 {
				t.Fatalf("handler called %d times", h.n())
			}
		})
	}
}

// TestAttackExpiredCommand: a command whose expiry passed (held back
// during a blackout and delivered late) is not run: rejected
// command_expired, beyond the tolerance only. Not an authenticity failure:
// the truck keeps driving.
func TestAttackExpiredCommand(t *testing.T) {
	pub, priv := frameKey(t)
	cg := newCmdGW(t, pub)
	h := &testHandler{}
	a, av, evs := newTestAgentHandling(t, cg.fakeGW, priv, nil, h)
	driving(t, a)
	f, c := cg.command(func(_ *frame.Frame, c *frame.Command) {
		c.IssuedAt = c.IssuedAt.Add(-10 * time.Minute)
		c.ExpiresAt = time.Now().UTC().Truncate(time.Millisecond).Add(-DefaultCommandExpiryTolerance - time.Second)
	})
	cg.out <- cg.signed(f)
	wantRejected(t, cg.ack(t), c, codes.CommandExpired)
	// Within the tolerance, it still runs.
	f2, _ := cg.command(func(_ *frame.Frame, c *frame.Command) {
		c.IssuedAt = c.IssuedAt.Add(-10 * time.Minute)
		c.ExpiresAt = time.Now().UTC().Truncate(time.Millisecond).Add(-DefaultCommandExpiryTolerance / 2)
	})
	cg.out <- cg.signed(f2)
	if ack := cg.ack(t); ack.Verdict != frame.VerdictAccepted {
		t.Fatalf("a command within the tolerance: %+v", ack)
	}
	if h.n() != 1 || a.Mode() != ModeDriving || av.stops != 0 || len(evs.of(EventCommandRefused)) != 0 {
		t.Fatalf("handler %d, mode %v, stops %d", h.n(), a.Mode(), av.stops)
	}
}

// TestAttackAgentRestartedBetweenExecutionAndAnswer: the handler runs,
// the link and then the agent go down before the answer reaches the
// gateway; the restarted agent (same state directory) answers the
// redelivered command with the recorded answer and never runs it again.
func TestAttackAgentRestartedBetweenExecutionAndAnswer(t *testing.T) {
	pub, priv := frameKey(t)
	cg := newCmdGW(t, pub)
	dir := t.TempDir()
	h := &testHandler{block: make(chan struct{}), called: make(chan struct{})}
	mod := func(c *Config) { c.StateDir = dir }
	a1, _, _ := newTestAgentHandling(t, cg.fakeGW, priv, mod, h)
	ctx1, stop1 := context.WithCancel(context.Background())
	done1 := make(chan struct{})
	go func() { a1.Run(ctx1); close(done1) }()
	defer func() { stop1(); <-done1 }()
	waitUntil(t, 10*time.Second, "the truck driving", func() bool { return a1.Mode() == ModeDriving })

	f, c := cg.command(nil)
	cg.out <- cg.signed(f)
	<-h.called
	stop1() // the agent goes down while the handler runs...
	waitUntil(t, 10*time.Second, "the session gone", func() bool { return !a1.Status().Connected })
	close(h.block)
	<-done1 // ...and its answer is recorded, not sent
	cg.noAck(t, 200*time.Millisecond)
	if h.n() != 1 {
		t.Fatalf("handler called %d times", h.n())
	}

	a2, _, evs := newTestAgentHandling(t, cg.fakeGW, priv, mod, h)
	driving(t, a2)
	cg.out <- cg.signed(f) // the gateway redelivers, signed anew
	ack := cg.ack(t)
	if ack.Verdict != frame.VerdictAccepted || ack.CommandID != c.CommandID || ack.CmdSeq != c.CmdSeq {
		t.Fatalf("answer after restart %+v", ack)
	}
	if h.n() != 1 || len(evs.of(EventCommandRedelivered)) != 1 {
		t.Fatalf("handler called %d times after the restart", h.n())
	}
}

// TestCommandInterruptedNotRunAgain: crash window 2. The log says the
// handler was running when the agent stopped: the redelivered command is
// answered command_interrupted and never run again.
func TestCommandInterruptedNotRunAgain(t *testing.T) {
	pub, priv := frameKey(t)
	cg := newCmdGW(t, pub)
	dir := t.TempDir()
	f, c := cg.command(nil)
	digest, _ := frame.CommandDigest(f)
	l, err := openCommandLog(dir, testVehicle)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.record(logEntry{CmdSeq: c.CmdSeq, CommandID: c.CommandID, Digest: hex.EncodeToString(digest[:]), ExpiresAt: c.ExpiresAt, State: logExecuting}, time.Now()); err != nil {
		t.Fatal(err)
	}
	h := &testHandler{}
	a, av, _ := newTestAgentHandling(t, cg.fakeGW, priv, func(c *Config) { c.StateDir = dir }, h)
	driving(t, a)
	cg.out <- cg.signed(f)
	wantRejected(t, cg.ack(t), c, codes.CommandInterrupted)
	cg.out <- cg.signed(f)
	wantRejected(t, cg.ack(t), c, codes.CommandInterrupted)
	if h.n() != 0 || av.stops != 0 {
		t.Fatalf("handler called %d times, stops %d", h.n(), av.stops)
	}
}

// TestCommandAttackSafeStateConfigurable: with the safe-state reaction
// turned off, a refused command still raises the operator event and is
// answered, and the truck keeps driving.
func TestCommandAttackSafeStateConfigurable(t *testing.T) {
	pub, priv := frameKey(t)
	cg := newCmdGW(t, pub)
	a, av, evs := newTestAgentHandling(t, cg.fakeGW, priv, func(c *Config) { c.NoSafeStateOnCommandAttack = true }, &testHandler{})
	driving(t, a)
	f, c := cg.command(func(f *frame.Frame, _ *frame.Command) { f.VehicleID = "truck-2" })
	cg.out <- cg.signed(f)
	wantRejected(t, cg.ack(t), c, codes.CommandWrongVehicle)
	waitUntil(t, 5*time.Second, "the operator event", func() bool { return len(evs.of(EventCommandRefused)) == 1 })
	if a.Mode() != ModeDriving || av.stops != 0 {
		t.Fatalf("mode %v, stops %d", a.Mode(), av.stops)
	}
}

// TestCommandKeyConfig: a command key must not be a pinned frame key, and
// its kid is derived with the gc- prefix.
func TestCommandKeyConfig(t *testing.T) {
	pub, priv := frameKey(t)
	cg := newCmdGW(t, pub)
	kid, _ := GatewayCommandKeyID(cg.cmdPubPEM)
	if kid[:3] != frame.CommandKIDPrefix || kid != cg.cmdKID {
		t.Fatalf("kid %q", kid)
	}
	keys, err := ParseGatewayCommandKeys(append([]byte("# comment\n"), cg.cmdPubPEM...))
	if err != nil || len(keys) != 1 || keys[0].KID != kid {
		t.Fatalf("%v %+v", err, keys)
	}
	cfg := Config{GatewayURL: cg.srv.URL, GatewayCAPEM: cg.pki.rootPEM, StateDir: t.TempDir(),
		GatewayFrameKeys:   []GatewayFrameKey{{PublicKeyPEM: cg.pubPEM}},
		GatewayCommandKeys: []GatewayCommandKey{{PublicKeyPEM: cg.pubPEM}}}
	if _, err := New(cfg, Identity{Chain: cg.pki.chain, TLSKey: cg.pki.tlsKey, FrameKey: priv, FrameKID: "k"}, Deps{SafeStater: &testAV{}}); err == nil {
		t.Fatal("the frame key was accepted as a command key")
	}
}

type panicHandler struct{}

func (panicHandler) HandleCommand(context.Context, Command) Answer { panic("boom") }

type answerHandler Answer

func (h answerHandler) HandleCommand(context.Context, Command) Answer { return Answer(h) }

// TestCommandHandlerFailures: no handler, a panicking handler and an
// answer that cannot go on the wire are each a recorded rejection; the
// truck keeps driving.
func TestCommandHandlerFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    CommandHandler
		code string
	}{
		{"no handler", nil, codes.CommandUnsupported},
		{"panic", panicHandler{}, codes.CommandHandlerError},
		{"rejection without a reason", answerHandler(Reject("", "")), codes.CommandHandlerError},
		{"detail with a control character", answerHandler(Reject(codes.CommandInfeasible, "a\nb")), codes.CommandHandlerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pub, priv := frameKey(t)
			cg := newCmdGW(t, pub)
			a, av, _ := newTestAgentHandling(t, cg.fakeGW, priv, nil, tc.h)
			driving(t, a)
			f, c := cg.command(nil)
			cg.out <- cg.signed(f)
			wantRejected(t, cg.ack(t), c, tc.code)
			if a.Mode() != ModeDriving || av.stops != 0 {
				t.Fatalf("mode %v", a.Mode())
			}
		})
	}
}

// TestCommandLogRefusesWhatItCannotRead: a corrupt log, or another
// vehicle's, stops New: never guessed around.
func TestCommandLogRefusesWhatItCannotRead(t *testing.T) {
	dir := t.TempDir()
	l, err := openCommandLog(dir, testVehicle)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.record(logEntry{CmdSeq: 3, CommandID: "c", Digest: "00", State: logAnswered, Verdict: frame.VerdictAccepted, ExpiresAt: time.Now()}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if l2, err := openCommandLog(dir, testVehicle); err != nil || l2.last != 3 || len(l2.entries) != 1 {
		t.Fatalf("reopen: %v", err)
	}
	if _, err := openCommandLog(dir, "truck-2"); err == nil {
		t.Fatal("another vehicle's log opened")
	}
	path := dir + "/" + CommandLogFile
	b, _ := os.ReadFile(path)
	for _, bad := range [][]byte{b[:len(b)-1], bytes.Replace(b, []byte(`"v":1`), []byte(`"v":1,"x":1`), 1),
		bytes.Replace(b, []byte(`"last_cmd_seq":3`), []byte(`"last_cmd_seq":2`), 1)} {
		os.WriteFile(path, bad, 0o600)
		if _, err := openCommandLog(dir, testVehicle); err == nil {
			t.Fatalf("a corrupt log opened: %s", bad)
		}
	}
}
