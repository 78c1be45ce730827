package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
)

// session is one WebSocket session with the gateway. Its writer goroutine
// is the only one that signs and writes, so frames reach the gateway in
// seq order; its reader goroutine verifies what the gateway sends.
type session struct {
	a      *Agent
	conn   *websocket.Conn
	gw     gatewayFrames // reader (and handshake) only
	hello  []byte        // the hello nonce of this connection
	wakeCh chan struct{}

	mu         sync.Mutex
	hbWanted   bool
	challenges [][]byte            // challenge nonces to answer
	cmdAcks    []*frame.CommandAck // command answers to sign and send
	retryAt    time.Time
	backoff    time.Duration
	// The seq of the newest frame written on the session that the
	// gateway's counter decides (heartbeat, telemetry, stop event, command
	// answer; not the handshake's nor a challenge_response), and the
	// newest of them the gateway answered. The gateway decides a session's
	// frames in order, so an answer to seq n settles every frame up to n
	// (a command answer, which gets none, is settled by the next answer).
	// See settled.
	wroteSeq, answeredSeq uint64

	closing atomic.Bool // the agent is saying goodbye: errors from here on are expected
}

// wrote records that a frame under seq, decided by the gateway's counter,
// was written on the session.
func (s *session) wrote(seq uint64) {
	s.mu.Lock()
	s.wroteSeq = max(s.wroteSeq, seq)
	s.mu.Unlock()
}

// answered records the gateway's answer (ack or nack) to the session frame
// seq, and wakes the writer if that settles the session (a batch may be
// waiting for it). An echo of a seq not written on the session settles
// nothing.
func (s *session) answered(seq uint64) {
	s.mu.Lock()
	woke := false
	if seq <= s.wroteSeq && seq > s.answeredSeq {
		s.answeredSeq = seq
		woke = seq == s.wroteSeq
	}
	s.mu.Unlock()
	if woke {
		s.poke()
	}
}

// settled reports whether the gateway has answered every frame written on
// the session. Only then may the writer post a batch of telemetry it signs
// now: frames on the two paths are decided by the same counter on
// different goroutines of the gateway, so a batch, signed under higher
// seqs, posted while a session frame (a heartbeat, typically) is still
// undecided can be stored first, and the gateway must then refuse the
// earlier frame stale_counter, the refusal its replay detection reports
// (issue 22). While the batch is posted the writer writes nothing else, so
// nothing overtakes it either. (A resend of frames of unknown fate needs
// no wait: they were signed before every frame still unanswered.)
func (s *session) settled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answeredSeq >= s.wroteSeq
}

func (s *session) poke() {
	select {
	case s.wakeCh <- struct{}{}:
	default:
	}
}

// wantHeartbeat asks the writer for a heartbeat. It returns false if the
// previous request has not been written yet.
func (s *session) wantHeartbeat() bool {
	s.mu.Lock()
	prev := s.hbWanted
	s.hbWanted = true
	s.mu.Unlock()
	s.poke()
	return !prev
}

