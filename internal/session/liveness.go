package session

import (
	"errors"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/liveness"
)

// LivenessMonitor adapts a *liveness.Monitor to what the session layer
// needs (Liveness).
func LivenessMonitor(m *liveness.Monitor) Liveness { return monitorAdapter{m} }

type monitorAdapter struct{ m *liveness.Monitor }

func (a monitorAdapter) Connected(vehicleID string, at time.Time) (LiveSession, error) {
	s, err := a.m.Connected(vehicleID, at)
	if err != nil {
		return nil, err
	}
	return liveAdapter{s}, nil
}

type liveAdapter struct{ s *liveness.Session }

func (l liveAdapter) Heartbeat(at time.Time, state string) error { return l.s.Heartbeat(at, state) }
func (l liveAdapter) SafeState(at time.Time) error               { return l.s.SafeState(at) }
func (l liveAdapter) Done() <-chan struct{}                      { return l.s.Done() }

func (l liveAdapter) Disconnected(at time.Time, how DisconnectReason) {
	r := liveness.DisconnectTransport
	switch how {
	case DisconnectGoodbye:
		r = liveness.DisconnectGoodbye
	case DisconnectGateway:
		r = liveness.DisconnectGateway
	case DisconnectRevoked:
		r = liveness.DisconnectRevoked
	case DisconnectSuspended:
		r = liveness.DisconnectSuspended
	}
	l.s.Disconnected(at, r)
}

func (l liveAdapter) Err() error {
	switch err := l.s.Err(); {
	case errors.Is(err, liveness.ErrCommLost):
		return ErrLiveCommLost
	case errors.Is(err, liveness.ErrSuperseded):
		return ErrLiveSuperseded
	case errors.Is(err, liveness.ErrForgotten):
		return ErrLiveForgotten
	default:
		return err
	}
}
