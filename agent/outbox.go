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
//     is dropped and counted.
//   - resend: signed envelopes whose fate is unknown (sent when a session
//     ended, or a batch the gateway could not take). They must reach the
//     gateway, byte for byte and in order, before anything newer is sent:
//     a newer stored frame would make them stale. Not bounded by max; at
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
}

func newOutbox(max int) *outbox { return &outbox{max: max} }

// add queues a telemetry body, dropping the oldest queued one when full.
func (o *outbox) add(it telemetryItem) {
	if len(o.queued) >= o.max {
		n := len(o.queued) - o.max + 1
		clear(o.queued[:n])
		o.queued = o.queued[n:]
		o.dropped += n
	}
	o.queued = append(o.queued, it)
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
	for i, f := range o.inflight {
		if f.epoch == epoch && f.seq == seq {
			o.inflight = append(o.inflight[:i], o.inflight[i+1:]...)
			return true
		}
	}
	return false
}

// retry moves the in-flight frame (epoch, seq) back to the resend queue
// (the gateway could not take it now). It reports whether there was one.
func (o *outbox) retry(epoch, seq uint64) bool {
	for i, f := range o.inflight {
		if f.epoch == epoch && f.seq == seq {
			o.inflight = append(o.inflight[:i], o.inflight[i+1:]...)
			o.requeue([]signedFrame{f})
			return true
		}
	}
	return false
}

// sessionEnded moves every in-flight frame to the resend queue.
func (o *outbox) sessionEnded() {
	o.requeue(o.inflight)
	o.inflight = nil
}

// requeue inserts signed frames into the resend queue in seq order.
func (o *outbox) requeue(fs []signedFrame) {
	if len(fs) == 0 {
		return
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
