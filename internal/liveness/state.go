package liveness

import (
	"fmt"
	"time"
)

// State is a vehicle's fleet state, as the TMS read API shows it.
type State uint8

// The fleet states. Their names are stable: they appear in the read API and
// in events.
const (
	// NeverConnected: the Monitor has never seen the vehicle (the From of
	// its first transition); the read API shows a registered vehicle that
	// has not connected to this gateway since it started in this state.
	NeverConnected State = iota
	// Online: heartbeats arrive on time.
	Online
	// Suspect: heartbeats are late (φ ≥ PhiSuspect, or Misses−1 intervals
	// of silence), but the deadline has not passed.
	Suspect
	// CommLost: no heartbeat for Misses × Interval. The truck is, by the
	// same rule on its side, stopping in its safe state.
	CommLost
	// SafeState: reachable, and reporting that it is in its safe state.
	SafeState
	// Offline: the vehicle or the gateway closed the session on purpose.
	Offline

	numStates
)

var stateNames = [numStates]string{"never_connected", "online", "suspect", "comm_lost", "safe_state", "offline"}

// String returns the state's stable name.
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// MarshalText renders the state's name, for JSON.
func (s State) MarshalText() ([]byte, error) {
	if s >= numStates {
		return nil, fmt.Errorf("liveness: invalid state %d", uint8(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText reads a state's name, for clients of the read API.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n == string(b) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("liveness: unknown state %q", b)
}

// monitored reports whether the state has a running deadline.
func (s State) monitored() bool { return s == Online || s == Suspect || s == SafeState }

// Cause is what made a transition happen.
type Cause uint8

// Causes.
const (
	CauseHandshake    Cause = iota + 1 // Connected: a fresh authenticated session
	CauseHeartbeat                     // a verified heartbeat
	CauseReport                        // a verified non-heartbeat frame reported safe_state
	CauseGoodbye                       // the vehicle closed its session on purpose
	CauseGatewayClose                  // the gateway closed the session (revocation, policy)
	CausePhi                           // φ reached PhiSuspect
	CauseSilence                       // Misses−1 intervals without a heartbeat (φ still below PhiSuspect)
	CauseDeadline                      // Misses × Interval without a heartbeat
	CauseRevoked                       // the gateway closed the session: the vehicle's certificate was revoked
	CauseSuspended                     // the gateway closed the session: an operator suspended (or retired) the vehicle
)

var causeNames = [...]string{"", "handshake", "heartbeat", "safe_state_report", "goodbye", "gateway_close", "phi", "silence", "deadline",
	"revoked", "suspended"}

// String returns the cause's stable name, used in event attributes.
func (c Cause) String() string {
	if int(c) < len(causeNames) {
		return causeNames[c]
	}
	return fmt.Sprintf("cause(%d)", uint8(c))
}

// DisconnectReason says how a session ended, which decides whether the
// vehicle goes offline or stays under its deadline.
type DisconnectReason uint8

// Disconnect reasons.
const (
	// DisconnectTransport: the connection ended without the vehicle saying
	// goodbye (a TCP reset or close, a read or write error or timeout, a
	// WebSocket without a close frame or with an abnormal status). The
	// vehicle stays in its state and under its deadline: it is comm_lost if
	// it does not reconnect in time. The zero value, so an unset reason
	// never masks a comm loss.
	DisconnectTransport DisconnectReason = iota
	// DisconnectGoodbye: the vehicle closed the session on purpose (the
	// agent sends a WebSocket close with status 1000 or 1001 when it shuts
	// down or parks). The vehicle goes offline.
	DisconnectGoodbye
	// DisconnectGateway: the gateway closed the session on purpose
	// (policy, a protocol violation, shutdown). The vehicle goes offline;
	// the gateway's own event records why.
	DisconnectGateway
	// DisconnectRevoked: the gateway closed the session because the
	// vehicle's certificate was revoked. The vehicle goes offline with
	// cause "revoked": a revocation is not a comm loss.
	DisconnectRevoked
	// DisconnectSuspended: the gateway closed the session because an
	// operator suspended or retired the vehicle. The vehicle goes offline
	// with cause "suspended".
	DisconnectSuspended
)

// reported is the vehicle's own state, from its last verified heartbeat.
type reported uint8

const (
	repNone reported = iota
	repDriving
	repStopping
	repSafeState
	repParked
)

// The reported-state strings are the frame `state` member's values
// (docs/PROTOCOL.md, kinds telemetry and heartbeat).
var reportedNames = [...]string{"", "driving", "stopping", "safe_state", "parked"}

func parseReported(s string) (reported, bool) {
	for i := repDriving; int(i) < len(reportedNames); i++ {
		if reportedNames[i] == s {
			return i, true
		}
	}
	return repNone, false
}

func (r reported) String() string { return reportedNames[r] }

// reachable is the fleet state of a vehicle that is in contact and last
// reported r: what the vehicle says, safe_state or not.
func (r reported) reachable() State {
	if r == repSafeState {
		return SafeState
	}
	return Online
}

// VehicleState is one vehicle's entry in the fleet state.
type VehicleState struct {
	VehicleID string
	State     State
	// Since is when the vehicle entered State.
	Since time.Time
	// LastHeartbeat is the last verified heartbeat's arrival; zero if none
	// since the Monitor started.
	LastHeartbeat time.Time
	// Deadline is when comm_lost will be declared without another
	// heartbeat; zero when no deadline runs (comm_lost, offline).
	Deadline time.Time
	// Phi is the suspicion level now; zero when no deadline runs.
	Phi float64
	// Reported is the vehicle's own last reported state (driving,
	// stopping, safe_state, parked), "" if none.
	Reported string
	// Connected reports whether a session is open. A vehicle can be online
	// without one for up to its deadline, after a transport disconnect.
	Connected bool
}

// Transition is one change of a vehicle's fleet state, as observers and
// events see it.
type Transition struct {
	VehicleID string
	From, To  State
	Cause     Cause
	// At is when the Monitor declared the transition.
	At time.Time
	// LastHeartbeat is the last verified heartbeat's arrival; zero if none.
	LastHeartbeat time.Time
	// Deadline is the comm_lost deadline in force when the transition was
	// declared: for suspect, comm_lost and offline the one that was
	// running; for a heartbeat, the one it set; zero if none.
	Deadline time.Time
	// Latency, for Suspect and CommLost, is the detection latency: At minus
	// the moment the rule was met (the deadline, or φ's crossing). Zero for
	// the other states.
	Latency time.Duration
	// Phi is the suspicion level at At; zero if no deadline was running.
	Phi float64
	// Reported is the vehicle's last reported state, "" if none.
	Reported string
}
