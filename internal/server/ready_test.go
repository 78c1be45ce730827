package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestAttackReadyzFloodWritesStore: /readyz is unauthenticated and each
// store ping is, on SQLite, a round trip through the single writer. A
// flood of probes, concurrent and back to back, costs the store one ping
// per readyCacheTTL (the test's clock stands still, so exactly one), and
// the answer still fails closed: once the store is down and the cached
// answer has expired, every probe gets 503.
func TestAttackReadyzFloodWritesStore(t *testing.T) {
	clock := newFakeClock()
	h := start(t, testConfig(), func(d *Deps) { d.Now = clock.Now })
	client := &http.Client{Timeout: 10 * time.Second}
	probe := func() int {
		resp, err := client.Get(h.url(Ops, "/readyz"))
		if err != nil {
			t.Error(err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	flood := func(want int) {
		t.Helper()
		const workers, each = 16, 25
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					if got := probe(); got != want {
						t.Errorf("probe: %d, want %d", got, want)
						return
					}
				}
			})
		}
		wg.Wait()
	}

	flood(http.StatusOK)
	if n := h.store.pinged(); n != 1 {
		t.Fatalf("400 probes within one cache interval pinged the store %d times, want 1", n)
	}
	h.store.fail(errors.New("disk I/O error"))
	clock.advance(readyCacheTTL)
	flood(http.StatusServiceUnavailable)
	if n := h.store.pinged(); n != 2 {
		t.Fatalf("after the interval: %d pings, want 2", n)
	}
}

// blockingPinger holds each ping until released, counting them.
type blockingPinger struct {
	mu      sync.Mutex
	pings   int
	started chan struct{}
	release chan struct{}
	err     error
}

func (b *blockingPinger) Ping(context.Context) error {
	b.mu.Lock()
	b.pings++
	b.mu.Unlock()
	b.started <- struct{}{}
	<-b.release
	return b.err
}

func (b *blockingPinger) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pings
}

// TestReadinessSingleFlight: probes that arrive while a ping is in flight
// wait for it rather than starting their own; a caller that gives up does
// not cancel the ping for the others; results, failures included, are
// reused for readyCacheTTL and no longer.
func TestReadinessSingleFlight(t *testing.T) {
	clock := newFakeClock()
	p := &blockingPinger{started: make(chan struct{}, 1), release: make(chan struct{})}
	r := &readiness{store: p, now: clock.Now}

	// A caller that leaves early.
	ctx, cancel := context.WithCancel(context.Background())
	left := make(chan error, 1)
	go func() { left <- r.check(ctx) }()
	<-p.started
	cancel()
	if err := <-left; !errors.Is(err, context.Canceled) {
		t.Fatalf("caller that left: %v", err)
	}
	// Concurrent callers join the ping in flight.
	const n = 32
	errs := make(chan error, n)
	for range n {
		go func() { errs <- r.check(context.Background()) }()
	}
	close(p.release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := p.count(); got != 1 {
		t.Fatalf("%d pings for %d concurrent probes, want 1", got, n+1)
	}
	// Cached until readyCacheTTL has passed.
	clock.advance(readyCacheTTL - time.Nanosecond)
	if err := r.check(context.Background()); err != nil || p.count() != 1 {
		t.Fatalf("within the interval: %v, %d pings", err, p.count())
	}
	p.err = errors.New("store down")
	clock.advance(time.Nanosecond)
	go func() { <-p.started }()
	if err := r.check(context.Background()); err == nil || p.count() != 2 {
		t.Fatalf("after the interval, store down: %v, %d pings", err, p.count())
	}
	// The failure is cached too: fail closed until the next ping says otherwise.
	if err := r.check(context.Background()); err == nil || p.count() != 2 {
		t.Fatalf("cached failure: %v, %d pings", err, p.count())
	}
}
