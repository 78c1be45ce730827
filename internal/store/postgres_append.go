package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// AppendFrames on PostgreSQL group-commits, like the SQLite writer: a call
// waits in a lane, and committers (goroutines, each with a pooled
// connection) fold the calls queued while they were busy into one
// transaction, up to MaxGroupCommit calls and MaxCommitRows rows. The
// transaction locks the counter rows of all its vehicles in id order (the
// order every replica takes them in, so appends never deadlock), decides
// every call in memory (appendPlan), writes in one pipelined batch and
// commits: a handful of round trips and one WAL flush for the lot, where a
// transaction per call costs as many as there are calls. Replicas appending
// for the same vehicle serialize on its counter row; the primary key on
// frames is the last line of defence for invariant 3.
//
// Heartbeat calls have their lane, committers and pool of their own
// (PostgresPriorityConns), so no telemetry backlog and no busy connection
// is ever ahead of them.

// pgAppend is one AppendFrames call waiting for its commit.
type pgAppend struct {
	recs     []FrameRecord
	window   int64
	rows     int
	out      []AppendOutcome
	done     chan error
	answered func() // called as the call is answered
}

// answer gives the call its result.
func (c *pgAppend) answer(err error) {
	c.answered()
	c.done <- err
}

// pgLane is a queue of AppendFrames calls and the pool its committers use.
type pgLane struct {
	queue chan *pgAppend
	pool  *pgxpool.Pool
}

// pgAppender runs the committers of the two lanes.
type pgAppender struct {
	prio, live pgLane
	mu         sync.RWMutex // held for reading while queueing; Close takes it to stop new calls
	closed     bool
	quit       chan struct{}
	wg         sync.WaitGroup
	// waiting counts the calls of the live lane queued or committing, not
	// yet answered.
	waiting atomic.Int64
}

func newPgAppender(pool, prio *pgxpool.Pool) *pgAppender {
	a := &pgAppender{
		prio: pgLane{queue: make(chan *pgAppend, WriteQueue), pool: prio},
		live: pgLane{queue: make(chan *pgAppend, WriteQueue), pool: pool},
		quit: make(chan struct{}),
	}
	for range PostgresPriorityConns {
		a.wg.Add(1)
		go a.committer(a.prio)
	}
	for range PostgresCommitters {
		a.wg.Add(1)
		go a.committer(a.live)
	}
	return a
}

// close refuses new calls, lets the committers finish the queued ones and
// waits for them.
func (a *pgAppender) close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	a.mu.Unlock()
	close(a.quit)
	a.wg.Wait()
}

func (s *pgStore) AppendFrames(ctx context.Context, recs []FrameRecord, window int64) ([]AppendOutcome, error) {
	if err := checkWindow(window); err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return []AppendOutcome{}, nil
	}
	lane := &s.appender.prio
	if !onlyHeartbeats(recs) {
		lane = &s.appender.live
		release, err := s.bulkSlot(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	call := &pgAppend{recs: recs, window: window, rows: len(recs), done: make(chan error, 1), answered: func() {}}
	for i := range recs {
		call.rows += len(recs[i].Events)
	}
	if err := s.appender.enqueue(ctx, lane, call); err != nil {
		return nil, err
	}
	// Once queued the call will be answered (Close lets the committers
	// finish); waiting for it keeps "returned" equal to "durable".
	if err := <-call.done; err != nil {
		return nil, err
	}
	return call.out, nil
}

func (a *pgAppender) enqueue(ctx context.Context, lane *pgLane, call *pgAppend) error {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return ErrClosed
	}
	if lane == &a.live {
		a.waiting.Add(1)
		call.answered = func() { a.waiting.Add(-1) }
	}
	select {
	case lane.queue <- call:
		return nil
	case <-ctx.Done():
		call.answered()
		return ctx.Err()
	}
}

// committer commits the calls of lane, a batch at a time, until Close; then
// it commits what is still queued and stops.
func (a *pgAppender) committer(lane pgLane) {
	defer a.wg.Done()
	var held *pgAppend
	for {
		if held == nil {
			select {
			case held = <-lane.queue:
			case <-a.quit:
				for {
					batch, next := fillAppends(lane.queue, held)
					if len(batch) == 0 {
						return
					}
					commitAppends(lane.pool, batch)
					held = next
				}
			}
		}
		var batch []*pgAppend
		batch, held = fillAppends(lane.queue, held)
		commitAppends(lane.pool, batch)
	}
}

// fillAppends gathers a batch: first (if any), then the queued calls in
// arrival order until MaxGroupCommit calls or the next call would take the
// batch past MaxCommitRows; that call is returned, to start the next
// batch. The first call of a batch is taken whatever its size.
func fillAppends(q chan *pgAppend, first *pgAppend) (batch []*pgAppend, next *pgAppend) {
	rows := 0
	if first != nil {
		batch, rows = append(batch, first), first.rows
	}
	for len(batch) < MaxGroupCommit {
		select {
		case c := <-q:
			if len(batch) > 0 && rows+c.rows > MaxCommitRows {
				return batch, c
			}
			batch, rows = append(batch, c), rows+c.rows
		default:
			return batch, nil
		}
	}
	return batch, nil
}

