package agent

import (
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
)

// outbox holds telemetry on its way to the gateway, in three stages:
//
//   - queued: bodies not yet signed, oldest first, at most max. They are
//     signed (and get their seq) only when sent, so a heartbeat sent in
//     between never makes them stale at the gateway. When full, the oldest
//     is dropped and counted. Telemetry the gateway refused before looking
//     at it (gateway_busy, rate_limited: not stored) comes back here, to
//     be signed anew.
//   - resend: signed envelopes whose fate is unknown (sent when a session
//     ended, or a batch or frame the gateway may have stored without
//     saying so). They must reach the gateway byte for byte: a stored one
//     is then answered as a duplicate, and one never stored, if a newer
//     frame was stored meanwhile, as stale_counter, which proves it was
//     not stored, so it too comes back to queued. Not bounded by max; at
//     most inflightWindow + maxBatchFrames.
//   - inflight: signed envelopes sent on the session, awaiting their ack.
//
// It is not safe for concurrent use; the agent holds its lock.
type outbox struct {
	max      int
	queued   []telemetryItem
	resend   []signedFrame
	inflight []signedFrame
	posting  int // frames in a batch request now
	dropped  int // dropped since last reported
}

type telemetryItem struct {
	ts   time.Time
	body *frame.Telemetry
}

type signedFrame struct {
	epoch, seq uint64
	ts         time.Time
	env        []byte
	body       *frame.Telemetry // what was signed, to sign it anew if it was not stored
	// unknown: an attempt to send it may have been stored (a session
	// ended, a request failed, store_unavailable). Such a frame is sent
	// again only byte for byte.
	unknown bool
}

func newOutbox(max int) *outbox { return &outbox{max: max} }

// add queues a telemetry body, dropping the oldest queued one when full.
func (o *outbox) add(it telemetryItem) {
	o.queued = append(o.queued, it)
	o.trim()
}

// trim drops the oldest queued bodies beyond max, and counts them.
func (o *outbox) trim() {
	if n := len(o.queued) - o.max; n > 0 {
		clear(o.queued[:n])
		o.queued = o.queued[n:]
		o.dropped += n
	}
}

// unsend puts the telemetry of frames the gateway did not store back at
// the front of the queue, in their order, to be signed anew when sent.
// Beyond max the oldest are dropped, as always.
func (o *outbox) unsend(fs []signedFrame) {
	if len(fs) == 0 {
		return
	}
	items := make([]telemetryItem, 0, len(fs)+len(o.queued))
	for _, f := range fs {
		items = append(items, telemetryItem{ts: f.ts, body: f.body})
	}
	o.queued = append(items, o.queued...)
	o.trim()
}

// takeDropped returns and resets the count of dropped frames.
func (o *outbox) takeDropped() int {
	n := o.dropped
	o.dropped = 0
	return n
}

// len is the number of frames not yet acknowledged.
func (o *outbox) len() int { return len(o.queued) + len(o.resend) + len(o.inflight) + o.posting }

// acked removes the in-flight frame (epoch, seq) and reports whether there
// was one.
func (o *outbox) acked(epoch, seq uint64) bool {
	_, ok := o.take(epoch, seq)
	return ok
}

// take removes the in-flight frame (epoch, seq) and returns it, if there
// was one.
func (o *outbox) take(epoch, seq uint64) (signedFrame, bool) {
	for i, f := range o.inflight {
		if f.epoch == epoch && f.seq == seq {
			o.inflight = append(o.inflight[:i], o.inflight[i+1:]...)
			return f, true
		}
	}
	return signedFrame{}, false
}

// sessionEnded moves every in-flight frame to the resend queue.
func (o *outbox) sessionEnded() {
	o.requeue(o.inflight)
	o.inflight = nil
}

// requeue inserts signed frames whose fate is unknown into the resend
// queue, in seq order.
func (o *outbox) requeue(fs []signedFrame) {
	if len(fs) == 0 {
		return
	}
	for i := range fs {
		fs[i].unknown = true
	}
	merged := make([]signedFrame, 0, len(o.resend)+len(fs))
	i, j := 0, 0
	for i < len(o.resend) || j < len(fs) {
		if j == len(fs) || (i < len(o.resend) && less(o.resend[i], fs[j])) {
			merged = append(merged, o.resend[i])
			i++
		} else {
			merged = append(merged, fs[j])
			j++
		}
	}
	o.resend = merged
}

func less(a, b signedFrame) bool {
	return a.epoch < b.epoch || (a.epoch == b.epoch && a.seq < b.seq)
}
