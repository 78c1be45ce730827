package pki

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// RevocationConfig tunes a RevocationSet. Zero fields take the defaults.
type RevocationConfig struct {
	// PollInterval is how often Run polls RevocationVersion.
	PollInterval time.Duration
	// MaxAge is how old the data may be (time since the last successful
	// poll began) before IsRevoked fails closed.
	MaxAge time.Duration
}

// RevocationChecker answers whether a serial is revoked; RevocationSet is
// the one implementation. It returns ErrRevocationStale, and callers
// refuse, when it cannot answer from fresh data.
type RevocationChecker interface {
	IsRevoked(serial string) (bool, error)
}

// RevocationSet is the in-memory set of revoked serials the listeners
// consult on every handshake. Run keeps it fresh by polling the cheap
// RevocationVersion and reloading the list when it changes; Notify wakes it
// at once (a local revocation, or PostgreSQL LISTEN/NOTIFY). Subscribers
// learn of newly revoked serials right after the set changes.
//
// It fails closed: before the first successful load, and whenever the last
// successful poll began more than MaxAge ago, IsRevoked returns
// ErrRevocationStale.
type RevocationSet struct {
	src  RevocationSource
	cfg  RevocationConfig
	now  func() time.Time
	log  *slog.Logger
	wake chan struct{}

	refreshMu sync.Mutex // one Refresh at a time

	mu        sync.RWMutex
	revoked   map[string]struct{}
	version   int64
	loaded    bool
	checkedAt time.Time

	subMu  sync.Mutex
	subs   map[uint64]func([]string)
	nextID uint64
}

// NewRevocationSet returns an empty, not yet loaded set fed from src. now may
// be nil (time.Now); log may be nil (slog.Default).
func NewRevocationSet(src RevocationSource, cfg RevocationConfig, now func() time.Time, log *slog.Logger) (*RevocationSet, error) {
	if src == nil {
		return nil, errors.New("pki: RevocationSet needs a source")
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultRevocationPoll
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultRevocationMaxAge
	}
	if cfg.PollInterval < 10*time.Millisecond || cfg.MaxAge <= cfg.PollInterval || cfg.MaxAge > MaxRevocationMaxAge {
		return nil, fmt.Errorf("pki: revocation poll %v and max age %v: want 10ms ≤ poll < max age ≤ %v",
			cfg.PollInterval, cfg.MaxAge, MaxRevocationMaxAge)
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &RevocationSet{src: src, cfg: cfg, now: now, log: log, wake: make(chan struct{}, 1),
		revoked: map[string]struct{}{}, subs: map[uint64]func([]string){}}, nil
}

// IsRevoked reports whether serial (SerialString form) is revoked. It
// returns ErrRevocationStale, and callers must refuse, when the data is not
// fresh.
func (s *RevocationSet) IsRevoked(serial string) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.loaded || s.now().Sub(s.checkedAt) > s.cfg.MaxAge {
		return false, ErrRevocationStale
	}
	_, ok := s.revoked[serial]
	return ok, nil
}

// Version returns the RevocationVersion the set was last loaded at.
func (s *RevocationSet) Version() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.version
}

// Notify asks Run to refresh now instead of at the next tick. It never
// blocks.
func (s *RevocationSet) Notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Subscribe registers fn to be called with the serials that became revoked
// at each change (never with the initial load: nothing was accepted before
// it). fn runs on the refreshing goroutine, after the set is updated, and
// must be quick (ConnTracker's closing is). The returned func
// unsubscribes.
func (s *RevocationSet) Subscribe(fn func(newlyRevoked []string)) (unsubscribe func()) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	id := s.nextID
	s.nextID++
	s.subs[id] = fn
	return func() {
		s.subMu.Lock()
		defer s.subMu.Unlock()
		delete(s.subs, id)
	}
}

// Refresh polls the source once and reloads the set if the version moved.
func (s *RevocationSet) Refresh(ctx context.Context) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	start := s.now()
	v, err := s.src.RevocationVersion(ctx)
	if err != nil {
		return fmt.Errorf("pki: poll revocation version: %w", err)
	}
	s.mu.RLock()
	unchanged := s.loaded && v == s.version
	s.mu.RUnlock()
	if unchanged {
		s.mu.Lock()
		s.checkedAt = start
		s.mu.Unlock()
		return nil
	}
	// The version is read before the list, so the list holds at least
	// every revocation counted in v; a later one only causes a reload next
	// time.
	list, err := s.src.ListRevoked(ctx, start)
	if err != nil {
		return fmt.Errorf("pki: list revoked: %w", err)
	}
	next := make(map[string]struct{}, len(list))
	for _, r := range list {
		next[r.Serial] = struct{}{}
	}
	s.mu.Lock()
	wasLoaded := s.loaded
	var added []string
	if wasLoaded {
		for serial := range next {
			if _, ok := s.revoked[serial]; !ok {
				added = append(added, serial)
			}
		}
	}
	s.revoked, s.version, s.loaded, s.checkedAt = next, v, true, start
	s.mu.Unlock()

	if len(added) > 0 {
		slices.Sort(added)
		s.subMu.Lock()
		fns := make([]func([]string), 0, len(s.subs))
		for _, fn := range s.subs {
			fns = append(fns, fn)
		}
		s.subMu.Unlock()
		for _, fn := range fns {
			fn(slices.Clone(added))
		}
	}
	return nil
}

// Run refreshes every PollInterval, and at once after Notify, until ctx is
// done. Failures are logged when they start and when they end (not at every
// poll); meanwhile IsRevoked fails closed once MaxAge has passed.
func (s *RevocationSet) Run(ctx context.Context) {
	pollFeed(ctx, s.cfg.PollInterval, s.wake, s.Refresh, s.log, "revocation feed",
		"revocation feed failing; handshakes fail closed after max age", slog.Duration("max_age", s.cfg.MaxAge))
}