// runSession dials, handshakes and runs one session until it ends, and
// returns why it ended as a *ConnError.
func (a *Agent) runSession(ctx context.Context) error {
	cred := a.cred.Load()
	now := a.now()
	if leaf := cred.chain[0]; now.After(leaf.NotAfter) {
		return connErr(KindExpired, codes.TLSCertExpired, fmt.Errorf("the certificate expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339)))
	} else if now.Before(leaf.NotBefore) {
		return connErr(KindExpired, codes.TLSCertNotYetValid, fmt.Errorf("the certificate is valid from %s", leaf.NotBefore.UTC().Format(time.RFC3339)))
	}

	hctx, cancel := context.WithTimeout(ctx, a.cfg.HandshakeTimeout)
	defer cancel()
	u := *a.base
	u.Path = SessionPath
	dctx, mark := gatewayRequest(hctx)
	conn, resp, err := websocket.Dial(dctx, u.String(), &websocket.DialOptions{
		HTTPClient:      a.wsc,
		Subprotocols:    []string{Subprotocol},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return classifyDial(ctx, mark(err), resp, a.revoked)
	}
	if conn.Subprotocol() != Subprotocol {
		conn.CloseNow()
		return connErr(KindProtocol, codes.BadUpgrade, errors.New("the gateway did not agree to the fifthwheel.v1 subprotocol"))
	}
	conn.SetReadLimit(frame.MaxEnvelopeSize)
	s := &session{a: a, conn: conn, wakeCh: make(chan struct{}, 1),
		gw: gatewayFrames{keys: a.gwKeys, cmdKeys: a.cmdKeys, vehicle: a.vehicle}}

	// From here the session's reads and writes run under contexts that
	// Run's cancellation does not reach: coder/websocket drops the TCP
	// connection at once when the context of a pending Read or Write is
	// cancelled, which would leave no connection to say goodbye on.
	// Ending Run says goodbye instead (close status 1000; the library waits
	// up to 5 s for the gateway's close), so the gateway marks the truck
	// offline rather than declaring comm loss; the reads then end.
	bye := make(chan struct{})
	stopBye := context.AfterFunc(ctx, func() {
		defer close(bye)
		s.closing.Store(true)
		conn.Close(CloseGoodbye, codes.Goodbye)
	})
	// end tears the connection down once the goodbye, if any, is over.
	end := func() {
		if !stopBye() {
			<-bye
		}
		conn.CloseNow()
	}
	nctx := context.WithoutCancel(ctx)
	hsctx, hscancel := context.WithTimeout(nctx, a.cfg.HandshakeTimeout)
	defer hscancel()

	a.mu.Lock()
	a.wd.SessionStarted()
	a.mu.Unlock()
	if err := s.handshake(hsctx); err != nil {
		end()
		a.mu.Lock()
		a.wd.SessionEnded()
		a.mu.Unlock()
		if ctx.Err() != nil {
			return connErr(KindNetwork, "", ctx.Err())
		}
		return err
	}

	a.mu.Lock()
	a.sess = s
	a.connected = a.now()
	a.hbNow = true
	a.queueEventsLocked([]Event{{Time: a.connected, Kind: EventConnected}})
	a.mu.Unlock()
	a.pokeClock() // heartbeat now: the sooner the watchdog gets an answer, the better

	sctx, scancel := context.WithCancel(nctx)
	errc := make(chan error, 2)
	go func() { errc <- s.readLoop(sctx) }()
	go func() { errc <- s.writeLoop(sctx) }()
	err = <-errc
	if s.closing.Load() {
		<-bye // let the gateway's close arrive before the teardown
	}
	scancel()
	end()
	if e := <-errc; err == nil {
		err = e
	}

	a.mu.Lock()
	a.sess = nil
	a.wd.SessionEnded()
	a.out.sessionEnded()
	a.stopsSessionEndedLocked()
	a.mu.Unlock()
	if err == nil {
		err = connErr(KindNetwork, "", errors.New("session ended"))
	}
	return err
}

// readErr classifies an error from reading the session.
func readErr(err error) error {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return classifyClose(ce)
	}
	if errors.Is(err, websocket.ErrMessageTooBig) {
		return connErr(KindProtocol, string(frame.CodeTooLarge), err)
	}
	return connErr(KindNetwork, "", err)
}

// handshake runs hello → challenge → challenge_response → ready.
func (s *session) handshake(ctx context.Context) error {
	a := s.a
	s.hello = make([]byte, 32)
	if _, err := io.ReadFull(a.nonces, s.hello); err != nil {
		return fmt.Errorf("agent: hello nonce: %w", err)
	}
	a.mu.Lock()
	st := a.stateLocked()
	a.mu.Unlock()
	if _, err := s.send(ctx, &frame.Hello{Nonce: s.hello, State: st}, nil); err != nil {
		return err
	}
	ch, err := s.expect(ctx, frame.KindChallenge)
	if err != nil {
		return err
	}
	c := ch.Body.(*frame.Challenge)
	if !frame.EqualNonce(c.PeerNonce, s.hello) {
		return connErr(KindProtocol, "challenge_not_for_this_hello", errors.New("the challenge does not echo this connection's hello nonce"))
	}
	if err := s.answer(ctx, c.Nonce); err != nil {
		return err
	}
	rd, err := s.expect(ctx, frame.KindReady)
	if err != nil {
		return err
	}
	if !frame.EqualNonce(rd.Body.(*frame.Ready).Nonce, c.Nonce) {
		return connErr(KindProtocol, "ready_nonce_mismatch", errors.New("ready is not bound to the challenge nonce"))
	}
	return nil
}

// expect reads the next message and requires a valid gateway frame of kind.
func (s *session) expect(ctx context.Context, kind frame.Kind) (*frame.Frame, error) {
	typ, data, err := s.conn.Read(ctx)
	if err != nil {
		return nil, readErr(err)
	}
	if typ != websocket.MessageText {
		return nil, connErr(KindProtocol, codes.BinaryMessage, errors.New("the gateway sent a binary message"))
	}
	f, why, untrusted := s.gw.open(data)
	if why != "" {
		claimed := claimedKind(untrusted)
		s.a.rejected(why, claimed, 0)
		return nil, connErr(KindProtocol, "gateway_"+string(why), fmt.Errorf("the gateway's %s failed the agent's checks: %s", nonEmpty(string(claimed), "message"), why))
	}
	if f.Kind() != kind {
		return nil, connErr(KindProtocol, codes.UnexpectedKind, fmt.Errorf("expected %s, got %s", kind, f.Kind()))
	}
	return f, nil
}

// answer signs and writes a challenge_response. The watchdog records the
// challenge before the write: a resume may follow at once.
func (s *session) answer(ctx context.Context, nonce []byte) error {
	a := s.a
	_, err := s.send(ctx, &frame.ChallengeResponse{Nonce: nonce}, func(uint64, uint64) {
		a.mu.Lock()
		a.wd.ChallengeAnswered(nonce, a.now())
		a.mu.Unlock()
	})
	return err
}

// send signs body with the next (epoch, seq), calls before (if not nil)
// with them, and writes it. Only the writer goroutine (and the handshake,
// before it starts) calls send.
func (s *session) send(ctx context.Context, body frame.Body, before func(epoch, seq uint64)) (uint64, error) {
	a := s.a
	epoch, seq, err := a.counter.Next()
	if err != nil {
		return 0, err
	}
	env, err := frame.Sign(a.signer, a.kid, &frame.Frame{VehicleID: a.vehicle, Epoch: epoch, Seq: seq,
		TS: a.now().UTC().Truncate(time.Millisecond), Body: body})
	if err != nil {
		return 0, fmt.Errorf("agent: sign %s: %w", body.Kind(), err)
	}
	if before != nil {
		before(epoch, seq)
	}
	if k := body.Kind(); k != frame.KindHello && k != frame.KindChallengeResponse {
		s.wrote(seq)
	}
	return seq, s.write(ctx, env)
}

func (s *session) write(ctx context.Context, env []byte) error {
	wctx, cancel := context.WithTimeout(ctx, s.a.cfg.WriteTimeout)
	defer cancel()
	if err := s.conn.Write(wctx, websocket.MessageText, env); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return connErr(KindNetwork, "", err)
	}
	return nil
}

// readLoop verifies and dispatches the gateway's frames.
func (s *session) readLoop(ctx context.Context) error {
	a := s.a
	for {
		typ, data, err := s.conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil || s.closing.Load() {
				return nil
			}
			return readErr(err)
		}
		if typ != websocket.MessageText {
			a.rejected(ReasonMalformed, "", 0)
			continue
		}
		f, why, untrusted := s.gw.open(data)
		if why != "" {
			if claimedKind(untrusted) == frame.KindCommand {
				// A command that fails authentication: the operator hears
				// of it and the truck stops (commands.go). That includes
				// a command frame replayed within this session: the
				// gateway signs every delivery under a fresh seq (a
				// redelivery after a reconnect is a new frame, answered
				// from the executed-command log), so an old seq again is
				// someone inside the path re-sending what it saw.
				a.commandRefused(why, untrusted)
				continue
			}
			a.rejected(why, claimedKind(untrusted), 0)
			continue
		}
		switch b := f.Body.(type) {
		case *frame.Ack:
			a.onAck(s, b)
		case *frame.Nack:
			a.onNack(s, b)
		case *frame.Challenge:
			if !frame.EqualNonce(b.PeerNonce, s.hello) {
				a.rejected(ReasonWrongEcho, frame.KindChallenge, 0)
				continue
			}
			s.mu.Lock()
			s.challenges = append(s.challenges, b.Nonce)
			s.mu.Unlock()
			s.poke()
		case *frame.Resume:
			a.onResume(b)
		case *frame.Command:
			a.onCommand(f)
		default: // a second ready
			a.rejected(ReasonUnexpectedKind, f.Kind(), 0)
		}
	}
}

