// Package tail runs a consumer of the store's event stream (store.StreamStore):
// the detection engine and every SIEM sink are one each (issue 22).
//
// A consumer has a name and a cursor kept in the store. Run claims the
// consumer's lease (one holder at a time across replicas; another replica
// takes over when the lease lapses or is released), reads the events after
// the cursor in stream order, hands them to the Handler and advances the
// cursor past what the handler reports done. Delivery is at least once: a
// crash, or a handler error, after the handler acted and before the cursor
// moved means the same events again, so handlers de-duplicate on the
// event id. Order is the stream's: a handler that stops at an error is
// given the same events again, from the first it did not finish, so
// nothing is delivered out of order.
//
// # Security model
//
// The stream holds only events the gateway stored; a consumer adds no way
// in. What it must not do is lose events silently or fall behind without
// anyone noticing: a failing handler is retried with back-off for ever
// (never skipped), each failure is reported to OnError, and the cursor's
// lag is visible in the store (StreamConsumers) and, through Lag, as the
// ops listener's fifthwheel_stream_consumer_lag_* gauges: every consumer
// of every replica, in positions and in seconds.
package tail

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Store is what a consumer needs of the store.
type Store interface {
	ReadEventStream(ctx context.Context, after store.StreamPos, limit int) ([]store.StreamEvent, error)
	ClaimStreamConsumer(ctx context.Context, name, holder string, ttl time.Duration, atHead bool) (store.StreamPos, bool, error)
	AdvanceStreamConsumer(ctx context.Context, name, holder string, pos store.StreamPos) error
	ReleaseStreamConsumer(ctx context.Context, name, holder string) error
}

// Handler handles a page of events in stream order and returns how many
// of them, from the first, are done. With n < len(evs) it must return an
// error; Run then advances past the n done and retries from the next.
type Handler func(ctx context.Context, evs []store.StreamEvent) (n int, err error)

// Start is where a consumer the store does not know yet begins.
type Start int

const (
	// FromBeginning delivers every stored event (a SIEM sink: the SIEM
	// gets the history).
	FromBeginning Start = iota
	// FromHead skips the events stored before the consumer first ran (the
	// detection engine: old events must not open incidents now).
	FromHead
)

// Config is one consumer's settings. Zero durations take the defaults.
type Config struct {
	Name   string // the consumer, e.g. "detect" or "sink:ocsf-file"
	Holder string // this replica (unique per process)
	Start  Start

	Poll       time.Duration // how often an idle consumer reads (DefaultPoll)
	Lease      time.Duration // the lease's length (DefaultLease)
	Page       int           // events per read (DefaultPage)
	MinBackoff time.Duration // first wait after a failure (DefaultMinBackoff)
	MaxBackoff time.Duration // longest wait (DefaultMaxBackoff)

	// OnError, if set, is told of every failure (handler, store) before
	// the back-off; it must not block.
	OnError func(error)
}

// Defaults.
const (
	DefaultPoll       = 100 * time.Millisecond
	DefaultLease      = 10 * time.Second
	DefaultPage       = 500
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second

	// LagSampleEvery is how often Lag.Run reads the consumers' lag from
	// the store (three small queries, one more per distinct cursor behind
	// the head); it also bounds one sample.
	LagSampleEvery = time.Second
)

// advanceTimeout bounds recording the cursor after the handler, which runs
// even when the consumer is stopping.
const advanceTimeout = 5 * time.Second

func (c Config) withDefaults() Config {
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.Page <= 0 {
		c.Page = DefaultPage
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(DefaultMaxBackoff, c.MinBackoff)
	}
	return c
}

// Run serves the consumer until ctx ends, then releases its lease. It
// returns nil when ctx ended and an error only for a configuration it
// cannot run with.
func Run(ctx context.Context, st Store, cfg Config, h Handler) error {
	cfg = cfg.withDefaults()
	if cfg.Name == "" || cfg.Holder == "" || h == nil {
		return errors.New("tail: a consumer needs a name, a holder and a handler")
	}
	c := &consumer{st: st, cfg: cfg, h: h, backoff: cfg.MinBackoff}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = st.ReleaseStreamConsumer(rctx, cfg.Name, cfg.Holder)
	}()
	for {
		wait := c.step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

type consumer struct {
	st      Store
	cfg     Config
	h       Handler
	held    bool
	renewAt time.Time
	pos     store.StreamPos
	backoff time.Duration
}

// step does one round and returns how long to wait before the next.
func (c *consumer) step(ctx context.Context) time.Duration {
	if !c.held || time.Now().After(c.renewAt) {
		pos, _, err := c.st.ClaimStreamConsumer(ctx, c.cfg.Name, c.cfg.Holder, c.cfg.Lease, c.cfg.Start == FromHead)
		if errors.Is(err, store.ErrLeaseHeld) {
			c.held = false
			return c.cfg.Lease / 4 // another replica serves it; look again later
		}
		if err != nil {
			return c.fail(ctx, fmt.Errorf("tail %s: claim: %w", c.cfg.Name, err))
		}
		c.held, c.renewAt = true, time.Now().Add(c.cfg.Lease/3)
		c.pos = pos
	}
	evs, err := c.st.ReadEventStream(ctx, c.pos, c.cfg.Page)
	if err != nil {
		return c.fail(ctx, fmt.Errorf("tail %s: read: %w", c.cfg.Name, err))
	}
	if len(evs) == 0 {
		c.backoff = c.cfg.MinBackoff
		return c.cfg.Poll
	}
	n, herr := c.h(ctx, evs)
	n = min(max(n, 0), len(evs))
	if n == len(evs) && herr != nil {
		n-- // an error means the last was not done, whatever n said
	}
	if n > 0 {
		// What the handler did is recorded even when ctx ended meanwhile
		// (a stop): otherwise the next run delivers those events again.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), advanceTimeout)
		err := c.st.AdvanceStreamConsumer(actx, c.cfg.Name, c.cfg.Holder, evs[n-1].Pos)
		cancel()
		if err != nil {
			c.held = false // lost the lease (or the store failed): claim again and re-read from the stored cursor
			return c.fail(ctx, fmt.Errorf("tail %s: advance: %w", c.cfg.Name, err))
		}
		c.pos = evs[n-1].Pos
	}
	if herr != nil {
		return c.fail(ctx, fmt.Errorf("tail %s: handler: %w", c.cfg.Name, herr))
	}
	if n == 0 {
		return c.fail(ctx, fmt.Errorf("tail %s: handler did none of %d events without an error", c.cfg.Name, len(evs)))
	}
	c.backoff = c.cfg.MinBackoff
	if len(evs) == c.cfg.Page {
		return 0 // more to read now
	}
	return c.cfg.Poll
}

// fail reports err (unless ctx ended) and returns the back-off to wait, doubling it (with
// jitter) up to MaxBackoff.
func (c *consumer) fail(ctx context.Context, err error) time.Duration {
	if ctx.Err() != nil {
		return 0 // stopping: not a failure to report
	}
	if c.cfg.OnError != nil {
		c.cfg.OnError(err)
	}
	d := c.backoff
	c.backoff = min(c.backoff*2, c.cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}
