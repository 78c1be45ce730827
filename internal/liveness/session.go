package liveness

import (
	"time"
)

// Session is one authenticated session of a vehicle, as returned by
// Connected. Its methods apply only while it is the vehicle's live session:
// once it has ended (comm_lost, a newer session, Disconnected, Forget) they
// change nothing and return why it ended. This fencing is what stops a
// stale connection, still draining after its vehicle reconnected, from
// moving the new session's state.
//
// A Session is safe for concurrent use, though a session layer normally
// calls it from the one goroutine that reads the connection.
type Session struct {
	m    *Monitor
	sh   *shard
	idx  int32
	id   string
	done chan struct{}
	err  error // set under sh.mu before done is closed
}

// VehicleID returns the session's vehicle.
func (s *Session) VehicleID() string { return s.id }

// Done is closed when the session ends for any reason. The session layer
// closes the connection when it is: in particular on comm_lost, when the
// gateway must stop treating the old connection as the vehicle's.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns nil while the session is live, and afterwards why it ended:
// ErrCommLost, ErrSuperseded, ErrDisconnected or ErrForgotten (all wrap
// ErrSessionEnded).
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// live returns the session's record, locked, or the error it ended with.
// On success the caller unlocks s.sh.mu.
func (s *Session) live() (*record, error) {
	s.sh.mu.Lock()
	r := &s.sh.recs[s.idx]
	if r.sess != s {
		err := s.err
		s.sh.mu.Unlock()
		return nil, err
	}
	return r, nil
}

// Heartbeat records a verified heartbeat that arrived at at, in which the
// vehicle reported reportedState (driving, stopping, safe_state or parked).
// The session layer calls it only after the frame's signature, sequence and
// freshness checks passed: liveness is never extended on unverified input.
//
// The deadline restarts from at and the inter-arrival sample feeds φ. A
// suspect vehicle becomes online again (or safe_state); an online one moves
// to safe_state and back as it reports. If at is past the deadline, the
// heartbeat came too late: comm_lost is declared (even if no tick has yet)
// and ErrCommLost returned. A heartbeat on an ended session returns its
// error and changes nothing: after comm_lost only a new handshake brings the
// vehicle back. An at earlier than the latest proof of life (out of order)
// is ignored. An invalid reportedState returns ErrInvalidState and changes
// nothing.
func (s *Session) Heartbeat(at time.Time, reportedState string) error {
	rep, ok := parseReported(reportedState)
	if !ok {
		return ErrInvalidState
	}
	m, sh := s.m, s.sh
	t := m.rel(at)
	r, err := s.live()
	if err != nil {
		m.metrics.StaleHeartbeat()
		return err
	}
	defer sh.mu.Unlock()
	if m.checkDeadline(sh, s.idx, t) {
		return ErrCommLost
	}
	if t < r.lastSeen {
		return nil
	}
	if r.flags&hasPrev != 0 {
		sample := float64(min(t-r.lastHB, m.span)) / float64(time.Millisecond)
		r.observe(sample, m.alpha)
	}
	r.lastHB, r.lastSeen = t, t
	r.flags |= hasHeartbeat | hasPrev
	r.reported = rep
	if to := rep.reachable(); r.state != to {
		m.transition(sh, r, to, t, CauseHeartbeat, 0)
	}
	m.reschedule(sh, s.idx)
	return nil
}

// SafeState records that a verified frame other than a heartbeat (live
// telemetry) reported safe_state at at. It is a report of what the vehicle
// does, not a proof of life: the deadline does not move. An online vehicle
// becomes safe_state; a suspect one stays suspect (only a heartbeat or a
// handshake clears suspicion) and becomes safe_state when it recovers.
// Leaving safe state is reported by a heartbeat with another state.
func (s *Session) SafeState(at time.Time) error {
	m, sh := s.m, s.sh
	t := m.rel(at)
	r, err := s.live()
	if err != nil {
		return err
	}
	defer sh.mu.Unlock()
	if m.checkDeadline(sh, s.idx, t) {
		return ErrCommLost
	}
	r.reported = repSafeState
	if r.state == Online {
		m.transition(sh, r, SafeState, t, CauseReport, 0)
	}
	return nil
}

// Disconnected records that the session's connection ended at at, and how.
// The session ends (Done closes, Err is ErrDisconnected). With
// DisconnectGoodbye, DisconnectGateway, DisconnectRevoked or
// DisconnectSuspended the vehicle goes offline (the transition's cause
// says which) and its deadline stops. With DisconnectTransport nothing else changes: a
// connection that drops without a goodbye is what comm loss looks like from
// the gateway, so the vehicle keeps its state and its deadline, and is
// declared comm_lost when the deadline passes unless it reconnects first.
// On an ended session Disconnected does nothing: the late close of a
// superseded connection cannot take the vehicle offline.
func (s *Session) Disconnected(at time.Time, reason DisconnectReason) {
	m, sh := s.m, s.sh
	t := m.rel(at)
	r, err := s.live()
	if err != nil {
		return
	}
	defer sh.mu.Unlock()
	if m.checkDeadline(sh, s.idx, t) {
		return
	}
	m.endSession(r, ErrDisconnected)
	switch reason {
	case DisconnectGoodbye:
		m.transition(sh, r, Offline, t, CauseGoodbye, 0)
	case DisconnectGateway:
		m.transition(sh, r, Offline, t, CauseGatewayClose, 0)
	case DisconnectRevoked:
		m.transition(sh, r, Offline, t, CauseRevoked, 0)
	case DisconnectSuspended:
		m.transition(sh, r, Offline, t, CauseSuspended, 0)
	default:
		return
	}
	sh.unlink(s.idx)
}
