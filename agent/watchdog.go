package agent

import (
	"bytes"
	"errors"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
)

// Mode is the truck's safety mode, as the watchdog decides it.
type Mode uint8

// Modes.
const (
	// ModeSafeState: stopped in a safe place; the truck leaves it only on a
	// valid resume. The agent starts in this mode.
	ModeSafeState Mode = iota + 1
	// ModeDriving: the gateway supervises the truck; the AV stack drives
	// (or parks) at will.
	ModeDriving
	// ModeStopping: supervision was lost; the minimal-risk maneuver (slow
	// down, pull over, stop) is running.
	ModeStopping
)

func (m Mode) String() string {
	switch m {
	case ModeSafeState:
		return "safe_state"
	case ModeDriving:
		return "driving"
	case ModeStopping:
		return "stopping"
	}
	return "unknown"
}

// Watchdog is the heartbeat watchdog and safe-state machine, as a pure
// state machine: no goroutines, no clock of its own, no I/O. Every method
// takes the current time, and methods that change the mode return the
// Events that report it, so tests drive it with a fake clock and the agent
// drives it with the real one. It is not safe for concurrent use.
//
// # Rules
//
//   - A heartbeat is answered only by an ack that passed the gateway-frame
//     checks (signed by a pinned gateway key, addressed to this vehicle,
//     newer than every gateway frame of the session) and echoes its seq,
//     on the session it was sent on, within one interval. Anything else is
//     not an answer: an unsigned, badly signed, replayed, late or
//     wrong-echo ack leaves the heartbeat unanswered.
//   - A heartbeat not answered within one interval, or not sent because
//     there is no session, is a miss (EventHeartbeatMissed).
//   - The last proof of a working link is the send time of the newest
//     answered heartbeat. When Misses intervals have passed since it while
//     driving, the watchdog trips: ModeStopping (EventStopping); the AV
//     stack reports the stop (Stopped): ModeSafeState (EventSafeState).
//     With one heartbeat per interval this is at most Misses × interval
//     after the link fails.
//   - Nothing but a valid ack moves the last proof: connecting, a
//     completed handshake or any other gateway frame does not. So a link
//     that flaps cannot reset the watchdog.
//   - ModeSafeState is left only by Resume with the nonce of a challenge
//     answered on the current session after the trip that led to this safe
//     state (a "fresh" challenge), at most once per challenge, and only
//     while heartbeats are being answered. Stopping is never interrupted:
//     the truck finishes the stop first.
type Watchdog struct {
	interval time.Duration
	misses   int
	mode     Mode

	episode   uint64    // counts trips; the start is episode 1 (the truck boots in safe state)
	lastProof time.Time // send time of the newest answered heartbeat
	missed    int       // consecutive misses
	lastWhy   Reason    // why the latest answer was refused, since the last valid ack

	session  uint64 // current session generation
	pending  []pendingHeartbeat
	answered uint64 // highest heartbeat seq answered (0: none)

	challenge challengeRecord
}

type pendingHeartbeat struct {
	seq     uint64
	sent    time.Time
	session uint64
	why     Reason // why it is not answered yet, when known
	missed  bool   // its interval passed; kept only to tell a late ack from a wrong one
}

type challengeRecord struct {
	nonce   []byte
	session uint64
	episode uint64
	fresh   bool // answered while stopping or in safe state
	used    bool
}

// NewWatchdog returns a watchdog in ModeSafeState at now, counting misses of
// interval (misses of them trip it). Config validation bounds the values an
// agent uses; here they need only be positive.
func NewWatchdog(interval time.Duration, misses int, now time.Time) (*Watchdog, error) {
	if interval <= 0 || misses < 1 {
		return nil, errors.New("agent: watchdog needs a positive interval and misses")
	}
	return &Watchdog{interval: interval, misses: misses, mode: ModeSafeState, episode: 1, lastProof: now}, nil
}

// Mode returns the current mode.
func (w *Watchdog) Mode() Mode { return w.mode }

