package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/ingest"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// sessionKinds are the frame kinds a session passes to the pipeline.
var sessionKinds = []frame.Kind{frame.KindHeartbeat, frame.KindTelemetry}

// conn is one vehicle connection, from the upgrade to its close. Its
// handler goroutine reads and processes messages in order; writes (acks,
// challenges, resumes) are serialized by writeMu, so the gateway's seq
// reaches the vehicle in order.
type conn struct {
	h       *Handler
	ws      *websocket.Conn
	peer    principal.Principal
	remote  string
	id      string
	started time.Time

	spec       atomic.Pointer[closeSpec]
	tracking   atomic.Bool               // inside Tracker.Track
	trackerHit atomic.Pointer[closeSpec] // how the Tracker closed the connection from inside Track
	closeDone  chan struct{}
	timer      *time.Timer

	writeMu sync.Mutex

	// Set by the handshake (handler goroutine), read after.
	kid        string
	helloNonce []byte
	hello      struct{ epoch, seq uint64 }

	mu          sync.Mutex
	established bool
	nonce       []byte    // the challenge sent, awaiting its response
	nonceAt     time.Time // when it was sent
	resumeBy    string    // set: a resume is wanted after the next response
	policy      resumePolicy
	live        LiveSession

	// Command delivery (commands.go): one pass at a time per session.
	cmdRunning, cmdAgain atomic.Bool
	cmdReady             atomic.Bool // ready was sent: commands may follow
	redelivered          bool        // the delivered, unanswered commands were sent again (the pass's own)
}

func newConn(h *Handler, ws *websocket.Conn, peer principal.Principal, remote string) *conn {
	return &conn{h: h, ws: ws, peer: peer, remote: remote, id: event.NewID()[:16], started: h.now(),
		closeDone: make(chan struct{}), policy: newResumePolicy(h.cfg)}
}

// closeSpec is why and how a connection is closed, and what is recorded.
type closeSpec struct {
	status   websocket.StatusCode
	reason   string // the close reason sent: a stable code
	emit     bool   // this package records the event (pki records revocations)
	activity string
	code     string // event code
	verdict  event.Verdict
	sev      event.Severity
	attrs    map[string]any
	live     DisconnectReason
	now      bool // no close handshake: the peer is gone already
}

func handshakeTimeoutClose() *closeSpec {
	return &closeSpec{status: CloseHandshakeTimeout, reason: codes.SessionHandshakeTimeout, emit: true, activity: "session_handshake",
		code: codes.SessionHandshakeTimeout, verdict: event.Reject, sev: event.SeverityMedium, live: DisconnectGateway}
}

// refusedClose refuses a handshake with code. Enrollment and suspension
// refusals (the catalogue's kinds not_enrolled and suspended: an operator
// must act) close with 4005, everything else the vehicle did wrong with
// 4004. The event's severity is the code's (codes.SeverityOf), at least
// medium.
func refusedClose(code, detail string) *closeSpec {
	status := CloseProtocol
	if e, _ := codes.Lookup(code); e.Kind == codes.KindNotEnrolled || e.Kind == codes.KindSuspended {
		status = CloseRefused
	}
	return &closeSpec{status: status, reason: code, emit: true, activity: "session_handshake", code: code,
		verdict: event.Reject, sev: codes.SeverityOf(code, event.SeverityMedium), attrs: map[string]any{"detail": detail}, live: DisconnectGateway}
}

func unavailableClose(code, detail string) *closeSpec {
	return &closeSpec{status: CloseTryAgainLater, reason: code, emit: true, activity: "session", code: code,
		verdict: event.Reject, sev: event.SeverityMedium, attrs: map[string]any{"detail": detail}, live: DisconnectGateway}
}

func protocolClose(reason, detail string) *closeSpec {
	return &closeSpec{status: CloseProtocol, reason: reason, emit: true, activity: "session", code: codes.SessionProtocolViolation,
		verdict: event.Reject, sev: codes.SeverityOf(reason, event.SeverityMedium), attrs: map[string]any{"reason": reason, "detail": detail}, live: DisconnectGateway}
}