// rejected records a refused gateway frame.
func (a *Agent) rejected(why Reason, claimed frame.Kind, seq uint64) {
	a.mu.Lock()
	a.wd.Refused(why)
	a.queueEventsLocked([]Event{{Time: a.now(), Kind: EventGatewayFrameRejected, Reason: why, FrameKind: string(claimed), Seq: seq}})
	a.mu.Unlock()
}

func (a *Agent) onAck(s *session, ack *frame.Ack) {
	if ack.AckEpoch == a.counter.Epoch() {
		s.answered(ack.AckSeq)
	}
	if a.stopAnswered(s, ack.AckEpoch, ack.AckSeq, "") {
		return
	}
	a.mu.Lock()
	if ack.AckEpoch == a.counter.Epoch() {
		if f, ok := a.out.take(ack.AckEpoch, ack.AckSeq); ok {
			a.mu.Unlock()
			a.telemetryAcked([]signedFrame{f})
			s.mu.Lock()
			s.backoff = 0 // the gateway takes telemetry again
			s.mu.Unlock()
			s.poke() // the window has room
			return
		}
	}
	why := ReasonWrongEcho
	if ack.AckEpoch == a.counter.Epoch() {
		why = a.wd.Ack(ack.AckSeq, a.now())
	}
	a.mu.Unlock()
	if why != "" {
		a.rejected(why, frame.KindAck, ack.AckSeq)
	}
}

