package sim

import (
	"context"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// scenarioClock is the fleet's scenario start (t0), shared by every truck:
// fault windows count from it. Until it is armed no outage or sensor
// fault is active; latency, jitter and loss are properties of the link and
// act from the first connection.
type scenarioClock struct{ t0 atomic.Int64 }

func (c *scenarioClock) arm(t time.Time) { c.t0.CompareAndSwap(0, t.UnixNano()) }

// start returns t0, and false until it is armed.
func (c *scenarioClock) start() (time.Time, bool) {
	n := c.t0.Load()
	if n == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}

// link is one truck's network link: its outage schedule and the dialer
// that wraps its connections in faultConns. See Faults for the model.
type link struct {
	f     Faults
	clock *scenarioClock
	dial  func(ctx context.Context, network, addr string) (net.Conn, error)

	mu    sync.Mutex
	rnd   *rand.Rand
	conns map[*faultConn]struct{} // open ones, to wake when the schedule is armed

	refused atomic.Int64 // dials refused during a carrier loss
	resets  atomic.Int64 // connections reset by a carrier loss
}

func newLink(f Faults, clock *scenarioClock, seed uint64, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *link {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return &link{f: f, clock: clock, dial: dial, rnd: rand.New(rand.NewPCG(seed, 0x6c696e6b)), conns: map[*faultConn]struct{}{}}
}

// poke wakes every open connection, so waits re-read the schedule (it was
// just armed).
func (l *link) poke() {
	l.mu.Lock()
	cs := make([]*faultConn, 0, len(l.conns))
	for c := range l.conns {
		cs = append(cs, c)
	}
	l.mu.Unlock()
	for _, c := range cs {
		c.mu.Lock()
		c.broadcastLocked()
		c.mu.Unlock()
	}
}

// downAt reports whether the link is down at t, whether it is a carrier
// loss (a flap) rather than a silent outage, and when that down period
// ends.
func (l *link) downAt(t time.Time) (down, carrier bool, until time.Time) {
	t0, ok := l.clock.start()
	if !ok {
		return false, false, time.Time{}
	}
	if e := l.f.FlapEvery; e > 0 {
		s := t0.Add(l.f.FlapWindow.At)
		end := time.Time{}
		if l.f.FlapWindow.For > 0 {
			end = s.Add(l.f.FlapWindow.For)
		}
		if !t.Before(s) && (end.IsZero() || t.Before(end)) {
			k := t.Sub(s) / e
			if k%2 == 0 {
				u := s.Add((k + 1) * e)
				if !end.IsZero() && u.After(end) {
					u = end
				}
				return true, true, u
			}
		}
	}
	if l.f.Blackout.For > 0 && l.f.Blackout.contains(t0, t) {
		return true, false, t0.Add(l.f.Blackout.At + l.f.Blackout.For)
	}
	return false, false, time.Time{}
}

// upAt returns the first instant at or after t when the link is up.
func (l *link) upAt(t time.Time) time.Time {
	for range 10_000 { // overlapping windows resolve in a few steps
		down, _, until := l.downAt(t)
		if !down {
			return t
		}
		t = until
	}
	return t
}

// carrierLossAfter returns the first instant at or after born when a flap
// takes the link down (a connection born then dies then), zero if none.
func (l *link) carrierLossAfter(born time.Time) time.Time {
	e := l.f.FlapEvery
	t0, ok := l.clock.start()
	if e <= 0 || !ok {
		return time.Time{}
	}
	s := t0.Add(l.f.FlapWindow.At)
	end := time.Time{}
	if l.f.FlapWindow.For > 0 {
		end = s.Add(l.f.FlapWindow.For)
	}
	first := s
	if !born.Before(s) {
		k := born.Sub(s) / e
		if k%2 == 0 {
			first = born
		} else {
			first = s.Add((k + 1) * e)
		}
	}
	if !end.IsZero() && !first.Before(end) {
		return time.Time{}
	}
	return first
}

// delay returns the one-way delay of one write: latency, jitter and the
// retransmissions of its lost segments.
func (l *link) delay() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.f.Latency
	if l.f.Jitter > 0 {
		d += time.Duration(l.rnd.Int64N(int64(l.f.Jitter) + 1))
	}
	for rto := tcpMinRTO; l.f.Loss > 0 && l.rnd.Float64() < l.f.Loss && rto <= tcpMaxRTO; rto *= 2 {
		d += rto
	}
	return d
}

// DialContext is the truck's agent's Deps.DialContext.
func (l *link) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	for {
		down, carrier, until := l.downAt(time.Now())
		if !down {
			break
		}
		if carrier {
			l.refused.Add(1)
			return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}
		}
		// A silent outage: the SYN goes unanswered until the link is back
		// (or the caller gives up).
		t := time.NewTimer(time.Until(until))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
		case <-t.C:
		}
	}
	raw, err := l.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := newFaultConn(raw, l)
	l.mu.Lock()
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	go c.uplink()
	go c.downlink()
	return c, nil
}

