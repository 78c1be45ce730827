package server

import (
	"context"
	"sync"
	"time"
)

// readiness answers /readyz's store question from a cache: at most one
// store ping per readyCacheTTL, whatever the probe rate, and concurrent
// probes share the ping in flight. /readyz is unauthenticated and, on
// SQLite, a ping is a round trip through the single writer, so without the
// cache anyone who can reach the ops listener could queue store writes
// ahead of telemetry at will. The cached answer is at most readyCacheTTL
// old, a failure included: a store that goes down is reported within
// readyCacheTTL (plus the ping's own readyTimeout), and /readyz never
// answers 200 from a failed or missing ping (fail closed).
type readiness struct {
	store Pinger
	now   func() time.Time

	mu     sync.Mutex
	at     time.Time // when the cached result's ping ended
	err    error
	cached bool
	flight *pingCall // the ping in flight, nil if none
}

// pingCall is one store ping that concurrent probes wait for.
type pingCall struct {
	done chan struct{}
	err  error
}

// check returns the store's readiness: the cached result while it is
// younger than readyCacheTTL, else the result of one new ping (shared with
// every probe that arrives while it runs). ctx bounds only the caller's
// wait; the ping itself is bounded by readyTimeout and finishes for the
// others even if this caller leaves.
func (r *readiness) check(ctx context.Context) error {
	r.mu.Lock()
	if r.cached && r.now().Sub(r.at) < readyCacheTTL {
		err := r.err
		r.mu.Unlock()
		return err
	}
	call := r.flight
	if call == nil {
		call = &pingCall{done: make(chan struct{})}
		r.flight = call
		go r.ping(context.WithoutCancel(ctx), call)
	}
	r.mu.Unlock()
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *readiness) ping(ctx context.Context, call *pingCall) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	call.err = r.store.Ping(ctx)
	r.mu.Lock()
	r.err, r.at, r.cached, r.flight = call.err, r.now(), true, nil
	r.mu.Unlock()
	close(call.done)
}
