package session

import (
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
)

// resumePolicy decides, for one session, when the gateway auto-resumes a
// vehicle in safe_state. It is a pure state machine (no clock, no I/O) so
// that flapping can be tested with a fake clock.
//
// The vehicle leaves safe_state only on a resume bound to a challenge it
// answered on this session after it stopped (package agent enforces that).
// The gateway's part: after stable consecutive accepted heartbeats that
// report safe_state, each within maxGap of the one before, it sends a
// fresh challenge; when the vehicle answers it, a resume bound to that
// challenge. The streak starts over after every resume and every gap, so a
// link that flaps faster than the hold-down never resumes a truck, and a
// truck that keeps reporting safe_state is asked again at most once per
// hold-down. Manual mode never resumes by itself.
type resumePolicy struct {
	auto   bool
	stable int
	maxGap time.Duration

	streak int
	last   time.Time
}

func newResumePolicy(cfg Config) resumePolicy {
	return resumePolicy{auto: !cfg.ManualResume, stable: cfg.ResumeStableHeartbeats, maxGap: 2 * cfg.Interval}
}

// heartbeat records an accepted, new heartbeat at at reporting state, and
// reports whether to challenge the vehicle now, in order to resume it.
func (p *resumePolicy) heartbeat(at time.Time, state frame.State) bool {
	if !p.last.IsZero() && at.Sub(p.last) > p.maxGap {
		p.streak = 0
	}
	p.last = at
	if state != frame.StateSafeState {
		p.streak = 0
		return false
	}
	p.streak++
	if !p.auto || p.streak < p.stable {
		return false
	}
	p.streak = 0
	return true
}