func supersededClose(by string) *closeSpec {
	return &closeSpec{status: CloseSuperseded, reason: codes.SessionSuperseded, emit: true, activity: "session", code: codes.SessionSuperseded,
		verdict: event.Info, sev: event.SeverityMedium, attrs: map[string]any{"superseded_by": by}, live: DisconnectGateway}
}

func commLostClose() *closeSpec {
	return &closeSpec{status: CloseCommLost, reason: codes.CommLost, emit: true, activity: "session", code: codes.SessionClosedCommLost,
		verdict: event.Info, sev: event.SeverityMedium, live: DisconnectTransport}
}

func idleClose() *closeSpec {
	return &closeSpec{status: CloseCommLost, reason: codes.ReadTimeout, emit: true, activity: "session", code: codes.SessionClosed,
		verdict: event.Info, sev: event.SeverityLow, attrs: map[string]any{"cause": codes.ReadTimeout}, live: DisconnectTransport}
}

func revokedClose() *closeSpec {
	// pki.ConnTracker records session_closed_revoked itself.
	return &closeSpec{status: CloseRevoked, reason: codes.SessionClosedRevoked, live: DisconnectRevoked}
}

func suspendedClose() *closeSpec {
	// pki.ConnTracker records session_closed_suspended itself.
	return &closeSpec{status: CloseRefused, reason: codes.VehicleSuspended, live: DisconnectSuspended}
}

// suspendedFrameClose closes an established session whose frame the
// pipeline refused because the vehicle is not active. The handshake reads
// the registry through the pipeline's key cache, so a session can be
// established up to ingest.KeyCacheTTL after a suspension, and after
// pki.SuspensionWatch has cut the vehicle's connections off; its first
// frame past the cache ends it as the watch would have (4005
// vehicle_suspended, session_closed_suspended, offline with cause
// suspended).
func suspendedFrameClose() *closeSpec {
	return &closeSpec{status: CloseRefused, reason: codes.VehicleSuspended, emit: true, activity: "session",
		code: codes.SessionClosedSuspended, verdict: event.Info, sev: event.SeverityMedium,
		attrs: map[string]any{"cause": "frame_refused"}, live: DisconnectSuspended}
}

func shutdownClose() *closeSpec {
	return &closeSpec{status: CloseGoingAway, reason: codes.GatewayShutdown, emit: true, activity: "session", code: codes.SessionClosedShutdown,
		verdict: event.Info, sev: event.SeverityInfo, live: DisconnectGateway}
}

func livenessClose(code string) *closeSpec {
	return &closeSpec{status: CloseRefused, reason: code, emit: true, activity: "session", code: code,
		verdict: event.Reject, sev: event.SeverityMedium, live: DisconnectGateway}
}

// peerClose is the spec when the connection ended from the vehicle's side.
func peerClose(err error) *closeSpec {
	s := &closeSpec{emit: true, activity: "session", code: codes.SessionClosed, verdict: event.Info, sev: event.SeverityInfo, now: true}
	switch st := websocket.CloseStatus(err); st {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway:
		s.attrs, s.live = map[string]any{"cause": codes.Goodbye}, DisconnectGoodbye
	default:
		s.attrs, s.live = map[string]any{"cause": "transport"}, DisconnectTransport
		if errors.Is(err, websocket.ErrMessageTooBig) {
			return protocolClose(string(frame.CodeTooLarge), "message over the read limit")
		}
		if st > 0 {
			s.attrs["status"] = int(st)
		}
	}
	return s
}