// telemetryAcked tells Deps.OnTelemetryAcked of frames the gateway
// acknowledged. No agent lock is held.
func (a *Agent) telemetryAcked(fs []signedFrame) {
	if a.d.OnTelemetryAcked == nil {
		return
	}
	for _, f := range fs {
		a.d.OnTelemetryAcked(TelemetryAck{Epoch: f.epoch, Seq: f.seq, Envelope: f.env})
	}
}

// retryable reason codes (the catalogue's transient ones: store_unavailable,
// rate_limited, gateway_busy): the gateway could not decide now; the frame
// is sent again. Every other nack is final.
func retryable(code string) bool { return codes.Retryable(code) }

// notTaken reason codes: the gateway refused the frame or batch before
// looking at it, so this attempt stored nothing (docs/PROTOCOL.md): its
// telemetry may be signed anew. store_unavailable is retryable but not
// one: the frame may have been stored before the gateway failed to say so.
func notTaken(code string) bool { return code == codes.GatewayBusy || code == codes.RateLimited }

func (a *Agent) onNack(s *session, n *frame.Nack) {
	if n.AckEpoch == a.counter.Epoch() {
		s.answered(n.AckSeq)
	}
	if a.stopAnswered(s, n.AckEpoch, n.AckSeq, n.Reason) {
		return
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if n.AckEpoch == a.counter.Epoch() {
		if f, ok := a.out.take(n.AckEpoch, n.AckSeq); ok {
			if a.settleLocked(now, []signedFrame{f}, []string{n.Reason}) {
				s.backoffLocked(now)
			}
			a.reportDroppedLocked(now)
			s.poke()
			return
		}
		if a.wd.Nacked(n.AckSeq) {
			a.queueEventsLocked([]Event{{Time: now, Kind: EventGatewayFrameRejected, Reason: ReasonNacked, Code: n.Reason, Seq: n.AckSeq, FrameKind: string(frame.KindHeartbeat)}})
			return
		}
	}
	a.wd.Refused(ReasonWrongEcho)
	a.queueEventsLocked([]Event{{Time: now, Kind: EventGatewayFrameRejected, Reason: ReasonWrongEcho, FrameKind: string(frame.KindNack), Seq: n.AckSeq}})
}

// settleLocked settles telemetry frames the gateway answered, frame i
// with code[i], instead of storing them (a nack, batch results, a whole
// batch refused), and reports whether telemetry should back off:
//
//   - refused before the gateway looked at it (gateway_busy, rate_limited):
//     its telemetry goes back to the front of the queue, in order, to be
//     signed anew; a frame whose fate was already unknown is resent byte
//     for byte;
//   - not decided (store_unavailable): it may be stored; it is resent byte
//     for byte;
//   - stale_counter for a frame whose fate was unknown: it was never stored
//     (a stored one is answered as a duplicate), and newer frames were,
//     such as the heartbeats that went on meanwhile: signed anew;
//   - anything else is final: EventTelemetryRejected.
//
// Heartbeats never wait for any of these: only telemetry backs off. a.mu
// is held.
func (a *Agent) settleLocked(now time.Time, fs []signedFrame, code []string) (backoff bool) {
	var again, resend []signedFrame
	for i, f := range fs {
		switch c := code[i]; {
		case notTaken(c) && !f.unknown, c == codes.StaleCounter && f.unknown:
			again = append(again, f)
		case retryable(c):
			resend = append(resend, f)
		default:
			a.queueEventsLocked([]Event{{Time: now, Kind: EventTelemetryRejected, Code: c, Seq: f.seq, FrameKind: string(frame.KindTelemetry)}})
		}
		backoff = backoff || retryable(code[i])
	}
	a.out.unsend(again)
	a.out.requeue(resend)
	return backoff
}

// reportDroppedLocked reports the telemetry dropped from a full queue.
// a.mu is held.
func (a *Agent) reportDroppedLocked(now time.Time) {
	if n := a.out.takeDropped(); n > 0 {
		a.queueEventsLocked([]Event{{Time: now, Kind: EventTelemetryDropped, Count: n}})
	}
}

func (a *Agent) onResume(r *frame.Resume) {
	a.mu.Lock()
	_, evs := a.wd.Resume(r.Nonce, a.now())
	a.queueEventsLocked(evs)
	a.mu.Unlock()
	a.pokeClock()
}

// backoffLocked delays the next telemetry (resent or new) after the
// gateway could not take some; heartbeats do not wait for it. s.a.mu is
// held.
func (s *session) backoffLocked(now time.Time) { s.backoffAtLeastLocked(now, 0) }

// backoffAtLeastLocked is backoffLocked, waiting at least retryAfter (the
// gateway's Retry-After) plus jitter.
func (s *session) backoffAtLeastLocked(now time.Time, retryAfter time.Duration) {
	s.mu.Lock()
	s.backoff = min(max(2*s.backoff, batchRetryMin), batchRetryMax)
	wait := fullJitter(s.backoff)
	if retryAfter > 0 {
		wait = max(wait, retryAfter+fullJitter(batchRetryMin))
	}
	s.retryAt = now.Add(wait)
	s.mu.Unlock()
}

// waitTelemetry returns how long telemetry must still wait after the
// gateway could not take some (0: none).
func (s *session) waitTelemetry(now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(0, s.retryAt.Sub(now))
}

// writeLoop writes, in priority order: challenge responses, frames whose
// fate is unknown (they must precede anything newer), heartbeats, command
// answers, then telemetry.
func (s *session) writeLoop(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			return nil
		}
		did, wait, err := s.writeOnce(ctx)
		if err != nil {
			if s.closing.Load() {
				return nil
			}
			return err
		}
		if did {
			continue
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if wait > 0 {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wakeCh:
		case <-timer.C:
		}
	}
}

