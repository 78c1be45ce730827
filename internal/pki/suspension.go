package pki

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// VehicleStatusSource is what a SuspensionWatch reads of the vehicle
// registry; internal/store implements it on both engines.
type VehicleStatusSource interface {
	// VehicleStatusVersion is a counter that moves with every status change.
	VehicleStatusVersion(ctx context.Context) (int64, error)
	// ListVehicles returns every registered vehicle.
	ListVehicles(ctx context.Context) ([]store.Vehicle, error)
}

// SuspensionWatch cuts off vehicles that an operator suspends or retires
// (`fifthwheel vehicle suspend`, from any process or replica): it polls the
// registry's VehicleStatusVersion, one indexed read, and when the version
// moved it closes every tracked connection of every vehicle that is not
// active (ConnTracker.ClosePrincipal, event session_closed_suspended). A
// vehicle session closed this way tells the truck "suspended" (close 4005
// vehicle_suspended), not a transport drop. Notify wakes it at once
// (PostgreSQL LISTEN/NOTIFY on store.VehicleStatusChannel); polling alone
// bounds the delay to one poll interval, inside the 1 s promise revocation
// makes.
//
// It closes the connections of every non-active vehicle, not only of the
// ones that changed: a connection admitted in the instant before a
// suspension committed is caught at the next change at the latest, and the
// session handshake and the ingest pipeline refuse a suspended vehicle on
// their own meanwhile. A failing poll closes nothing (those refusals still
// hold) and is logged when it starts and ends.
type SuspensionWatch struct {
	src     VehicleStatusSource
	tracker *ConnTracker
	poll    time.Duration
	log     *slog.Logger
	wake    chan struct{}

	mu      sync.Mutex // one Refresh at a time; guards version, loaded
	version int64
	loaded  bool
}

// NewSuspensionWatch returns a watch of src that closes connections through
// tracker, polling every poll (0: DefaultRevocationPoll, the revocation
// feed's pace). log may be nil (slog.Default).
func NewSuspensionWatch(src VehicleStatusSource, tracker *ConnTracker, poll time.Duration, log *slog.Logger) (*SuspensionWatch, error) {
	if src == nil || tracker == nil {
		return nil, errors.New("pki: SuspensionWatch needs a source and a ConnTracker")
	}
	if poll == 0 {
		poll = DefaultRevocationPoll
	}
	if poll < 10*time.Millisecond {
		return nil, fmt.Errorf("pki: suspension poll %v: want at least 10ms", poll)
	}
	if log == nil {
		log = slog.Default()
	}
	return &SuspensionWatch{src: src, tracker: tracker, poll: poll, log: log, wake: make(chan struct{}, 1)}, nil
}

// Notify asks Run to refresh now. It never blocks.
func (w *SuspensionWatch) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Refresh polls the version once and, if it moved since the last
// successful Refresh (or on the first), closes the connections of every
// vehicle that is not active. It returns how many it closed.
func (w *SuspensionWatch) Refresh(ctx context.Context) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	v, err := w.src.VehicleStatusVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("pki: poll vehicle status version: %w", err)
	}
	if w.loaded && v == w.version {
		return 0, nil
	}
	// The version is read before the list, so the list holds at least every
	// change counted in v; a later one only causes another pass.
	vs, err := w.src.ListVehicles(ctx)
	if err != nil {
		return 0, fmt.Errorf("pki: list vehicles: %w", err)
	}
	closed := 0
	for _, veh := range vs {
		if veh.Status != store.VehicleActive {
			closed += w.tracker.ClosePrincipal(ctx, principal.Principal{Kind: principal.Vehicle, ID: veh.ID}, codes.SessionClosedSuspended)
		}
	}
	w.version, w.loaded = v, true
	return closed, nil
}

// Run refreshes every poll interval, and at once after Notify, until ctx is
// done.
func (w *SuspensionWatch) Run(ctx context.Context) {
	refresh := func(ctx context.Context) error { _, err := w.Refresh(ctx); return err }
	pollFeed(ctx, w.poll, w.wake, refresh, w.log, "vehicle status feed",
		"vehicle status feed failing; suspended vehicles' open connections are not closed until it recovers (their frames are still refused)")
}
