package pki

import (
	"context"
	"crypto/x509"
	"errors"
	"sync"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// ConnTracker knows every live authenticated connection by the serials of
// its verified chain and by its principal, and closes them when a serial is
// revoked (invariant 6, docs/ARCHITECTURE.md: within 1 s, live sessions included) or
// when the server asks for a principal to be cut off (a suspended client, a
// removed role).
//
// The server registers a connection once its handshake has completed, e.g.
// on the first request of an HTTP connection (r.TLS.VerifiedChains, with the
// net.Conn kept by http.Server.ConnContext) or when a vehicle session
// starts, and calls the returned untrack func when it ends.
type ConnTracker struct {
	rs *RevocationSet
	ev emitter

	mu          sync.Mutex
	nextID      uint64
	conns       map[uint64]*trackedConn
	bySerial    map[string]map[uint64]struct{}
	byPrincipal map[principal.Principal]map[uint64]struct{}
	unsubscribe func()
}

type trackedConn struct {
	p        principal.Principal
	serials  []string
	listener string
	close    func(code string)
}

// NewConnTracker returns a tracker subscribed to rs.
func NewConnTracker(rs *RevocationSet, em event.Emitter) *ConnTracker {
	t := &ConnTracker{rs: rs, ev: emitter{em}, conns: map[uint64]*trackedConn{},
		bySerial: map[string]map[uint64]struct{}{}, byPrincipal: map[principal.Principal]map[uint64]struct{}{}}
	t.unsubscribe = rs.Subscribe(func(serials []string) {
		t.closeMatching(context.Background(), serials, principal.Principal{}, codes.SessionClosedRevoked)
	})
	return t
}

// Stop unsubscribes the tracker from its RevocationSet.
func (t *ConnTracker) Stop() { t.unsubscribe() }

// Track registers a live connection whose verified chain is chain
// (VerifiedChains[0]) and whose principal is p; closeFn closes it, told why
// by the code the tracker records (codes.SessionClosedRevoked, or the code
// given to ClosePrincipal, e.g. codes.SessionClosedSuspended), so a session
// can pass the reason on to its peer. It may be called from another
// goroutine, at most once, and must not block. listener names the listener
// for events.
//
// After registering, Track checks the RevocationSet once more, closing the
// race with a revocation applied between the handshake and this call: if a
// serial is revoked, or the data is stale, it closes the connection itself
// (codes.SessionClosedRevoked, codes.RevocationStale) and returns ErrRevoked or
// ErrRevocationStale.
func (t *ConnTracker) Track(chain []*x509.Certificate, p principal.Principal, listener string, closeFn func(code string)) (untrack func(), err error) {
	if len(chain) == 0 || p.IsZero() {
		closeFn(codes.TLSNoVerifiedChain)
		return nil, errors.New("pki: Track needs a verified chain and a principal")
	}
	var once sync.Once
	c := &trackedConn{p: p, listener: listener, close: func(code string) { once.Do(func() { closeFn(code) }) }}
	for _, cert := range chain {
		c.serials = append(c.serials, serialOf(cert))
	}
	t.mu.Lock()
	id := t.nextID
	t.nextID++
	t.conns[id] = c
	for _, s := range c.serials {
		addIndex(t.bySerial, s, id)
	}
	addIndex(t.byPrincipal, p, id)
	t.mu.Unlock()

	untrack = func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.removeLocked(id)
	}
	for _, s := range c.serials {
		revoked, err := t.rs.IsRevoked(s)
		if err != nil || revoked {
			untrack()
			if err != nil {
				c.close(codes.RevocationStale)
				return nil, err
			}
			c.close(codes.SessionClosedRevoked)
			return nil, ErrRevoked
		}
	}
	return untrack, nil
}

// ClosePrincipal closes every tracked connection of p, emitting code (e.g. a
// suspension's) for each, and returns how many it closed.
func (t *ConnTracker) ClosePrincipal(ctx context.Context, p principal.Principal, code string) int {
	if p.IsZero() {
		return 0
	}
	return t.closeMatching(ctx, nil, p, code)
}

// Len returns the number of tracked connections.
func (t *ConnTracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

func (t *ConnTracker) closeMatching(ctx context.Context, serials []string, p principal.Principal, code string) int {
	t.mu.Lock()
	var victims []*trackedConn
	take := func(ids map[uint64]struct{}) {
		for id := range ids {
			if c, ok := t.conns[id]; ok {
				victims = append(victims, c)
				t.removeLocked(id)
			}
		}
	}
	for _, s := range serials {
		take(t.bySerial[s])
	}
	if !p.IsZero() {
		take(t.byPrincipal[p])
	}
	t.mu.Unlock()

	// Close everything first, then record: the 1 s promise is about the
	// close, and events may wait on a durable write.
	for _, c := range victims {
		c.close(code)
	}
	// One write for all of them, bounded: this runs on the revocation
	// feed's goroutine (RevocationSet.Refresh), which must not wait one
	// durable write per connection while the set goes stale. A sink failure
	// is logged by the bus; the connections are closed either way.
	if len(victims) > 0 {
		evs := make([]event.Event, 0, len(victims))
		for _, c := range victims {
			evs = append(evs, event.Event{Class: event.ClassAuthentication, Activity: "session_close", Verdict: event.Info,
				Severity: event.SeverityMedium, Code: code, Actor: c.p, Resource: c.p.String(),
				Attrs: map[string]any{"listener": c.listener, "serial": c.serials[0]}})
		}
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), EmitTimeout)
		_ = t.ev.em.Emit(ectx, evs...)
		cancel()
	}
	return len(victims)
}

func (t *ConnTracker) removeLocked(id uint64) {
	c, ok := t.conns[id]
	if !ok {
		return
	}
	delete(t.conns, id)
	for _, s := range c.serials {
		delIndex(t.bySerial, s, id)
	}
	delIndex(t.byPrincipal, c.p, id)
}

func addIndex[K comparable](m map[K]map[uint64]struct{}, k K, id uint64) {
	s, ok := m[k]
	if !ok {
		s = map[uint64]struct{}{}
		m[k] = s
	}
	s[id] = struct{}{}
}

func delIndex[K comparable](m map[K]map[uint64]struct{}, k K, id uint64) {
	if s, ok := m[k]; ok {
		delete(s, id)
		if len(s) == 0 {
			delete(m, k)
		}
	}
}