// writeOnce writes one thing, if there is something it may write now:
// challenge responses, then heartbeats and command answers (writeControl),
// then telemetry. It
// returns whether it did, and otherwise how long until it should look
// again (0: when poked).
func (s *session) writeOnce(ctx context.Context) (bool, time.Duration, error) {
	a := s.a
	s.mu.Lock()
	if len(s.challenges) > 0 {
		nonce := s.challenges[0]
		s.challenges = s.challenges[1:]
		s.mu.Unlock()
		return true, 0, s.answer(ctx, nonce)
	}
	s.mu.Unlock()

	a.mu.Lock()
	resend := len(a.out.resend) > 0
	a.mu.Unlock()
	if resend {
		did, wait, err := s.writeResend(ctx)
		if did || err != nil {
			return did, wait, err
		}
		// The resend waits (for its backoff, or for the frames in flight):
		// a heartbeat does not wait with it. If the heartbeat is stored
		// first, a resent frame that was never stored is answered
		// stale_counter and signed anew (settleLocked); no new telemetry
		// overtakes it.
		if did, err := s.writeControl(ctx); did || err != nil {
			return did, 0, err
		}
		return false, wait, nil
	}
	if did, err := s.writeControlOrStop(ctx); did || err != nil {
		return did, 0, err
	}
	return s.writeTelemetry(ctx)
}