// Misses returns the number of consecutive missed heartbeats.
func (w *Watchdog) Misses() int { return w.missed }

// LastProof returns the send time of the newest answered heartbeat (or the
// watchdog's start).
func (w *Watchdog) LastProof() time.Time { return w.lastProof }

// SessionStarted starts a new session generation: heartbeats and the
// challenge of an earlier session can no longer be answered or used.
func (w *Watchdog) SessionStarted() {
	w.session++
	w.challenge = challengeRecord{}
}

// SessionEnded records that the session is gone: its pending heartbeats
// will be missed (link_down) and its challenge is void.
func (w *Watchdog) SessionEnded() {
	for i := range w.pending {
		if w.pending[i].session == w.session && w.pending[i].why == "" {
			w.pending[i].why = ReasonLinkDown
		}
	}
	w.session++
	w.challenge = challengeRecord{}
}

// HeartbeatSent records heartbeat seq, sent (or about to be) at at on the
// current session.
func (w *Watchdog) HeartbeatSent(seq uint64, at time.Time) {
	w.pending = append(w.pending, pendingHeartbeat{seq: seq, sent: at, session: w.session})
	// Bounded: missed heartbeats are kept a little while, only to name a
	// late ack as such; unanswered ones are missed at the next Tick.
	if max := 2*w.misses + 4; len(w.pending) > max {
		w.pending = w.pending[len(w.pending)-max:]
	}
}

// HeartbeatNotSent records that the heartbeat due at at could not be sent
// (no session, or the write failed), which is a miss at once.
func (w *Watchdog) HeartbeatNotSent(at time.Time, why Reason) []Event {
	w.missed++
	return []Event{{Time: at, Kind: EventHeartbeatMissed, Reason: why, Misses: w.missed}}
}

// Refused records why a gateway answer was refused (an unsigned, badly
// signed, replayed or wrong-echo ack), so the miss it causes says why.
func (w *Watchdog) Refused(why Reason) { w.lastWhy = why }

// Nacked records that the gateway refused heartbeat seq. It reports whether
// seq is a pending heartbeat of this session.
func (w *Watchdog) Nacked(seq uint64) bool {
	for i := range w.pending {
		if p := &w.pending[i]; p.seq == seq && p.session == w.session && !p.missed {
			p.why = ReasonNacked
			return true
		}
	}
	return false
}

// IsPending reports whether seq is a heartbeat of this session awaiting an
// answer (so an ack echoing it is the watchdog's, not telemetry's).
func (w *Watchdog) IsPending(seq uint64) bool {
	for _, p := range w.pending {
		if p.seq == seq && p.session == w.session {
			return true
		}
	}
	return false
}

// Ack records a verified gateway ack echoing seq, received at at. It
// returns "" if the ack answers a pending heartbeat of this session in
// time, and otherwise why it does not: ReasonTimeout (late),
// ReasonReplayed (already answered) or ReasonWrongEcho.
func (w *Watchdog) Ack(seq uint64, at time.Time) Reason {
	for i, p := range w.pending {
		if p.seq != seq || p.session != w.session {
			continue
		}
		if p.missed || at.Sub(p.sent) > w.interval {
			return ReasonTimeout
		}
		if p.sent.After(w.lastProof) {
			w.lastProof = p.sent
		}
		w.missed = 0
		w.lastWhy = ""
		w.answered = max(w.answered, seq)
		// This and every older heartbeat are settled: an ack for one of
		// them later is a replay.
		w.pending = append(w.pending[:0], w.pending[i+1:]...)
		return ""
	}
	if seq != 0 && seq <= w.answered {
		w.lastWhy = ReasonReplayed
		return ReasonReplayed
	}
	w.lastWhy = ReasonWrongEcho
	return ReasonWrongEcho
}

