package authz

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// ErrDirectoryStale reports that CachedDirectory could not read the
// authority version for longer than its MaxAge: it does not know whether
// an account changed, so it answers nothing (the guard refuses with 503
// store_unavailable).
var ErrDirectoryStale = errors.New("authz: the directory's authority version is too old to decide on")

// CachedDirectoryConfig sets a CachedDirectory's pace and bounds; zero
// fields take the defaults of guard_limits.go. Data only.
type CachedDirectoryConfig struct {
	// Poll is how often the authority version is read.
	Poll time.Duration
	// MaxAge is how long lookups are answered after the last successful
	// version read; beyond it they fail with ErrDirectoryStale.
	MaxAge time.Duration
	// MaxEntries bounds the accounts cached.
	MaxEntries int
}

// CachedDirectoryDeps are a CachedDirectory's collaborators.
type CachedDirectoryDeps struct {
	// Directory is the registry (the store); required.
	Directory Directory
	// Version returns the store's authority version, a counter that moves
	// with every change to a principal's status, roles, carrier, sources,
	// hours or certificates; required.
	Version func(ctx context.Context) (int64, error)
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
	// Log receives version-read failures; nil is slog.Default().
	Log *slog.Logger
}

// CachedDirectory is a Directory in front of the registry that answers
// from memory while the store's authority version stands still, and drops
// everything it holds the moment the version moves: on every Poll, and at
// once on Notify (fed by PostgreSQL LISTEN/NOTIFY on the principal-change
// channel). So a suspension or a removed role made on any replica governs
// this one's next decision within one poll (250 ms by default), inside the
// 1 s promise.
//
// It fails closed: until Run has read the version once, and whenever the
// last successful read is older than MaxAge, Account returns
// ErrDirectoryStale. The guard answers that with 503 store_unavailable and
// Retry-After, not 401: the client's credentials are not in question, the
// gateway cannot decide now, and a 401 would send well-behaved clients to
// fetch new tokens from a token endpoint that is failing for the same
// reason. Either way nothing is served.
type CachedDirectory struct {
	cfg  CachedDirectoryConfig
	dir  Directory
	ver  func(context.Context) (int64, error)
	now  func() time.Time
	log  *slog.Logger
	wake chan struct{}

	refreshMu sync.Mutex // one refresh at a time

	mu      sync.Mutex
	gen     uint64    // bumped whenever the cache is dropped
	version int64     // last version read
	loaded  bool      // a version was read at least once
	readAt  time.Time // last successful version read
	failing bool      // the last read failed (logged once per outage)
	entries map[principal.Principal]*list.Element
	lru     *list.List // of *dirEntry, most recent first
}

type dirEntry struct {
	p   principal.Principal
	acc Account
	err error // nil or ErrUnknownPrincipal
}

// NewCachedDirectory returns a CachedDirectory; start it with Run.
func NewCachedDirectory(cfg CachedDirectoryConfig, deps CachedDirectoryDeps) (*CachedDirectory, error) {
	if deps.Directory == nil || deps.Version == nil {
		return nil, errors.New("authz: a CachedDirectory needs a Directory and a Version")
	}
	if cfg.Poll == 0 {
		cfg.Poll = DefaultDirectoryPoll
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultDirectoryMaxAge
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = DefaultDirectoryMaxEntries
	}
	switch {
	case cfg.Poll < MinDirectoryPoll:
		return nil, fmt.Errorf("authz: directory poll %v: want at least %v", cfg.Poll, MinDirectoryPoll)
	case cfg.MaxAge <= cfg.Poll || cfg.MaxAge > MaxDirectoryMaxAge:
		return nil, fmt.Errorf("authz: directory max age %v: want more than the poll (%v) and at most %v", cfg.MaxAge, cfg.Poll, MaxDirectoryMaxAge)
	case cfg.MaxEntries < 1:
		return nil, errors.New("authz: directory max entries must be at least 1")
	}
	d := &CachedDirectory{cfg: cfg, dir: deps.Directory, ver: deps.Version, now: deps.Now, log: deps.Log,
		wake: make(chan struct{}, 1), entries: map[principal.Principal]*list.Element{}, lru: list.New()}
	if d.now == nil {
		d.now = time.Now
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	return d, nil
}

// Notify asks Run to read the version now. It never blocks; give it to the
// store's Listen on the principal-change channel.
func (d *CachedDirectory) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run reads the version at once, then every Poll and on every Notify,
// until ctx ends.
func (d *CachedDirectory) Run(ctx context.Context) error {
	t := time.NewTicker(d.cfg.Poll)
	defer t.Stop()
	for {
		_ = d.Refresh(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-d.wake:
		}
	}
}

// Refresh reads the version once; when it moved, every cached account is
// dropped. It returns the read's error (the cache stays as it was, and
// ages towards MaxAge).
func (d *CachedDirectory) Refresh(ctx context.Context) error {
	d.refreshMu.Lock()
	defer d.refreshMu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, d.cfg.MaxAge)
	defer cancel()
	v, err := d.ver(rctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		if !d.failing {
			d.log.Warn("authz: reading the authority version failed; decisions fail closed after the max age",
				slog.Duration("max_age", d.cfg.MaxAge), slog.Any("err", err))
		}
		d.failing = true
		return err
	}
	if d.failing {
		d.log.Info("authz: reading the authority version works again")
		d.failing = false
	}
	if !d.loaded || v != d.version {
		d.gen++
		d.entries = map[principal.Principal]*list.Element{}
		d.lru.Init()
	}
	d.version, d.loaded, d.readAt = v, true, d.now()
	return nil
}

// Account answers from the cache when it is current, else from the
// registry, and fails with ErrDirectoryStale when the version is too old.
func (d *CachedDirectory) Account(ctx context.Context, p principal.Principal) (Account, error) {
	d.mu.Lock()
	if !d.loaded || d.now().Sub(d.readAt) > d.cfg.MaxAge {
		d.mu.Unlock()
		return Account{}, ErrDirectoryStale
	}
	gen := d.gen
	if el, ok := d.entries[p]; ok {
		d.lru.MoveToFront(el)
		e := el.Value.(*dirEntry)
		d.mu.Unlock()
		return cloneAccount(e.acc), e.err
	}
	d.mu.Unlock()

	acc, err := d.dir.Account(ctx, p)
	if err != nil && !errors.Is(err, ErrUnknownPrincipal) {
		return Account{}, err // not cached: the next lookup tries again
	}
	if err != nil {
		acc, err = Account{}, ErrUnknownPrincipal
	}
	d.mu.Lock()
	// Only an answer read under the generation that is still current is
	// kept: one read before a change and stored after it would otherwise
	// outlive the change.
	if gen == d.gen {
		if el, ok := d.entries[p]; ok {
			d.lru.Remove(el)
		}
		d.entries[p] = d.lru.PushFront(&dirEntry{p: p, acc: cloneAccount(acc), err: err})
		for d.lru.Len() > d.cfg.MaxEntries {
			old := d.lru.Back()
			d.lru.Remove(old)
			delete(d.entries, old.Value.(*dirEntry).p)
		}
	}
	d.mu.Unlock()
	return acc, err
}

func cloneAccount(a Account) Account {
	a.Roles = append([]Role(nil), a.Roles...)
	a.AllowedSources = append(a.AllowedSources[:0:0], a.AllowedSources...)
	return a
}
