// Package ratelimit holds per-key token buckets (one per vehicle or client)
// that answer with how long to wait, so callers refuse explicitly with 429
// and Retry-After instead of dropping.
//
// # Security model
//
// A limiter that only logs does not limit. Allow either admits the request
// or returns the wait; there is no "observe only" mode. The key set is
// bounded: the least recently used bucket is evicted beyond MaxKeys, so a
// flood of keys cannot grow memory without bound. Keys are authenticated
// principals, or, for peers that have proven nothing, their source
// (event.SourceOf: an IPv4 address or an IPv6 /64, so one host cannot mint
// keys). An evicted key restarts with a full bucket, which is the
// conservative direction only for memory, not for abuse: MaxKeys is sized
// above the fleet, or above the sources active at once.
package ratelimit

import (
	"container/list"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Config sets a limiter's rate. Data only.
type Config struct {
	// PerSecond is the sustained rate per key; 0 disables the limiter
	// (every request allowed), which must be chosen explicitly.
	PerSecond float64
	// Burst is how many requests a key may make at once.
	Burst int
	// MaxKeys bounds how many keys are tracked.
	MaxKeys int
}

// DefaultMaxKeys is sized above a large fleet (100,000 vehicles).
const DefaultMaxKeys = 200_000

// Limiter is a set of token buckets keyed by principal.
type Limiter struct {
	cfg   Config
	mu    sync.Mutex
	keys  map[string]*list.Element
	lru   *list.List // front: most recently used
	clock func() time.Time
}

type entry struct {
	key string
	lim *rate.Limiter
}

// New returns a Limiter. A Burst below 1 is raised to 1.
func New(cfg Config) *Limiter {
	if cfg.Burst < 1 {
		cfg.Burst = 1
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	return &Limiter{cfg: cfg, keys: map[string]*list.Element{}, lru: list.New(), clock: time.Now}
}

// AllowN takes n tokens for key now. It returns ok, or the time after which
// the same request would be allowed. A request larger than the burst can
// never be allowed; its wait is reported as the time to refill the burst.
func (l *Limiter) AllowN(key string, n int) (ok bool, retryAfter time.Duration) {
	ok, retryAfter, _ = l.TakeN(key, n)
	return ok, retryAfter
}

// TakeN is AllowN for a request that may still be refused for a reason of
// the gateway's own (it is too busy to look at it): when ok, giveBack
// returns the n tokens, as if the request had not been made
// (rate.Reservation.Cancel gives back what later requests have not come to
// depend on), so such a refusal does not spend the key's budget. When not
// ok, giveBack does nothing.
func (l *Limiter) TakeN(key string, n int) (ok bool, retryAfter time.Duration, giveBack func()) {
	if l.cfg.PerSecond <= 0 {
		return true, 0, func() {}
	}
	now := l.clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	var lim *rate.Limiter
	if el, found := l.keys[key]; found {
		l.lru.MoveToFront(el)
		lim = el.Value.(*entry).lim
	} else {
		lim = rate.NewLimiter(rate.Limit(l.cfg.PerSecond), l.cfg.Burst)
		l.keys[key] = l.lru.PushFront(&entry{key: key, lim: lim})
		for l.lru.Len() > l.cfg.MaxKeys {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.keys, old.Value.(*entry).key)
		}
	}
	if n > l.cfg.Burst {
		return false, time.Duration(float64(l.cfg.Burst) / l.cfg.PerSecond * float64(time.Second)), func() {}
	}
	r := lim.ReserveN(now, n)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d, func() {}
	}
	// Cancelled as of the time it was taken: rate.Reservation restores
	// nothing once that time has passed (it would count as used), and
	// corrects for what later requests took meanwhile.
	return true, 0, func() { r.CancelAt(now) }
}

// RetryAfterSeconds rounds a wait up to whole seconds for the Retry-After
// header (RFC 9110 §10.2.3), never less than 1.
func RetryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}