// chunk is one write in flight: its bytes (or, downlink, the read error
// that ends the stream) and when it is delivered.
type chunk struct {
	b   []byte
	err error
	at  time.Time
}

type flow struct {
	q     []chunk
	bytes int
	last  time.Time // delivery time of the newest chunk: order is kept
}

func (f *flow) push(b []byte, err error, at time.Time) {
	if at.Before(f.last) {
		at = f.last
	}
	f.last = at
	f.q = append(f.q, chunk{b: b, err: err, at: at})
	f.bytes += len(b)
}

func (f *flow) drop() {
	clear(f.q)
	f.q, f.bytes = nil, 0
}

// faultConn is one TCP connection through a link. Writes are queued and
// delivered to the real socket by the uplink goroutine when their time has
// come and the link is up; what the gateway sends is read at once by the
// downlink goroutine and handed to Read on the same terms. A carrier loss
// resets it on the truck's side and leaves the real socket open and silent
// (a zombie) until the gateway closes it, as the gateway of a truck whose
// modem lost its bearer would see.
type faultConn struct {
	raw  net.Conn
	l    *link
	born time.Time

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change
	up       flow
	down     flow
	closed   bool
	closedAt time.Time
	killed   bool
	upErr    error
	upDone   bool // the uplink goroutine has exited
	rdl      time.Time
	wdl      time.Time
}

func newFaultConn(raw net.Conn, l *link) *faultConn {
	return &faultConn{raw: raw, l: l, born: time.Now(), changed: make(chan struct{})}
}

func (c *faultConn) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// waitLocked releases c.mu until something changes or until (if not
// zero), then takes it again.
func (c *faultConn) waitLocked(until time.Time) {
	ch := c.changed
	c.mu.Unlock()
	defer c.mu.Lock()
	if until.IsZero() {
		<-ch
		return
	}
	d := time.Until(until)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}

// earliest returns the earliest non-zero time of ts.
func earliest(ts ...time.Time) time.Time {
	var e time.Time
	for _, t := range ts {
		if !t.IsZero() && (e.IsZero() || t.Before(e)) {
			e = t
		}
	}
	return e
}

// checkKillLocked applies a carrier loss that is due: the truck's side
// resets, the socket becomes a zombie. It returns the next carrier loss
// (zero if none or already killed).
func (c *faultConn) checkKillLocked(now time.Time) time.Time {
	if c.killed || c.closed {
		return time.Time{}
	}
	at := c.l.carrierLossAfter(c.born)
	if at.IsZero() || now.Before(at) {
		return at
	}
	c.killed = true
	c.l.resets.Add(1)
	c.up.drop()
	c.down.drop()
	raw := c.raw
	time.AfterFunc(zombieMax, func() { raw.Close() })
	c.broadcastLocked()
	return time.Time{}
}

func (c *faultConn) resetErr(op string) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.raw.LocalAddr(), Addr: c.raw.RemoteAddr(), Err: os.NewSyscallError(op, syscall.ECONNRESET)}
}

func (c *faultConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		now := time.Now()
		kill := c.checkKillLocked(now)
		switch {
		case c.closed:
			return 0, net.ErrClosed
		case c.killed:
			return 0, c.resetErr("write")
		case c.upErr != nil:
			return 0, c.upErr
		case !c.wdl.IsZero() && !now.Before(c.wdl):
			return 0, os.ErrDeadlineExceeded
		}
		if c.up.bytes < maxUplinkBytes {
			break
		}
		c.waitLocked(earliest(c.wdl, kill))
	}
	c.up.push(append([]byte(nil), b...), nil, time.Now().Add(c.l.delay()))
	c.broadcastLocked()
	return len(b), nil
}

