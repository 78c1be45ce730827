package agent

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 24, 21, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func kinds(evs []Event) []EventKind {
	out := make([]EventKind, len(evs))
	for i, e := range evs {
		out[i] = e.Kind
	}
	return out
}

// drivingWatchdog returns a watchdog resumed into ModeDriving at 0 on
// session 1, with heartbeat 1 answered.
func drivingWatchdog(t *testing.T, interval time.Duration) *Watchdog {
	t.Helper()
	w, err := NewWatchdog(interval, 3, at(0))
	if err != nil {
		t.Fatal(err)
	}
	w.SessionStarted()
	nonce := []byte("0123456789abcdef")
	w.ChallengeAnswered(nonce, at(0))
	w.HeartbeatSent(1, at(0))
	if why := w.Ack(1, at(10*time.Millisecond)); why != "" {
		t.Fatal(why)
	}
	if why, _ := w.Resume(nonce, at(20*time.Millisecond)); why != "" {
		t.Fatalf("resume refused: %s", why)
	}
	return w
}

// TestWatchdogTripsWithinMissesIntervals: with heartbeats every interval,
// the truck starts stopping Misses intervals after the last answered
// heartbeat was sent, i.e. within Misses intervals of the link failing.
func TestWatchdogTripsWithinMissesIntervals(t *testing.T) {
	const I = time.Second
	w := drivingWatchdog(t, I)
	seq := uint64(1)
	// Healthy for 10 s: no misses, no trip.
	for i := 1; i <= 10; i++ {
		seq++
		w.HeartbeatSent(seq, at(time.Duration(i)*I))
		if ev := w.Tick(at(time.Duration(i)*I + 5*time.Millisecond)); len(ev) != 0 {
			t.Fatalf("events while healthy: %v", kinds(ev))
		}
		if why := w.Ack(seq, at(time.Duration(i)*I+30*time.Millisecond)); why != "" {
			t.Fatalf("ack %d: %s", seq, why)
		}
	}
	// The link fails right after the ack of the heartbeat sent at 10 s.
	var stopAt time.Time
	var misses int
	for ms := 10_040; ms <= 20_000; ms += 10 {
		now := at(time.Duration(ms) * time.Millisecond)
		if ms%1000 == 0 {
			seq++
			w.HeartbeatSent(seq, now)
		}
		for _, ev := range w.Tick(now) {
			switch ev.Kind {
			case EventHeartbeatMissed:
				misses = ev.Misses
				if ev.Reason != ReasonTimeout {
					t.Fatalf("miss reason %s", ev.Reason)
				}
			case EventStopping:
				if stopAt.IsZero() {
					stopAt = now
				}
			}
		}
	}
	if want := at(10*I + 3*I); !stopAt.Equal(want) {
		t.Fatalf("stopping at %v, want %v (3 intervals after the last proof)", stopAt.Sub(t0), want.Sub(t0))
	}
	if w.Mode() != ModeStopping {
		t.Fatalf("mode %v", w.Mode())
	}
	if misses < 2 {
		t.Fatalf("misses %d", misses)
	}
	if ev := w.Stopped(at(25 * I)); len(ev) != 1 || ev[0].Kind != EventSafeState || w.Mode() != ModeSafeState {
		t.Fatalf("stop: %v", kinds(ev))
	}
}