// commitAppends commits batch in one transaction and answers every call.
// If the database refuses a statement (an event id already recorded, say),
// each call is tried again alone, so one bad call fails no other.
func commitAppends(pool *pgxpool.Pool, batch []*pgAppend) {
	err := appendTx(pool, batch)
	var pe *pgconn.PgError
	if err != nil && len(batch) > 1 && errors.As(err, &pe) {
		for _, c := range batch {
			c.answer(appendTx(pool, []*pgAppend{c}))
		}
		return
	}
	for _, c := range batch {
		c.answer(err)
	}
}

// appendTx runs batch in one transaction, setting each call's outcomes.
// It is bounded by PostgresWriteTimeout, not by any caller's context: the
// calls share it.
func appendTx(pool *pgxpool.Pool, batch []*pgAppend) error {
	ctx, cancel := context.WithTimeout(context.Background(), PostgresWriteTimeout)
	defer cancel()
	var all []FrameRecord
	if len(batch) == 1 {
		all = batch[0].recs
	} else {
		for _, c := range batch {
			all = append(all, c.recs...)
		}
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		states, err := pgLoadStates(ctx, tx, all)
		if err != nil {
			return err
		}
		stored, err := pgLoadStored(ctx, tx, states, all)
		if err != nil {
			return err
		}
		plan := newAppendPlan(states, func(k frameKey) ([]byte, error) { return stored[k], nil })
		for _, c := range batch {
			if c.out, err = plan.add(c.recs, c.window); err != nil {
				return err
			}
		}
		b := &pgx.Batch{}
		queueFrames(b, plan.frames)
		queueEvents(b, plan.events)
		// The audit log's items, in the same commit as the rows they cover.
		queueAuditItems(b, framesAndEventsItems(plan.frames, plan.events))
		queueStates(b, states)
		return sendBatch(ctx, tx, b)
	})
}

// The statements of AppendFrames. Each takes whole columns as arrays, so a
// call costs a fixed number of statements whatever its size.
const (
	// pgEnsureCounters makes sure a counter row exists to lock, without
	// moving any counter: epoch -1 is the placeholder (no frame accepted,
	// no epoch authorized).
	pgEnsureCounters = `INSERT INTO vehicle_counters(vehicle_id,epoch,high_seq,hb_mask,updated)
		SELECT id,-1,-1,0,now() FROM unnest($1::text[]) AS id ON CONFLICT DO NOTHING`
	// pgLockStates locks the counters in vehicle id order, the order every
	// replica takes them in, so two appends never deadlock.
	pgLockStates = `SELECT c.vehicle_id, c.epoch, c.high_seq, c.hb_mask, h.epoch, h.seq, h.hash
		FROM vehicle_counters c LEFT JOIN vehicle_heartbeats h ON h.vehicle_id = c.vehicle_id
		WHERE c.vehicle_id = ANY($1) ORDER BY c.vehicle_id FOR UPDATE OF c`
	pgStoredHashes = `SELECT f.vehicle_id, f.epoch, f.seq, f.hash
		FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS k(v, e, s)
		JOIN frames f ON f.vehicle_id = k.v AND f.epoch = k.e AND f.seq = k.s`
	pgInsertFrames = `INSERT INTO frames(` + pgFrameCols + `) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[],
		$4::text[], $5::timestamptz[], $6::timestamptz[], $7::text[], $8::text[], $9::bytea[], $10::bytea[], $11::bytea[], $12::text[], $13::text[])`
	pgPutCounters = `UPDATE vehicle_counters c SET epoch = u.epoch, high_seq = u.high, hb_mask = u.mask, updated = now()
		FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(id, epoch, high, mask) WHERE c.vehicle_id = u.id`
	pgPutHeartbeats = `INSERT INTO vehicle_heartbeats(vehicle_id,epoch,seq,ts,received,alg,kid,hash,raw,sig,verdict,findings)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::text[],
		$8::bytea[], $9::bytea[], $10::bytea[], $11::text[], $12::text[])
		ON CONFLICT (vehicle_id) DO UPDATE SET epoch=excluded.epoch, seq=excluded.seq, ts=excluded.ts, received=excluded.received,
		alg=excluded.alg, kid=excluded.kid, hash=excluded.hash, raw=excluded.raw, sig=excluded.sig, verdict=excluded.verdict, findings=excluded.findings`
)