// queueCommandAck asks the writer to sign and send a command answer.
// Bounded: beyond maxQueuedCommandAcks the oldest is dropped (its answer
// is in the executed-command log, or was an attack's refusal; a
// redelivery is answered again).
func (s *session) queueCommandAck(ack *frame.CommandAck) {
	s.mu.Lock()
	if len(s.cmdAcks) == maxQueuedCommandAcks {
		s.cmdAcks = s.cmdAcks[1:]
	}
	s.cmdAcks = append(s.cmdAcks, ack)
	s.mu.Unlock()
	s.poke()
}

// writeControl sends the heartbeat asked for, else one command answer.
func (s *session) writeControl(ctx context.Context) (bool, error) {
	if did, err := s.writeHeartbeat(ctx); did || err != nil {
		return did, err
	}
	s.mu.Lock()
	if len(s.cmdAcks) == 0 {
		s.mu.Unlock()
		return false, nil
	}
	ack := s.cmdAcks[0]
	s.cmdAcks = s.cmdAcks[1:]
	s.mu.Unlock()
	_, err := s.send(ctx, ack, nil)
	return true, err
}

// writeControlOrStop sends what writeControl sends, else one stop event:
// stop events go before telemetry, which is measured far more often.
func (s *session) writeControlOrStop(ctx context.Context) (bool, error) {
	if did, err := s.writeControl(ctx); did || err != nil {
		return did, err
	}
	return s.writeStop(ctx)
}

// writeHeartbeat sends the heartbeat asked for, if one is.
func (s *session) writeHeartbeat(ctx context.Context) (bool, error) {
	a := s.a
	s.mu.Lock()
	hb := s.hbWanted
	s.hbWanted = false
	s.mu.Unlock()
	if !hb {
		return false, nil
	}
	_, err := s.send(ctx, &frame.Heartbeat{State: a.reportedState()}, func(_, seq uint64) {
		a.mu.Lock()
		a.wd.HeartbeatSent(seq, a.now())
		a.mu.Unlock()
	})
	return true, err
}

func (a *Agent) reportedState() frame.State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stateLocked()
}

// fresh reports whether a frame made at ts may still go on the session.
func (a *Agent) fresh(ts, now time.Time) bool { return now.Sub(ts) <= a.cfg.LiveMaxAge }

// writeResend sends the oldest frames of unknown fate: on the session if
// fresh, else through the batch path once nothing is in flight.
func (s *session) writeResend(ctx context.Context) (bool, time.Duration, error) {
	a := s.a
	now := a.now()
	if wait := s.waitTelemetry(now); wait > 0 {
		return false, wait, nil
	}
	a.mu.Lock()
	first := a.out.resend[0]
	if a.fresh(first.ts, now) {
		if len(a.out.inflight) >= inflightWindow {
			a.mu.Unlock()
			return false, 0, nil
		}
		a.out.resend = a.out.resend[1:]
		a.out.inflight = append(a.out.inflight, first)
		a.mu.Unlock()
		s.wrote(first.seq)
		return true, 0, s.write(ctx, first.env)
	}
	if len(a.out.inflight) > 0 {
		a.mu.Unlock()
		return false, 0, nil // the batch must not overtake frames in flight
	}
	// No need to wait for the session to be settled here (writeTelemetry
	// does): these frames were signed before every session frame still
	// unanswered, so they cannot make one stale. If one of those is stored
	// first, the resend is refused stale_counter and signed anew.
	var batch []signedFrame
	size := 0
	for _, f := range a.out.resend {
		if len(batch) == maxBatchFrames || size+len(f.env)+1 > maxBatchBytes-32 || a.fresh(f.ts, now) {
			break
		}
		batch = append(batch, f)
		size += len(f.env) + 1
	}
	a.out.resend = a.out.resend[len(batch):]
	a.out.posting = len(batch)
	a.mu.Unlock()
	return true, 0, s.postBatch(ctx, batch)
}