// uplink delivers queued writes to the gateway. After Close it goes on
// delivering what was written before (TCP sends its buffer after a close),
// for at most closeLinger, then closes the socket.
func (c *faultConn) uplink() {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() {
		c.upDone = true
		if c.closed && !c.killed {
			c.raw.Close()
		}
	}()
	for {
		now := time.Now()
		kill := c.checkKillLocked(now)
		if c.killed || c.upErr != nil {
			return
		}
		if len(c.up.q) == 0 {
			if c.closed {
				return
			}
			c.waitLocked(kill)
			continue
		}
		head := c.up.q[0]
		due := c.l.upAt(later(head.at, now))
		if c.closed && due.After(c.closedAt.Add(closeLinger)) {
			return
		}
		if due.After(now) {
			c.waitLocked(earliest(due, kill))
			continue
		}
		c.up.q[0] = chunk{}
		c.up.q = c.up.q[1:]
		c.up.bytes -= len(head.b)
		c.broadcastLocked()
		c.mu.Unlock()
		_, err := c.raw.Write(head.b)
		c.mu.Lock()
		if err != nil && c.upErr == nil && !c.killed {
			c.upErr = err
			c.broadcastLocked()
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// downlink reads what the gateway sends and queues it for Read. After a
// carrier loss it keeps reading, and discarding, until the gateway closes
// the socket.
func (c *faultConn) downlink() {
	buf := make([]byte, 16<<10)
	for {
		n, err := c.raw.Read(buf)
		c.mu.Lock()
		c.checkKillLocked(time.Now())
		if c.closed || c.killed {
			c.mu.Unlock()
			if err != nil {
				c.raw.Close()
				return
			}
			continue
		}
		if n > 0 || err != nil {
			c.down.push(append([]byte(nil), buf[:n]...), err, time.Now().Add(c.l.delay()))
			c.broadcastLocked()
		}
		if err != nil {
			c.mu.Unlock()
			return
		}
		for c.down.bytes > maxDownlinkBytes && !c.closed && !c.killed {
			c.waitLocked(time.Time{})
		}
		c.mu.Unlock()
	}
}

func (c *faultConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		now := time.Now()
		kill := c.checkKillLocked(now)
		switch {
		case c.closed:
			return 0, net.ErrClosed
		case c.killed:
			return 0, c.resetErr("read")
		case !c.rdl.IsZero() && !now.Before(c.rdl):
			return 0, os.ErrDeadlineExceeded
		}
		if len(c.down.q) == 0 {
			c.waitLocked(earliest(c.rdl, kill))
			continue
		}
		head := &c.down.q[0]
		due := c.l.upAt(later(head.at, now))
		if due.After(now) {
			c.waitLocked(earliest(due, c.rdl, kill))
			continue
		}
		if len(head.b) == 0 && head.err != nil {
			return 0, head.err // kept: every later Read sees it too
		}
		n := copy(p, head.b)
		head.b = head.b[n:]
		c.down.bytes -= n
		if len(head.b) == 0 && head.err == nil {
			c.down.q[0] = chunk{}
			c.down.q = c.down.q[1:]
		}
		c.broadcastLocked()
		return n, nil
	}
}

// Close closes the truck's side at once; what it wrote before is still
// delivered (see uplink). After a carrier loss the socket stays a zombie.
func (c *faultConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closed, c.closedAt = true, time.Now()
	killed, upDone := c.killed, c.upDone
	c.down.drop()
	c.broadcastLocked()
	c.mu.Unlock()
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	if !killed && upDone {
		return c.raw.Close()
	}
	return nil
}

func (c *faultConn) LocalAddr() net.Addr  { return c.raw.LocalAddr() }
func (c *faultConn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

func (c *faultConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl, c.wdl = t, t
	c.broadcastLocked()
	c.mu.Unlock()
	return nil
}

func (c *faultConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl = t
	c.broadcastLocked()
	c.mu.Unlock()
	return nil
}

func (c *faultConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.wdl = t
	c.broadcastLocked()
	c.mu.Unlock()
	return nil
}