// pgLoadStates makes sure every vehicle of recs has a counter row, locks
// them in id order and reads them with the latest heartbeats: one round
// trip.
func pgLoadStates(ctx context.Context, tx pgx.Tx, recs []FrameRecord) (map[string]*vehicleState, error) {
	var ids []string
	seen := map[string]bool{}
	for i := range recs {
		if id := recs[i].VehicleID; !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	b := &pgx.Batch{}
	b.Queue(pgEnsureCounters, ids)
	b.Queue(pgLockStates, ids)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	states := map[string]*vehicleState{}
	for rows.Next() {
		st := &vehicleState{}
		var mask int64
		var hbEpoch, hbSeq *int64
		if err := rows.Scan(&st.c.VehicleID, &st.c.Epoch, &st.c.HighSeq, &mask, &hbEpoch, &hbSeq, &st.hb.hash); err != nil {
			rows.Close()
			return nil, err
		}
		st.ok, st.mask = st.c.Epoch >= 0, uint64(mask)
		if hbEpoch != nil && hbSeq != nil {
			st.hb.ok, st.hb.epoch, st.hb.seq = true, *hbEpoch, *hbSeq
		}
		states[st.c.VehicleID] = st
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(states) != len(ids) {
		return nil, fmt.Errorf("store: %d counter rows locked for %d vehicles", len(states), len(ids))
	}
	return states, br.Close()
}

// pgLoadStored reads, in one query, the hashes of the frames rows that may
// exist at the (epoch, seq) of recs before the call (mayBeStored); none is
// asked for in the common case, a frame newer than its counter.
func pgLoadStored(ctx context.Context, tx pgx.Tx, states map[string]*vehicleState, recs []FrameRecord) (map[frameKey][]byte, error) {
	var vs []string
	var es, ss []int64
	for i := range recs {
		r := &recs[i]
		if states[r.VehicleID].mayBeStored(*r) {
			vs, es, ss = append(vs, r.VehicleID), append(es, r.Epoch), append(ss, r.Seq)
		}
	}
	stored := map[frameKey][]byte{}
	if len(vs) == 0 {
		return stored, nil
	}
	rows, err := tx.Query(ctx, pgStoredHashes, vs, es, ss)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k frameKey
		var h []byte
		if err := rows.Scan(&k.vehicle, &k.epoch, &k.seq, &h); err != nil {
			return nil, err
		}
		stored[k] = h
	}
	return stored, rows.Err()
}

// queueFrames queues one insert of every frames row.
func queueFrames(b *pgx.Batch, frames []*FrameRecord) {
	if len(frames) == 0 {
		return
	}
	n := len(frames)
	var (
		ids, kinds, algs, kids, verdicts, findings = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		epochs, seqs                               = make([]int64, n), make([]int64, n)
		tss, rxs                                   = make([]time.Time, n), make([]time.Time, n)
		hashes, raws, sigs                         = make([][]byte, n), make([][]byte, n), make([][]byte, n)
	)
	for i, r := range frames {
		ids[i], epochs[i], seqs[i], kinds[i], tss[i], rxs[i] = r.VehicleID, r.Epoch, r.Seq, r.Kind, r.TS.UTC(), r.ReceivedAt.UTC()
		algs[i], kids[i], hashes[i], raws[i], sigs[i], verdicts[i], findings[i] = r.Alg, r.KID, r.Hash, r.Raw, r.Sig, r.Verdict, r.Findings
	}
	b.Queue(pgInsertFrames, ids, epochs, seqs, kinds, tss, rxs, algs, kids, hashes, raws, sigs, verdicts, findings)
}

// queueStates queues the writes of the counters and latest heartbeats the
// call moved.
func queueStates(b *pgx.Batch, states map[string]*vehicleState) {
	var ids []string
	var epochs, highs, masks []int64
	var hbs []*FrameRecord
	for _, st := range states {
		if !st.dirty {
			continue
		}
		ids, epochs, highs, masks = append(ids, st.c.VehicleID), append(epochs, st.c.Epoch), append(highs, st.c.HighSeq), append(masks, int64(st.mask))
		if st.hbRec != nil {
			hbs = append(hbs, st.hbRec)
		}
	}
	if len(ids) > 0 {
		b.Queue(pgPutCounters, ids, epochs, highs, masks)
	}
	if len(hbs) == 0 {
		return
	}
	n := len(hbs)
	var (
		hids, algs, kids, verdicts, findings = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		hepochs, seqs                        = make([]int64, n), make([]int64, n)
		tss, rxs                             = make([]time.Time, n), make([]time.Time, n)
		hashes, raws, sigs                   = make([][]byte, n), make([][]byte, n), make([][]byte, n)
	)
	for i, r := range hbs {
		hids[i], hepochs[i], seqs[i], tss[i], rxs[i] = r.VehicleID, r.Epoch, r.Seq, r.TS.UTC(), r.ReceivedAt.UTC()
		algs[i], kids[i], hashes[i], raws[i], sigs[i], verdicts[i], findings[i] = r.Alg, r.KID, r.Hash, r.Raw, r.Sig, r.Verdict, r.Findings
	}
	b.Queue(pgPutHeartbeats, hids, hepochs, seqs, tss, rxs, algs, kids, hashes, raws, sigs, verdicts, findings)
}