// close closes the connection for spec, unless it is already closing. It
// does not block: the event and the WebSocket close run on their own
// goroutine (pki.ConnTracker calls it while closing many connections).
func (c *conn) close(spec *closeSpec) bool {
	if !c.spec.CompareAndSwap(nil, spec) {
		return false
	}
	go func() {
		defer close(c.closeDone)
		if spec.emit {
			attrs := map[string]any{"session": c.id, "remote": c.remote}
			for k, v := range spec.attrs {
				attrs[k] = v
			}
			if spec.activity == "session" {
				attrs["duration"] = c.h.now().Sub(c.started)
			}
			c.h.emit(event.Event{Class: event.ClassAuthentication, Activity: spec.activity, Severity: spec.sev,
				Actor: c.peer, Resource: c.peer.String(), Verdict: spec.verdict, Code: spec.code, Attrs: attrs})
		}
		c.h.mCloses.WithLabelValues(nonEmpty(spec.code, spec.reason)).Inc()
		if spec.now {
			c.ws.CloseNow()
		} else {
			c.ws.Close(spec.status, spec.reason)
		}
	}()
	return true
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// trackerClosed is the close function given to the Tracker. The Tracker
// calls it with its reason code when the certificate is revoked, when the
// vehicle is suspended (pki.SuspensionWatch), or from inside Track (a
// revoked or unknown revocation state, which ServeHTTP reports from
// Track's error). The vehicle learns why from the close: 4005
// vehicle_suspended for a suspension, 4003 session_closed_revoked for
// anything else; and the liveness monitor records that, not a comm loss.
// The tracker records the event. It does not block.
func (c *conn) trackerClosed(code string) {
	spec := revokedClose()
	if code == codes.SessionClosedSuspended {
		spec = suspendedClose()
	}
	if c.tracking.Load() {
		c.trackerHit.Store(spec)
		return
	}
	c.close(spec)
}

// wait waits until the connection is closed.
func (c *conn) wait() { <-c.closeDone }

// timeout fires when the handshake or the idle timer expires. The idle
// timer runs Misses intervals (plus idleGrace) after the last message,
// which is past the liveness monitor's deadline: the monitor has declared
// comm loss by then, and the session closes as comm_lost (as read_timeout
// without a monitor).
func (c *conn) timeout() {
	c.mu.Lock()
	est, live := c.established, c.live
	c.mu.Unlock()
	switch {
	case !est:
		c.close(handshakeTimeoutClose())
	case live != nil && c.liveEnded(live):
	default:
		c.close(idleClose())
	}
}

func (c *conn) idle() time.Duration {
	return time.Duration(c.h.cfg.Misses)*c.h.cfg.Interval + idleGrace
}

// liveEnded closes the connection if the liveness monitor has ended its
// session (comm lost, forgotten, or another session), and reports whether
// it had. It does not block. The session is checked on every message and
// when the idle timer fires, instead of by a goroutine per session waiting
// on Done: that goroutine would cost more memory than the whole rest of an
// idle session's state.
func (c *conn) liveEnded(live LiveSession) bool {
	select {
	case <-live.Done():
	default:
		return false
	}
	switch err := live.Err(); {
	case errors.Is(err, ErrLiveCommLost):
		c.close(commLostClose())
	case errors.Is(err, ErrLiveSuperseded):
		c.close(supersededClose(""))
	case errors.Is(err, ErrLiveForgotten):
		c.close(livenessClose(codes.VehicleForgotten))
	default:
		c.close(idleClose())
	}
	return true
}

// run handshakes on the calling goroutine (the HTTP server's) and then
// serves the session on a new goroutine until the connection ends; done
// runs when it has. It returns at once after the handshake: the server's
// goroutine, its stack grown by the TLS and session handshakes, ends, and
// an idle session keeps only a small one.
func (c *conn) run(ctx context.Context, done func()) {
	c.timer = time.AfterFunc(c.h.cfg.HandshakeTimeout, c.timeout)
	if err := c.handshake(ctx); err != nil {
		c.finish(err)
		done()
		return
	}
	go func() {
		defer done()
		c.finish(c.serve(ctx))
	}()
}

// serve reads and processes messages until the connection ends.
func (c *conn) serve(ctx context.Context) error {
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			return err
		}
		c.timer.Reset(c.idle())
		c.mu.Lock()
		live := c.live
		c.mu.Unlock()
		if live != nil && c.liveEnded(live) {
			continue // closing: read until the close completes
		}
		if typ != websocket.MessageText {
			c.close(protocolClose(codes.BinaryMessage, "every message is one envelope, sent as text"))
			continue
		}
		c.handle(ctx, data)
	}
}

