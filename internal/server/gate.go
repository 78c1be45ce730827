package server

import (
	"sync"

	"github.com/fifthwheel/fifthwheel/codes"
)

// admissionGate is one TLS listener's admission bookkeeping: how many handshakes are
// in progress and how many connections were admitted without a client
// certificate, in all and per source. Every method is O(1) and never
// blocks on I/O, so the accept loop can ask it about every connection.
//
// Per-source state exists only while a source has a handshake in progress
// or a certificate-less connection open: its entry is freed when both
// counts reach 0, so the map holds at most maxPendingHandshakes +
// maxUnauthenticatedConns entries.
type admissionGate struct {
	maxPendingPerSource int
	maxAnonPerSource    int
	// load, on the vehicle listener, says whether the gateway is
	// overloaded and how many more sessions it may take then
	// (Admission.Load); while it is, at most min(room,
	// maxOverloadPending) handshakes run at once. nil: never overloaded.
	// It must not block: it is called with mu held.
	load               func() (overloaded bool, room int)
	maxOverloadPending int

	mu        sync.Mutex
	pending   int // handshakes in progress
	anonymous int // connections admitted without a client certificate
	sources   map[string]*sourceCount
}

type sourceCount struct{ pending, anonymous int }

func newAdmissionGate(maxPendingPerSource, maxAnonPerSource int) *admissionGate {
	return &admissionGate{maxPendingPerSource: maxPendingPerSource, maxAnonPerSource: maxAnonPerSource,
		sources: map[string]*sourceCount{}}
}

// startHandshake admits a new connection from src to the handshake, or
// returns the reason code it is refused with.
func (g *admissionGate) startHandshake(src string) (refused string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	sc := g.sources[src]
	switch {
	case sc != nil && sc.pending >= g.maxPendingPerSource:
		return codes.AdmissionSourceLimit
	case g.pending >= maxPendingHandshakes:
		return codes.AdmissionGlobalLimit
	case g.overloaded():
		return codes.AdmissionOverloaded
	}
	if sc == nil {
		sc = &sourceCount{}
		g.sources[src] = sc
	}
	sc.pending++
	g.pending++
	return ""
}

// overloaded reports whether a new handshake would exceed what an
// overloaded gateway takes: the sessions it can still serve in time (the
// handshakes in progress become sessions), and a few handshakes per CPU, so
// that a reconnect storm cannot take the CPU the connected trucks' acks
// need. A gateway that is not overloaded takes handshakes up to the other
// bounds: capping them always would bound a healthy gateway's recovery
// after a restart by its trucks' round-trip time. g.mu is held.
func (g *admissionGate) overloaded() bool {
	if g.load == nil {
		return false
	}
	overloaded, room := g.load()
	return overloaded && (g.pending >= room || g.pending >= g.maxOverloadPending)
}

// endHandshake releases what startHandshake took, whatever the outcome.
func (g *admissionGate) endHandshake(src string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending--
	g.sources[src].pending--
	g.free(src)
}

// startAnonymous admits a connection from src whose handshake ended
// without a client certificate, or returns the reason code it is refused
// with. Call it before endHandshake, so src's entry is still there.
func (g *admissionGate) startAnonymous(src string) (refused string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	sc := g.sources[src]
	switch {
	case sc.anonymous >= g.maxAnonPerSource:
		return codes.AdmissionUnauthenticatedLimit
	case g.anonymous >= maxUnauthenticatedConns:
		return codes.AdmissionGlobalLimit
	}
	sc.anonymous++
	g.anonymous++
	return ""
}

// endAnonymous releases what startAnonymous took, when the connection
// closes.
func (g *admissionGate) endAnonymous(src string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.anonymous--
	g.sources[src].anonymous--
	g.free(src)
}

func (g *admissionGate) free(src string) {
	if sc := g.sources[src]; sc.pending == 0 && sc.anonymous == 0 {
		delete(g.sources, src)
	}
}

// counts returns the handshakes in progress, the certificate-less
// connections and the sources tracked, for metrics and tests.
func (g *admissionGate) counts() (pending, anonymous, sources int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pending, g.anonymous, len(g.sources)
}
