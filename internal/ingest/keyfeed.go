package ingest

import (
	"context"
	"log/slog"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
)

// The key cache follows the registry change feed (store.RegistryChanges):
// one poller reads the changes every KeyFeedPoll and drops exactly the
// vehicles they name, so a hot vehicle's key and status are read from the
// store once, not once per KeyCacheTTL. The promise is unchanged: a key
// retired or a vehicle suspended through any process or replica stops
// verifying within KeyCacheTTL.
//
// Why that holds. An entry is used past KeyCacheTTL only while the last
// poll that caught up with the feed started less than KeyCacheTTL ago. A
// change committed at t is in every poll that starts after t (versions are
// in commit order, and a poll reads up to the latest version), so by
// t + KeyCacheTTL either such a poll has dropped the vehicle, or no poll
// has caught up since t and every entry older than KeyCacheTTL is read
// again, as without the feed (fail closed). An entry read while a poll
// applied changes may hold what a change replaced: it is kept for
// KeyCacheTTL only (readStamp.followed). A gap in the feed (changes pruned
// before this cache read them, see store.RegistryChangeRetention), a
// version below the one applied, or a different change at that version
// (the store was restored from a backup) drops the whole cache, as does
// the first poll: changes before it were never seen.

// RegistryFeed is the store's registry change feed.
type RegistryFeed interface {
	RegistryChanges(ctx context.Context, after int64, limit int) ([]store.RegistryChange, int64, error)
}

// feedState is what the key cache knows of the feed.
type feedState struct {
	following bool
	// caughtUp is when the last poll that applied every change up to the
	// latest version started.
	caughtUp time.Time
	// cursor is the last change applied. Its At is zero if the cache reset
	// to a version whose change it has not read yet.
	cursor store.RegistryChange
	// gen moves whenever changes are applied: a lookup that began under
	// another gen may have read what a change replaced.
	gen uint64
}

// fresh reports whether an entry read at r may be used at now, under mu.
func (c *keyCache) fresh(r readStamp, now time.Time) bool {
	if now.Sub(r.at) < c.ttl {
		return true
	}
	return r.followed && c.feed.following && now.Sub(c.feed.caughtUp) < c.ttl
}

// follow polls the feed once and applies what it read: it drops the
// vehicles that changed, or everything on a gap. An error leaves the cache
// as it was; entries then expire after KeyCacheTTL unless a later poll
// catches up in time.
func (c *keyCache) follow(ctx context.Context, feed RegistryFeed) error {
	c.pollMu.Lock()
	defer c.pollMu.Unlock()
	start := c.now()
	c.mu.Lock()
	fs := c.feed
	c.mu.Unlock()
	// Ask from the cursor's own change, so the cache can check it is still
	// the one it applied.
	changes, latest, err := feed.RegistryChanges(ctx, max(fs.cursor.Version-1, 0), keyFeedPage)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next, ok := continues(fs, changes, latest)
	if !ok {
		c.reset(changes, latest)
	} else if len(next) > 0 {
		for _, ch := range next {
			delete(c.vehicles, ch.VehicleID)
			delete(c.keys, ch.VehicleID)
		}
		c.feed.gen++
		c.feed.cursor = next[len(next)-1]
	} else if fs.cursor.At.IsZero() && len(changes) > 0 && changes[0].Version == fs.cursor.Version {
		c.feed.cursor = changes[0] // learn the change the cache reset to
	}
	c.feed.following, c.feed.caughtUp = true, start
	return nil
}

// continues returns the changes after fs's cursor if changes continue the
// feed from it up to latest, with no gap.
func continues(fs feedState, changes []store.RegistryChange, latest int64) ([]store.RegistryChange, bool) {
	if !fs.following {
		return nil, false // the changes before the first poll were never read
	}
	cur := fs.cursor
	if cur.Version > 0 && len(changes) > 0 && changes[0].Version == cur.Version {
		if !cur.At.IsZero() && (changes[0].VehicleID != cur.VehicleID || !changes[0].At.Equal(cur.At)) {
			return nil, false // another change under this version: the store was restored
		}
		changes = changes[1:]
	}
	// What is left has unique versions in (cur, latest] (the cursor's own
	// change may have been pruned since), so it is every change up to
	// latest exactly when it counts up to latest. It does not when changes
	// were pruned before this cache read them, when latest went below the
	// cursor (the store was restored), or when more than a page is pending.
	if cur.Version+int64(len(changes)) != latest {
		return nil, false
	}
	return changes, true
}

// reset drops every entry and restarts from latest, under mu.
func (c *keyCache) reset(changes []store.RegistryChange, latest int64) {
	clear(c.vehicles)
	clear(c.keys)
	c.feed.gen++
	c.feed.cursor = store.RegistryChange{Version: latest}
	if n := len(changes); n > 0 && changes[n-1].Version == latest {
		c.feed.cursor = changes[n-1]
	}
}

// RunKeyFeed keeps the key cache following the registry change feed,
// polling every KeyFeedPoll, until ctx is done. Without it the cache
// re-reads every entry after KeyCacheTTL. Failures are logged when they
// start and when they end; meanwhile the cache falls back to KeyCacheTTL.
func (p *Pipeline) RunKeyFeed(ctx context.Context, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(KeyFeedPoll)
	defer t.Stop()
	failing := false
	for {
		// A poll slower than KeyCacheTTL is of no use: the cache has
		// fallen back by then. Bound it, so a hung read cannot stall the
		// poller for good.
		pctx, cancel := context.WithTimeout(ctx, KeyCacheTTL)
		err := p.keys.follow(pctx, p.st)
		cancel()
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			log.Warn("registry change feed failing; the key cache re-reads every key and vehicle status after "+KeyCacheTTL.String(), slog.Any("err", err))
		case err == nil && failing:
			log.Info("registry change feed recovered")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