// TestAnswersThatDoNotCount: acks that are late, replayed, wrong or from
// another session are not answers: the heartbeat is missed, with the reason.
func TestAnswersThatDoNotCount(t *testing.T) {
	const I = time.Second
	for _, tc := range []struct {
		name string
		ack  func(w *Watchdog) Reason // returns what Ack said
		want Reason                   // the miss's reason
	}{
		{"unsigned ack (refused before the watchdog sees it)", func(w *Watchdog) Reason {
			w.Refused(ReasonUnsigned)
			return ReasonUnsigned
		}, ReasonUnsigned},
		{"badly signed ack", func(w *Watchdog) Reason {
			w.Refused(ReasonBadSignature)
			return ReasonBadSignature
		}, ReasonBadSignature},
		{"ack echoing a heartbeat answered before (replay)", func(w *Watchdog) Reason {
			return w.Ack(1, at(I+100*time.Millisecond))
		}, ReasonReplayed},
		{"ack echoing a seq never sent", func(w *Watchdog) Reason {
			return w.Ack(999, at(I+100*time.Millisecond))
		}, ReasonWrongEcho},
		{"ack arriving after the interval", func(w *Watchdog) Reason {
			w.Tick(at(2*I + time.Millisecond))
			return w.Ack(2, at(2*I+time.Millisecond))
		}, ReasonTimeout},
		{"ack on the next session for a heartbeat of the last", func(w *Watchdog) Reason {
			w.SessionEnded()
			w.SessionStarted()
			return w.Ack(2, at(I+100*time.Millisecond))
		}, ReasonLinkDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := drivingWatchdog(t, I)
			w.HeartbeatSent(2, at(I))
			why := tc.ack(w)
			if why == "" {
				t.Fatal("the ack was taken as an answer")
			}
			if w.lastProof.After(at(0)) {
				t.Fatal("the proof moved")
			}
			evs := w.Tick(at(2*I + 10*time.Millisecond))
			var missed *Event
			for i := range evs {
				if evs[i].Kind == EventHeartbeatMissed {
					missed = &evs[i]
				}
			}
			if tc.want == ReasonTimeout {
				// The late ack's miss was reported by the Tick inside tc.ack.
				if w.Misses() != 1 {
					t.Fatalf("misses %d", w.Misses())
				}
				return
			}
			if missed == nil || missed.Seq != 2 || missed.Reason != tc.want || missed.Misses != 1 {
				t.Fatalf("miss event %+v, want reason %s", missed, tc.want)
			}
		})
	}
}

// TestReconnectDoesNotResetTheWatchdog: connecting, handshakes and ready do
// not move the proof: a flapping link trips the watchdog on time.
func TestReconnectDoesNotResetTheWatchdog(t *testing.T) {
	const I = time.Second
	w := drivingWatchdog(t, I)
	for i := 1; i <= 5; i++ {
		w.SessionEnded()
		w.SessionStarted()
		w.ChallengeAnswered([]byte("fedcba9876543210"), at(time.Duration(i)*500*time.Millisecond))
		w.HeartbeatSent(uint64(i+1), at(time.Duration(i)*500*time.Millisecond))
		w.Tick(at(time.Duration(i) * 500 * time.Millisecond))
	}
	w.Tick(at(3*I + time.Millisecond))
	if w.Mode() != ModeStopping {
		t.Fatalf("mode %v after 3 s without an answered heartbeat", w.Mode())
	}
}

