package liveness

import "sync"

// Each shard keeps its vehicles in a slab of records and schedules them on a
// hashed timer wheel (Varghese and Lauck, 1987): a ring of slots, one per
// tick, each the head of an intrusive doubly linked list of records threaded
// through the slab by index. Scheduling and rescheduling are O(1) and
// allocate nothing; a tick walks only the slots that came due. The wheel
// spans the longest deadline (Misses × Interval), so a record is in the slot
// of its own tick; the walk still checks each record's exact due time, so a
// record scheduled further ahead would merely be visited early and kept.
//
// A record is in the wheel exactly when its state has a running deadline
// (online, suspect, safe_state): online and safe_state records are due when
// φ crosses PhiSuspect (clamped, see Monitor.suspectDelay); suspect records
// at the deadline. A heartbeat moves the record's due time and, if the due
// tick changes, the record to another slot.

// nilIdx marks the end of a list and an unscheduled record.
const nilIdx int32 = -1

// record flags.
const (
	hasHeartbeat uint8 = 1 << iota // lastHB is valid
	hasPrev                        // a heartbeat arrived earlier in this session: the next one yields a sample
)

// record is one vehicle. All times are nanoseconds since Monitor.base.
type record struct {
	id       string
	sess     *Session // the live session, nil if none
	lastSeen int64    // the latest proof of life, a heartbeat or a handshake; the deadline counts from it
	lastHB   int64    // the last heartbeat (if flags&hasHeartbeat)
	since    int64    // the last transition
	due      int64    // when the scheduled check applies (if slot != nilIdx); fires once now > due
	stats             // inter-arrival statistics
	next     int32    // wheel list
	prev     int32    // wheel list
	slot     int32    // wheel slot, nilIdx when unscheduled
	state    State
	reported reported
	flags    uint8
}

type shard struct {
	mu     sync.Mutex
	index  map[string]int32 // vehicle id → slab index
	recs   []record
	free   []int32 // slab indexes of forgotten vehicles, for reuse
	heads  []int32 // wheel slots: first record, or nilIdx
	cur    int64   // every tick ≤ cur has been processed
	counts [numStates]int
}

func newShard(slots int) *shard {
	sh := &shard{index: map[string]int32{}, heads: make([]int32, slots)}
	for i := range sh.heads {
		sh.heads[i] = nilIdx
	}
	return sh
}

// alloc adds a record for id and returns its index. Pointers into recs are
// invalid afterwards.
func (sh *shard) alloc(id string) int32 {
	var idx int32
	if n := len(sh.free); n > 0 {
		idx = sh.free[n-1]
		sh.free = sh.free[:n-1]
	} else {
		sh.recs = append(sh.recs, record{})
		idx = int32(len(sh.recs) - 1)
	}
	sh.recs[idx] = record{id: id, next: nilIdx, prev: nilIdx, slot: nilIdx}
	sh.index[id] = idx
	return idx
}

// release frees the record at idx, which must be unscheduled.
func (sh *shard) release(idx int32) {
	delete(sh.index, sh.recs[idx].id)
	sh.recs[idx] = record{next: nilIdx, prev: nilIdx, slot: nilIdx}
	sh.free = append(sh.free, idx)
}

func (sh *shard) link(idx, slot int32) {
	r := &sh.recs[idx]
	r.slot, r.prev, r.next = slot, nilIdx, sh.heads[slot]
	if r.next != nilIdx {
		sh.recs[r.next].prev = idx
	}
	sh.heads[slot] = idx
}

func (sh *shard) unlink(idx int32) {
	r := &sh.recs[idx]
	if r.slot == nilIdx {
		return
	}
	if r.prev != nilIdx {
		sh.recs[r.prev].next = r.next
	} else {
		sh.heads[r.slot] = r.next
	}
	if r.next != nilIdx {
		sh.recs[r.next].prev = r.prev
	}
	r.slot, r.next, r.prev = nilIdx, nilIdx, nilIdx
}

// floorDiv is floor(a / b) for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// schedule puts record idx in the wheel, due at due. A record is checked in
// the first tick whose start is after due (a check fires once now > due),
// and never in a tick already processed.
func (m *Monitor) schedule(sh *shard, idx int32, due int64) {
	r := &sh.recs[idx]
	r.due = due
	t := max(floorDiv(due, m.tick)+1, sh.cur+1)
	slot := int32(t & m.mask)
	if r.slot == slot {
		return
	}
	sh.unlink(idx)
	sh.link(idx, slot)
}

// advance processes every record of sh due before now.
func (m *Monitor) advance(sh *shard, now int64) {
	j := floorDiv(now, m.tick)
	// Slots cur+1 … j hold records due before j×tick ≤ now; slot j+1 may
	// hold some due before now. Slot j+1 is walked again next time, since
	// cur becomes j.
	from, to := sh.cur+1, j+1
	if to < from {
		return
	}
	if to-from >= int64(len(sh.heads)) {
		to = from + int64(len(sh.heads)) - 1 // every slot once
	}
	// Records rescheduled during the walk land after j.
	sh.cur = max(sh.cur, j)
	for t := from; t <= to; t++ {
		for idx := sh.heads[t&m.mask]; idx != nilIdx; {
			r := &sh.recs[idx]
			next := r.next
			if r.due < now {
				sh.unlink(idx)
				m.fire(sh, idx, now)
			}
			idx = next
		}
	}
}