// finish runs when the handler goroutine stops reading.
func (c *conn) finish(err error) {
	c.timer.Stop()
	if err != nil {
		c.close(peerClose(err))
	}
	c.wait()
	c.mu.Lock()
	live := c.live
	c.mu.Unlock()
	if live != nil {
		live.Disconnected(c.h.now(), c.spec.Load().live)
	}
}

// errClosed ends the handshake when the connection is closing.
var errClosed = errors.New("session: closed")

// readFrame reads the next message of the handshake.
func (c *conn) readFrame(ctx context.Context) ([]byte, error) {
	typ, data, err := c.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		c.close(refusedClose(codes.BinaryMessage, "every message is one envelope, sent as text"))
		return nil, errClosed
	}
	return data, nil
}

// handshake runs hello → challenge → challenge_response → ready. On a
// refusal it closes the connection (with its event) and returns errClosed;
// a read error is returned for finish.
func (c *conn) handshake(ctx context.Context) error {
	h := c.h
	raw, err := c.readFrame(ctx)
	if err != nil {
		return err
	}
	hello, env, ref := h.verifyVehicleFrame(ctx, c.peer, raw, frame.KindHello, "")
	if ref != nil {
		c.close(ref)
		return errClosed
	}
	c.kid = env.KID
	c.hello.epoch, c.hello.seq = hello.Epoch, hello.Seq
	hb := hello.Body.(*frame.Hello)
	c.helloNonce = hb.Nonce

	nonce, err := h.nonce()
	if err != nil {
		return err
	}
	if err := c.send(&frame.Challenge{Nonce: nonce, PeerNonce: hb.Nonce}); err != nil {
		return err
	}
	raw, err = c.readFrame(ctx)
	if err != nil {
		return err
	}
	resp, _, ref := h.verifyVehicleFrame(ctx, c.peer, raw, frame.KindChallengeResponse, c.kid)
	if ref == nil {
		ref = c.checkResponse(resp, nonce)
	}
	if ref != nil {
		c.close(ref)
		return errClosed
	}

	// The handshake is complete: this session wins over an older one.
	now := h.now()
	prev, ok := h.establish(c)
	if !ok {
		c.close(shutdownClose())
		return errClosed
	}
	if prev != nil {
		prev.close(supersededClose(c.id))
	}
	c.mu.Lock()
	c.established = true
	c.mu.Unlock()
	if h.d.Liveness != nil {
		live, err := h.d.Liveness.Connected(c.peer.ID, now)
		if err != nil {
			c.close(livenessClose(codes.LivenessVehicleLimit))
			return errClosed
		}
		c.mu.Lock()
		c.live = live
		c.mu.Unlock()
		if hb.State == frame.StateSafeState {
			_ = live.SafeState(now)
		}
	}
	c.timer.Reset(c.idle())
	h.emit(event.Event{Class: event.ClassAuthentication, Activity: "session", Severity: event.SeverityInfo,
		Actor: c.peer, Resource: c.peer.String(), Verdict: event.Accept, Code: codes.SessionEstablished,
		Attrs: map[string]any{"session": c.id, "remote": c.remote, "kid": c.kid, "state": string(hb.State),
			"superseded": prev != nil}})
	if err := c.send(&frame.Ready{Nonce: nonce}); err != nil {
		return err
	}
	if h.commandsOn() {
		// A fresh challenge-response on this session came just before:
		// high-risk commands may go out on it. No command is written
		// before ready (kickDelivery waits for cmdReady).
		c.cmdReady.Store(true)
		c.kickDelivery()
	}
	return nil
}

