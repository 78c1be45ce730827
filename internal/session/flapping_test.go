package session

import (
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/frame"
)

// flapSim runs the truck's watchdog (package agent) against the gateway's
// per-session resume policy on a fake clock, with a link that is up for
// the first half of every second and down for the second half. A session
// starts (and its handshake completes) whenever the link comes up and ends
// when it goes down; heartbeats sent on a session are answered 20 ms later
// if the link is still up; when the policy asks for a challenge, the
// challenge, its answer and the resume take 40 ms more.
type flapSim struct {
	t        *testing.T
	wd       *agent.Watchdog
	pol      resumePolicy
	cfg      Config
	interval time.Duration
	start    time.Time

	flapFrom  time.Duration // the link flaps from then
	flapUntil time.Duration // until then, and is up before and after
	session   int           // 0: none
	sessions  int
	seq       uint64
	acks      []pendingAck
	challenge []time.Duration // when each policy challenge was sent
	resumes   int
	tripped   time.Duration
	stopAfter time.Duration // the AV stack needs this long to stop
	clock     time.Duration
	nextHB    time.Duration
}

type pendingAck struct {
	seq     uint64
	at      time.Duration
	session int
}

func (s *flapSim) up(at time.Duration) bool {
	return at < s.flapFrom || at >= s.flapUntil || at%time.Second < 500*time.Millisecond
}

func (s *flapSim) run(until time.Duration) {
	const step = 10 * time.Millisecond
	for at := s.clock; at <= until; at += step {
		s.clock = at + step
		now := s.start.Add(at)
		switch up := s.up(at); {
		case up && s.session == 0:
			s.sessions++
			s.session = s.sessions
			s.wd.SessionStarted()
			s.wd.ChallengeAnswered([]byte{byte(s.session), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, now)
			s.pol = newResumePolicy(s.cfg) // a new session, a new policy
		case !up && s.session != 0:
			s.session = 0
			s.wd.SessionEnded()
		}
		keep := s.acks[:0]
		for _, a := range s.acks {
			if a.at > at {
				keep = append(keep, a)
				continue
			}
			if a.session != s.session {
				continue // the session it was sent on is gone
			}
			s.wd.Ack(a.seq, now)
			state := frame.StateSafeState
			if s.wd.Mode() == agent.ModeDriving {
				state = frame.StateDriving
			}
			if s.pol.heartbeat(now, state) {
				s.challenge = append(s.challenge, at)
				if s.up(at + 40*time.Millisecond) {
					nonce := []byte{byte(s.session), 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, byte(len(s.challenge))}
					s.wd.ChallengeAnswered(nonce, now)
					if why, _ := s.wd.Resume(nonce, now); why == "" {
						s.resumes++
					}
				}
			}
		}
		s.acks = keep
		if at >= s.nextHB {
			s.seq++
			if s.session != 0 {
				s.wd.HeartbeatSent(s.seq, now)
				if s.up(at + 20*time.Millisecond) {
					s.acks = append(s.acks, pendingAck{seq: s.seq, at: at + 20*time.Millisecond, session: s.session})
				}
			} else {
				s.wd.HeartbeatNotSent(now, agent.ReasonLinkDown)
			}
			s.nextHB += s.interval
		}
		for _, ev := range s.wd.Tick(now) {
			if ev.Kind == agent.EventStopping {
				s.tripped = at
			}
		}
		if s.wd.Mode() == agent.ModeStopping && at >= s.tripped+s.stopAfter {
			s.wd.Stopped(now)
		}
	}
}

// TestFlappingLinkKeepsTheTruckInSafeState: flapping every 500 ms for a
// (simulated) minute. A truck in safe state stays there: every reconnect
// completes a handshake, but no session lives long enough for the
// auto-resume hold-down, so the gateway never challenges for a resume and
// does no more than one handshake per flap. A truck that was driving stops
// within Misses intervals of losing its answers, and then stays stopped.
// Once the link is stable the truck is resumed within the hold-down.
func TestFlappingLinkKeepsTheTruckInSafeState(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		driving  bool
	}{
		{"1s heartbeats, truck in safe state", time.Second, false},
		{"500ms heartbeats, truck in safe state", 500 * time.Millisecond, false},
		{"900ms heartbeats, truck driving when flapping starts", 900 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Date(2026, 11, 24, 21, 0, 0, 0, time.UTC)
			wd, err := agent.NewWatchdog(tc.interval, 3, start)
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{Interval: tc.interval}.withDefaults()
			s := &flapSim{t: t, wd: wd, cfg: cfg, interval: tc.interval, start: start, flapUntil: time.Minute,
				stopAfter: 11 * time.Second, tripped: -1, nextHB: 300 * time.Millisecond}
			if tc.driving {
				// Start driving: on a good link, the auto-resume takes the
				// truck out of its boot-time safe state first.
				s.flapFrom, s.flapUntil = 5*time.Second, 65*time.Second
				s.run(5*time.Second - 10*time.Millisecond)
				if wd.Mode() != agent.ModeDriving {
					t.Fatalf("the truck was not resumed on a stable link: %v", wd.Mode())
				}
				s.resumes, s.challenge = 0, nil
			}
			s.run(s.flapUntil - 10*time.Millisecond)
			if tc.driving {
				if s.tripped < 0 {
					t.Fatal("a driving truck on a flapping link never started stopping")
				}
			}
			if wd.Mode() != agent.ModeSafeState {
				t.Fatalf("after a minute of flapping the truck is %v, want safe_state", wd.Mode())
			}
			if s.resumes != 0 || len(s.challenge) != 0 {
				t.Fatalf("the gateway challenged %d times and resumed %d times during flapping", len(s.challenge), s.resumes)
			}
			if s.sessions > 62 {
				t.Fatalf("%d sessions in a minute of flapping at 1 Hz", s.sessions)
			}
			// The link settles: resumed within the hold-down (3 stable
			// heartbeats) plus a round trip.
			s.run(s.flapUntil + 3*tc.interval + 500*time.Millisecond)
			if wd.Mode() != agent.ModeDriving || s.resumes != 1 {
				t.Fatalf("after the link settled: %v, %d resumes", wd.Mode(), s.resumes)
			}
		})
	}
}

// TestResumePolicy: the hold-down counts consecutive safe_state heartbeats
// without gaps, starts over after each challenge, and manual mode never
// challenges.
func TestResumePolicy(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 21, 0, 0, 0, time.UTC)
	cfg := Config{}.withDefaults()
	p := newResumePolicy(cfg)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	steps := []struct {
		at    float64
		state frame.State
		want  bool
	}{
		{0, frame.StateSafeState, false},
		{1, frame.StateSafeState, false},
		{2, frame.StateSafeState, true}, // 3 in a row
		{3, frame.StateSafeState, false},
		{4, frame.StateSafeState, false},
		{7, frame.StateSafeState, false}, // a 3 s gap starts over
		{8, frame.StateSafeState, false},
		{9, frame.StateDriving, false}, // not in safe state: starts over
		{10, frame.StateSafeState, false},
		{11, frame.StateSafeState, false},
		{12, frame.StateSafeState, true},
	}
	for _, s := range steps {
		if got := p.heartbeat(at(s.at), s.state); got != s.want {
			t.Fatalf("at %vs (%s): challenge %v, want %v", s.at, s.state, got, s.want)
		}
	}
	cfg.ManualResume = true
	m := newResumePolicy(cfg)
	for i := range 100 {
		if m.heartbeat(at(float64(i)), frame.StateSafeState) {
			t.Fatal("manual mode challenged")
		}
	}
}