// Tick advances the watchdog to at: heartbeats unanswered for an interval
// become misses, and a driving truck without proof for Misses intervals
// starts stopping.
func (w *Watchdog) Tick(at time.Time) []Event {
	var evs []Event
	for i := range w.pending {
		p := &w.pending[i]
		if p.missed || at.Sub(p.sent) < w.interval {
			continue
		}
		p.missed = true
		w.missed++
		why := p.why
		if why == "" {
			why = w.lastWhy
		}
		if why == "" {
			why = ReasonTimeout
		}
		w.lastWhy = why
		evs = append(evs, Event{Time: p.sent.Add(w.interval), Kind: EventHeartbeatMissed, Reason: why, Seq: p.seq, Misses: w.missed})
	}
	if w.mode == ModeDriving && !at.Before(w.tripAt()) {
		why := w.lastWhy
		if why == "" {
			why = ReasonTimeout
		}
		w.mode = ModeStopping
		w.episode++
		w.challenge = challengeRecord{}
		evs = append(evs, Event{Time: at, Kind: EventStopping, Reason: why, Misses: w.missed})
	}
	return evs
}

func (w *Watchdog) tripAt() time.Time {
	return w.lastProof.Add(time.Duration(w.misses) * w.interval)
}

// NextWake returns when Tick next has something to do (zero if nothing
// is scheduled). While stopping the caller also polls the stop.
func (w *Watchdog) NextWake() time.Time {
	var next time.Time
	for _, p := range w.pending {
		if due := p.sent.Add(w.interval); !p.missed && (next.IsZero() || due.Before(next)) {
			next = due
		}
	}
	if w.mode == ModeDriving {
		if t := w.tripAt(); next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next
}

// Trip starts the minimal-risk maneuver now, for why (a command that
// failed authentication): a driving truck starts stopping
// (EventStopping), as on comm loss. A truck already stopping or in safe
// state stays there, but the challenge it answered so far no longer counts
// for a resume: the gateway must challenge it again after the trip.
func (w *Watchdog) Trip(at time.Time, why Reason) []Event {
	w.episode++
	w.challenge = challengeRecord{}
	if w.mode != ModeDriving {
		return nil
	}
	w.mode = ModeStopping
	return []Event{{Time: at, Kind: EventStopping, Reason: why, Misses: w.missed}}
}

// Stopped records that the AV stack reports the truck at a standstill in a
// safe place: stopping becomes safe_state.
func (w *Watchdog) Stopped(at time.Time) []Event {
	if w.mode != ModeStopping {
		return nil
	}
	w.mode = ModeSafeState
	return []Event{{Time: at, Kind: EventSafeState}}
}

// ChallengeAnswered records that the truck answered challenge nonce on the
// current session at at. Only the latest challenge counts.
func (w *Watchdog) ChallengeAnswered(nonce []byte, at time.Time) {
	w.challenge = challengeRecord{nonce: bytes.Clone(nonce), session: w.session, episode: w.episode,
		fresh: w.mode != ModeDriving}
}

// Resume applies a verified gateway resume bound to nonce, received at at.
// It returns "" and EventResumed if the truck leaves safe_state, and
// otherwise why not (with an EventResumeRejected).
func (w *Watchdog) Resume(nonce []byte, at time.Time) (Reason, []Event) {
	why := w.resumeRefusal(nonce, at)
	if why != "" {
		return why, []Event{{Time: at, Kind: EventResumeRejected, Reason: why}}
	}
	w.challenge.used = true
	w.mode = ModeDriving
	return "", []Event{{Time: at, Kind: EventResumed}}
}

func (w *Watchdog) resumeRefusal(nonce []byte, at time.Time) Reason {
	c := &w.challenge
	switch {
	case w.mode != ModeSafeState:
		return ReasonNotInSafeState
	case c.nonce == nil || c.session != w.session || c.episode != w.episode || !c.fresh:
		return ReasonNoFreshChallenge
	case !frame.EqualNonce(c.nonce, nonce):
		return ReasonNonceMismatch
	case c.used:
		return ReasonReplayed
	case float64(at.Sub(w.lastProof)) > resumeMaxProofAgeIntervals*float64(w.interval):
		return ReasonLinkUnhealthy
	}
	return ""
}