// checkResponse checks a verified challenge_response against the nonce it
// must sign and the hello before it.
func (c *conn) checkResponse(f *frame.Frame, nonce []byte) *closeSpec {
	if !frame.EqualNonce(f.Body.(*frame.ChallengeResponse).Nonce, nonce) {
		return refusedClose(codes.NonceMismatch, "the challenge_response does not sign the challenge nonce")
	}
	if f.Epoch < c.hello.epoch || (f.Epoch == c.hello.epoch && f.Seq <= c.hello.seq) {
		return refusedClose(codes.StaleCounter, "the challenge_response is not newer than the hello")
	}
	return nil
}

// send signs body for the vehicle and writes it.
func (c *conn) send(body frame.Body) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	env, err := c.h.sign(c.peer.ID, body)
	if err != nil {
		return err // the gateway key failed its self-check: internal
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.h.cfg.WriteTimeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, env)
}

// handle processes one message of an established session.
func (c *conn) handle(ctx context.Context, raw []byte) {
	env, err := frame.ParseEnvelope(raw)
	if err != nil {
		c.close(protocolClose(string(frame.CodeOf(err)), err.Error()))
		return
	}
	// Decoded only to route it: nothing in it is trusted until the
	// pipeline (or the challenge check) has verified the signature.
	f, err := env.DecodeFrame()
	if err != nil {
		c.close(protocolClose(string(frame.CodeOf(err)), err.Error()))
		return
	}
	if f.VehicleID != c.peer.ID {
		c.close(protocolClose(codes.VehicleMismatch, "vehicle_id does not match the client certificate"))
		return
	}
	switch f.Kind() {
	case frame.KindHeartbeat, frame.KindTelemetry:
		c.handleFrame(ctx, env, f)
	case frame.KindChallengeResponse:
		c.handleResponse(ctx, raw)
	case frame.KindCommandAck:
		if !c.h.commandsOn() {
			c.close(protocolClose(codes.UnexpectedKind, "this gateway sends no commands"))
			return
		}
		c.handleCommandAck(ctx, env, f)
	case frame.KindStopEvent:
		if c.h.d.Stops == nil {
			c.close(protocolClose(codes.UnexpectedKind, "this gateway takes no stop events"))
			return
		}
		c.handleStopEvent(ctx, env, f)
	default:
		c.close(protocolClose(codes.UnexpectedKind, "a "+string(f.Kind())+" frame is not expected on the session"))
	}
}

// handleFrame runs a heartbeat or telemetry frame through the pipeline and
// answers ack (accepted, durable) or nack (refused, with its code).
func (c *conn) handleFrame(ctx context.Context, env *frame.Envelope, f *frame.Frame) {
	h := c.h
	start := time.Now()
	measured := true
	defer func() {
		d := time.Since(start)
		h.mFrame.WithLabelValues(string(f.Kind())).Observe(d.Seconds())
		if measured {
			h.noteLatency(d)
		}
	}()
	nack := func(code string) { _ = c.send(&frame.Nack{AckEpoch: f.Epoch, AckSeq: f.Seq, Reason: code}) }
	giveBack := func() {}
	if h.d.Limiter != nil {
		var ok bool
		if ok, _, giveBack = h.d.Limiter.TakeN(c.peer.ID, 1); !ok {
			h.emit(event.Event{Class: event.ClassAPI, Activity: "session_frame", Severity: event.SeverityMedium,
				Actor: c.peer, Resource: c.peer.String(), Verdict: event.Reject, Code: codes.RateLimited,
				Attrs: map[string]any{"session": c.id, "kind": string(f.Kind()), "epoch": f.Epoch, "seq": f.Seq}})
			nack(codes.RateLimited)
			return
		}
	}
	// The frame was parsed and decoded to route it: the pipeline checks
	// it as it is, without parsing it again.
	r, err := h.d.Pipeline.ProcessParsed(ctx, c.peer, ingest.Live, sessionKinds, env, f)
	if errors.Is(err, ingest.ErrBusy) {
		// Telemetry yields (a heartbeat never gets this): the frame was
		// not looked at, so it spends none of the vehicle's budget, and its
		// quick answer says nothing of how fast the gateway answers the
		// frames it takes (the overload signal). The pipeline recorded the
		// refusal, per vehicle and window. The vehicle sends the telemetry
		// again later.
		measured = false
		giveBack()
		nack(codes.GatewayBusy)
		return
	}
	if err != nil {
		// Nothing was decided, nothing acknowledged: the vehicle retries
		// (telemetry) or counts a miss (heartbeat).
		h.log.Warn("session frame not processed", "vehicle", c.peer.ID, "err", err)
		nack(codes.StoreUnavailable)
		return
	}
	if r.Verdict != ingest.Accepted {
		nack(r.Code)
		if r.Code == codes.VehicleSuspended {
			c.close(suspendedFrameClose())
		}
		return
	}
	if err := c.send(&frame.Ack{AckEpoch: f.Epoch, AckSeq: f.Seq}); err != nil || r.Duplicate {
		return // a re-send proves nothing about the link now
	}
	now := h.now()
	c.mu.Lock()
	live := c.live
	c.mu.Unlock()
	switch b := f.Body.(type) {
	case *frame.Heartbeat:
		if live != nil && live.Heartbeat(now, string(b.State)) != nil {
			c.liveEnded(live)
			return
		}
		c.mu.Lock()
		challenge := c.policy.heartbeat(now, b.State)
		if challenge && c.resumeBy == "" {
			c.resumeBy = "policy"
		}
		c.mu.Unlock()
		if challenge {
			_ = c.challenge()
		}
	case *frame.Telemetry:
		if live != nil && b.State == frame.StateSafeState {
			_ = live.SafeState(now)
		}
	}
}

