package siem

import (
	"context"
	"sync"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/tail"
)

// Sink is one SIEM sink: a stream consumer's name and its handler.
type Sink interface {
	// Name is the sink's stream consumer name ("sink:ocsf-file", ...).
	Name() string
	// Handle delivers evs in order and returns how many, from the first,
	// are done (tail.Handler).
	Handle(ctx context.Context, evs []store.StreamEvent) (int, error)
}

// networked is a sink that talks to a peer: it backs off longer.
type networked interface{ network() }

// RunConfig is what Run needs besides the sinks.
type RunConfig struct {
	Holder string // this replica, unique per process
	// OnError is told of every failure of a sink (it must not block).
	OnError func(sink string, err error)
	// Poll is how often an idle sink reads the stream (tail.DefaultPoll).
	Poll time.Duration
	// MinBackoff and MaxBackoff, if set, replace every sink's back-off
	// after a failure (tests; the defaults suit production).
	MinBackoff, MaxBackoff time.Duration
}

// Run serves every sink as its own stream consumer until ctx ends. Each
// sink starts at the beginning of the stream the first time it runs (a
// SIEM gets the history) and resumes from its cursor afterwards.
func Run(ctx context.Context, st tail.Store, cfg RunConfig, sinks ...Sink) {
	var wg sync.WaitGroup
	for _, s := range sinks {
		tc := tail.Config{Name: s.Name(), Holder: cfg.Holder, Start: tail.FromBeginning, Poll: cfg.Poll}
		if _, ok := s.(networked); ok {
			tc.MinBackoff, tc.MaxBackoff = netMinBackoff, netMaxBackoff
		}
		if cfg.MinBackoff > 0 {
			tc.MinBackoff, tc.MaxBackoff = cfg.MinBackoff, cfg.MaxBackoff
		}
		if cfg.OnError != nil {
			name := s.Name()
			tc.OnError = func(err error) { cfg.OnError(name, err) }
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = tail.Run(ctx, st, tc, s.Handle)
		}()
	}
	wg.Wait()
}