// TestResumeRules: the truck leaves safe_state only on a resume bound to a
// challenge answered on this session after the stop, once, while
// heartbeats are answered.
func TestResumeRules(t *testing.T) {
	const I = time.Second
	nonceA := []byte("AAAAAAAAAAAAAAAA")
	nonceB := []byte("BBBBBBBBBBBBBBBB")
	// tripped returns a watchdog in safe state at 10 s, after a trip on
	// session 1, with a heartbeat answered at 10 s.
	tripped := func(t *testing.T) *Watchdog {
		w := drivingWatchdog(t, I)
		w.Tick(at(3 * I))
		w.Stopped(at(4 * I))
		if w.Mode() != ModeSafeState {
			t.Fatal("not in safe state")
		}
		w.HeartbeatSent(50, at(10*I))
		w.Ack(50, at(10*I+20*time.Millisecond))
		return w
	}
	for _, tc := range []struct {
		name  string
		setup func(w *Watchdog)
		nonce []byte
		want  Reason
		at    time.Duration // of the resume; 0: 10.1 s
	}{
		{"fresh challenge on this session", func(w *Watchdog) { w.ChallengeAnswered(nonceB, at(10*I)) }, nonceB, "", 0},
		{"resume bound to the challenge from before the stop", func(*Watchdog) {}, []byte("0123456789abcdef"), ReasonNoFreshChallenge, 0},
		{"resume from a previous session (replayed)", func(w *Watchdog) {
			w.ChallengeAnswered(nonceA, at(10*I))
			w.SessionEnded()
			w.SessionStarted()
		}, nonceA, ReasonNoFreshChallenge, 0},
		{"resume bound to another nonce", func(w *Watchdog) { w.ChallengeAnswered(nonceB, at(10*I)) }, nonceA, ReasonNonceMismatch, 0},
		{"no challenge answered since the stop", func(w *Watchdog) { w.SessionEnded(); w.SessionStarted() }, nonceA, ReasonNoFreshChallenge, 0},
		{"heartbeats not answered now", func(w *Watchdog) {
			w.ChallengeAnswered(nonceB, at(10*I))
			w.HeartbeatSent(51, at(11*I))
			w.Tick(at(12 * I))
		}, nonceB, ReasonLinkUnhealthy, 12*I + 100*time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := tripped(t)
			tc.setup(w)
			when := tc.at
			if when == 0 {
				when = 10*I + 100*time.Millisecond
			}
			why, evs := w.Resume(tc.nonce, at(when))
			if why != tc.want {
				t.Fatalf("resume: %q, want %q", why, tc.want)
			}
			if tc.want == "" {
				if w.Mode() != ModeDriving || len(evs) != 1 || evs[0].Kind != EventResumed {
					t.Fatalf("mode %v events %v", w.Mode(), kinds(evs))
				}
				// The same resume again: refused, the challenge is spent.
				w.Tick(at(13 * I))
				w.Stopped(at(13 * I))
				if why, _ := w.Resume(tc.nonce, at(13*I)); why == "" {
					t.Fatal("a challenge resumed twice")
				}
				return
			}
			if w.Mode() != ModeSafeState || len(evs) != 1 || evs[0].Kind != EventResumeRejected || evs[0].Reason != tc.want {
				t.Fatalf("mode %v events %+v", w.Mode(), evs)
			}
		})
	}
	t.Run("resume while stopping", func(t *testing.T) {
		w := drivingWatchdog(t, I)
		w.Tick(at(3 * I))
		w.ChallengeAnswered(nonceB, at(3*I))
		if why, _ := w.Resume(nonceB, at(3*I)); why != ReasonNotInSafeState || w.Mode() != ModeStopping {
			t.Fatalf("%q %v", why, w.Mode())
		}
	})
	t.Run("resume while driving", func(t *testing.T) {
		w := drivingWatchdog(t, I)
		w.ChallengeAnswered(nonceB, at(I))
		if why, _ := w.Resume(nonceB, at(I)); why != ReasonNotInSafeState {
			t.Fatalf("%q", why)
		}
	})
}

func TestWatchdogStartsInSafeState(t *testing.T) {
	w, err := NewWatchdog(time.Second, 3, t0)
	if err != nil {
		t.Fatal(err)
	}
	if w.Mode() != ModeSafeState {
		t.Fatal(w.Mode())
	}
	// Nothing but a resume leaves it, however long the link is healthy.
	w.SessionStarted()
	for i := range 100 {
		w.HeartbeatSent(uint64(i+1), at(time.Duration(i)*time.Second))
		w.Ack(uint64(i+1), at(time.Duration(i)*time.Second+time.Millisecond))
		w.Tick(at(time.Duration(i) * time.Second))
	}
	if w.Mode() != ModeSafeState {
		t.Fatal(w.Mode())
	}
	if _, err := NewWatchdog(0, 3, t0); err == nil {
		t.Fatal("zero interval accepted")
	}
}
