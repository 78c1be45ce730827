package server

import (
	"errors"
	"net/http"
	"time"
)

// ErrNotAdmitted: HijackTracker.Track was given a request whose connection
// the server's Admission did not admit and does not track (a server built
// without Admission, or a request from elsewhere). Such a connection would
// never be cut off on revocation, so it must not be served.
var ErrNotAdmitted = errors.New("server: the request's connection is not tracked by the admission")

// HijackTracker lets a handler that hijacks an admitted connection (the
// vehicle session's WebSocket upgrade) say how the connection is closed
// when Admission's tracker cuts it off, its certificate revoked or its
// principal suspended: the server calls the handler's close function
// instead of dropping the transport, so the peer learns why (a WebSocket
// close with a typed status) rather than seeing a reset, and closes the
// transport itself cutOffGrace later whatever the handler did. The
// connection stays tracked once, by the admission: one event per cut-off.
type HijackTracker struct{}

// Track registers closeFn as the way to close r's connection when it is
// cut off, until untrack; closeFn is told why by the tracker's reason code
// (codes.SessionClosedRevoked, codes.SessionClosedSuspended, ...).
// closeFn must not block; it may be called from another goroutine, at
// most once, and from inside Track if the connection was cut off or closed
// already. Track returns ErrNotAdmitted when r's connection is not one the
// admission tracks.
func (HijackTracker) Track(r *http.Request, closeFn func(code string)) (untrack func(), err error) {
	c := connOf(r)
	if c == nil {
		return nil, ErrNotAdmitted
	}
	c.mu.Lock()
	if c.cut || c.closed {
		why := c.why
		c.mu.Unlock()
		closeFn(why)
		return func() {}, nil
	}
	c.handler = closeFn
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.handler = nil
		c.mu.Unlock()
	}, nil
}

// cutOff is the close function the admission gives the tracker: it closes
// the transport at once, or, when a hijacking handler registered its own
// close, runs that with the reason code and closes the transport
// cutOffGrace later.
func (c *serverConn) cutOff(code string) {
	c.mu.Lock()
	c.cut, c.why = true, code
	f := c.handler
	c.handler = nil
	c.mu.Unlock()
	if f == nil {
		_ = c.Conn.Close()
		return
	}
	f(code)
	time.AfterFunc(cutOffGrace, func() { _ = c.Conn.Close() })
}