// writeTelemetry signs and sends queued telemetry: one fresh frame on the
// session, or a batch of old ones through the batch path.
func (s *session) writeTelemetry(ctx context.Context) (bool, time.Duration, error) {
	a := s.a
	now := a.now()
	if wait := s.waitTelemetry(now); wait > 0 {
		return false, wait, nil
	}
	a.mu.Lock()
	if len(a.out.queued) == 0 {
		a.mu.Unlock()
		return false, 0, nil
	}
	if a.fresh(a.out.queued[0].ts, now) {
		if len(a.out.inflight) >= inflightWindow {
			a.mu.Unlock()
			return false, 0, nil
		}
		it := a.out.queued[0]
		a.out.queued[0] = telemetryItem{}
		a.out.queued = a.out.queued[1:]
		a.mu.Unlock()
		f, err := s.sign(it)
		if err != nil {
			return false, 0, err
		}
		a.mu.Lock()
		a.out.inflight = append(a.out.inflight, f)
		a.mu.Unlock()
		s.wrote(f.seq)
		return true, 0, s.write(ctx, f.env)
	}
	if len(a.out.inflight) > 0 || !s.settled() {
		a.mu.Unlock()
		return false, 0, nil // the batch must not overtake frames in flight (settled)
	}
	n := 0
	for n < len(a.out.queued) && n < maxBatchFrames && !a.fresh(a.out.queued[n].ts, now) {
		n++
	}
	items := append([]telemetryItem(nil), a.out.queued[:n]...)
	clear(a.out.queued[:n])
	a.out.queued = a.out.queued[n:]
	a.out.posting = n
	a.mu.Unlock()
	batch := make([]signedFrame, 0, len(items))
	size := 0
	for i, it := range items {
		f, err := s.sign(it)
		if err != nil {
			// Put back what was not signed; what was signed goes to resend.
			a.mu.Lock()
			a.out.queued = append(append([]telemetryItem(nil), items[i:]...), a.out.queued...)
			a.out.requeue(batch)
			a.out.posting = 0
			a.mu.Unlock()
			return false, 0, err
		}
		if size+len(f.env)+1 > maxBatchBytes-32 {
			a.mu.Lock()
			a.out.queued = append(append([]telemetryItem(nil), items[i:]...), a.out.queued...)
			a.out.posting = len(batch)
			a.mu.Unlock()
			// f is signed but not sent: its seq is simply skipped.
			break
		}
		batch = append(batch, f)
		size += len(f.env) + 1
	}
	return true, 0, s.postBatch(ctx, batch)
}

func (s *session) sign(it telemetryItem) (signedFrame, error) {
	a := s.a
	epoch, seq, err := a.counter.Next()
	if err != nil {
		return signedFrame{}, err
	}
	env, err := frame.Sign(a.signer, a.kid, &frame.Frame{VehicleID: a.vehicle, Epoch: epoch, Seq: seq, TS: it.ts, Body: it.body})
	if err != nil {
		return signedFrame{}, err
	}
	return signedFrame{epoch: epoch, seq: seq, ts: it.ts, env: env, body: it.body}, nil
}

// postBatch sends frames through the batch path and settles each. Frames
// the gateway could not take now go back to the resend queue, after a
// backoff; the session goes on.
func (s *session) postBatch(ctx context.Context, batch []signedFrame) error {
	a := s.a
	if len(batch) == 0 {
		return nil
	}
	res, err := a.postFrames(ctx, batch)
	now := a.now()
	var acked []signedFrame
	defer func() { a.telemetryAcked(acked) }() // after the unlock below
	a.mu.Lock()
	defer a.mu.Unlock()
	a.out.posting = 0
	defer a.reportDroppedLocked(now)
	if err != nil {
		a.log.Warn("backfill batch not taken; will retry", "frames", len(batch), "err", err)
		var ce *ConnError
		var retryAfter time.Duration
		code := codes.StoreUnavailable // not decided: the request may have been served
		if errors.As(err, &ce) && notTaken(ce.Code) {
			code = ce.Code
		}
		if ce != nil {
			retryAfter = ce.RetryAfter
		}
		a.settleLocked(now, batch, slices.Repeat([]string{code}, len(batch)))
		s.backoffAtLeastLocked(now, retryAfter)
		return nil
	}
	s.mu.Lock()
	s.backoff = 0
	s.mu.Unlock()
	var refused []signedFrame
	var why []string
	for i, r := range res {
		if r.Verdict != "accepted" {
			refused, why = append(refused, batch[i]), append(why, r.Code)
		} else {
			acked = append(acked, batch[i])
		}
	}
	if a.settleLocked(now, refused, why) {
		s.backoffLocked(now)
	}
	return nil
}