// challenge sends a fresh challenge; the next valid response gets a resume
// if one is wanted. While a challenge is outstanding (for less than the
// handshake timeout) no second one is sent: its answer serves both.
func (c *conn) challenge() error {
	nonce, err := c.h.nonce()
	if err != nil {
		return err
	}
	now := c.h.now()
	c.mu.Lock()
	if c.nonce != nil && now.Sub(c.nonceAt) < c.h.cfg.HandshakeTimeout {
		c.mu.Unlock()
		return nil
	}
	c.nonce, c.nonceAt = nonce, now
	c.mu.Unlock()
	return c.send(&frame.Challenge{Nonce: nonce, PeerNonce: c.helloNonce})
}

// handleResponse verifies a challenge_response on an established session
// and sends the resume it was asked for.
func (c *conn) handleResponse(ctx context.Context, raw []byte) {
	h := c.h
	c.mu.Lock()
	nonce, by := c.nonce, c.resumeBy
	c.mu.Unlock()
	if nonce == nil {
		c.close(protocolClose(codes.UnexpectedKind, "no challenge is outstanding"))
		return
	}
	f, _, ref := h.verifyVehicleFrame(ctx, c.peer, raw, frame.KindChallengeResponse, c.kid)
	if ref != nil {
		if ref.status == CloseTryAgainLater {
			c.close(ref)
			return
		}
		c.close(protocolClose(ref.reason, "challenge_response refused"))
		return
	}
	if !frame.EqualNonce(f.Body.(*frame.ChallengeResponse).Nonce, nonce) {
		c.close(protocolClose(codes.NonceMismatch, "the challenge_response does not sign the challenge nonce"))
		return
	}
	c.mu.Lock()
	c.nonce, c.resumeBy = nil, ""
	c.mu.Unlock()
	if by == "" {
		return
	}
	if err := c.send(&frame.Resume{Nonce: nonce}); err != nil {
		return
	}
	h.emit(event.Event{Class: event.ClassLiveness, Activity: "resume", Severity: event.SeverityMedium,
		Actor: principal.Principal{Kind: principal.System, ID: "session"}, Resource: c.peer.String(),
		Verdict: event.Info, Code: codes.SessionResumeSent, Attrs: map[string]any{"session": c.id, "by": by}})
}

// requestResume asks for a resume after a fresh challenge.
func (c *conn) requestResume(by principal.Principal) error {
	c.mu.Lock()
	c.resumeBy = by.String()
	if c.resumeBy == "" {
		c.resumeBy = "operator"
	}
	c.mu.Unlock()
	return c.challenge()
}
