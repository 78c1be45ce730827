package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// auditLeaseLock takes the audit sequencer lease: a transaction-scoped
// advisory lock, released by the step's commit or rollback, and by the
// server when the replica's connection dies, so another replica takes
// over at its next step. Advisory locks are database-wide, so the key is
// derived from the schema: replicas of one gateway (one schema) share the
// lease, gateways in other schemas of the same database do not contend.
const auditLeaseLock = `SELECT pg_try_advisory_xact_lock(hashtextextended(current_schema() || '/fifthwheel/audit-sequencer', 0))`

func (s *pgStore) AppendAuditItems(ctx context.Context, items []AuditItem) error {
	if len(items) == 0 {
		return nil
	}
	if err := checkAuditItems(items); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return appendAuditItemsPg(ctx, tx, items) })
}

// appendAuditItemsPg records items as pending inside tx.
func appendAuditItemsPg(ctx context.Context, tx pgx.Tx, items []AuditItem) error {
	b := &pgx.Batch{}
	queueAuditItems(b, items)
	return tx.SendBatch(ctx, b).Close()
}

// queueAuditItems queues one insert of items as pending, in order: the
// statement a frame, event or command write sends in its own transaction,
// so a row and its item commit together or not at all.
func queueAuditItems(b *pgx.Batch, items []AuditItem) {
	if len(items) == 0 {
		return
	}
	kinds, refs := make([]string, len(items)), make([]string, len(items))
	hashes, ats := make([][]byte, len(items)), make([]time.Time, len(items))
	now := time.Now().UTC()
	for i, it := range items {
		kinds[i], refs[i], hashes[i], ats[i] = it.Kind, it.Ref, it.Hash, it.CreatedAt.UTC()
		if it.CreatedAt.IsZero() {
			ats[i] = now
		}
	}
	// unnest keeps the array order, and BIGSERIAL ids follow it within the
	// statement.
	b.Queue(`INSERT INTO audit_items(kind,ref,hash,created)
		SELECT k,r,h,c FROM unnest($1::text[], $2::text[], $3::bytea[], $4::timestamptz[]) WITH ORDINALITY AS u(k,r,h,c,o) ORDER BY o`,
		kinds, refs, hashes, ats)
}

func (s *pgStore) SequenceAudit(ctx context.Context, limit int, step AuditStep) (AuditSequenced, error) {
	if limit <= 0 {
		return AuditSequenced{}, fmt.Errorf("store: audit sequencer limit %d", limit)
	}
	var out AuditSequenced
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out = AuditSequenced{}
		var held bool
		if err := tx.QueryRow(ctx, auditLeaseLock).Scan(&held); err != nil {
			return err
		}
		if !held {
			return ErrLeaseHeld
		}
		// Read after the lock: under READ COMMITTED this statement sees the
		// previous holder's committed step.
		var size, leaves sql.NullInt64
		var root []byte
		if err := tx.QueryRow(ctx, `SELECT (SELECT MAX(size) FROM audit_checkpoints), (SELECT MAX(idx)+1 FROM audit_leaves),
			(SELECT root FROM audit_checkpoints ORDER BY size DESC LIMIT 1)`).Scan(&size, &leaves, &root); err != nil {
			return err
		}
		n, err := auditSize(size, leaves)
		if err != nil {
			return err
		}
		// Leaf order is this step's read order (id order among the rows
		// committed now), never the ids themselves: a BIGSERIAL is not commit
		// order, and an item committed later with a smaller id simply goes
		// into a later leaf.
		rows, err := tx.Query(ctx, `SELECT id,kind,ref,hash,leaf,pos,created FROM audit_items WHERE leaf IS NULL ORDER BY id LIMIT $1`, limit)
		pending, err := pgScanItems(rows, err)
		if err != nil || len(pending) == 0 {
			return err
		}
		tree := AuditTree{Size: n, Root: root, Nodes: func(ids []AuditNodeID) ([][]byte, error) { return pgAuditNodes(ctx, tx, ids) }}
		a, err := step(tree, pending)
		if err != nil {
			return err
		}
		used, err := checkAuditAppend(n, len(pending), a)
		if err != nil {
			return err
		}
		lidx, lcount, lat := make([]int64, len(a.Leaves)), make([]int64, len(a.Leaves)), make([]time.Time, len(a.Leaves))
		ids, leafOf, posOf := make([]int64, 0, used), make([]int64, 0, used), make([]int64, 0, used)
		next := 0
		for i, l := range a.Leaves {
			lidx[i], lcount[i], lat[i] = int64(l.Index), int64(l.Items), l.SequencedAt.UTC()
			for pos := range l.Items {
				ids, leafOf, posOf = append(ids, pending[next].ID), append(leafOf, int64(l.Index)), append(posOf, int64(pos))
				next++
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_leaves(idx,items,sequenced) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[])`, lidx, lcount, lat); err != nil {
			return fmt.Errorf("store: audit leaves: %s", safePgErr(err))
		}
		tag, err := tx.Exec(ctx, `UPDATE audit_items a SET leaf=u.l, pos=u.p FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u(i,l,p)
			WHERE a.id=u.i AND a.leaf IS NULL`, ids, leafOf, posOf)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != int64(used) {
			return fmt.Errorf("store: audit items were sequenced under the step (%d of %d)", tag.RowsAffected(), used)
		}
		lv, ix, hs := make([]int64, len(a.Nodes)), make([]int64, len(a.Nodes)), make([][]byte, len(a.Nodes))
		for i, nd := range a.Nodes {
			lv[i], ix[i], hs[i] = int64(nd.Level), int64(nd.Index), nd.Hash
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit_nodes(level,idx,hash) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[])`, lv, ix, hs); err != nil {
			return fmt.Errorf("store: audit nodes: %s", safePgErr(err))
		}
		c := a.Checkpoint
		if _, err := tx.Exec(ctx, `INSERT INTO audit_checkpoints(size,root,note,created) VALUES($1,$2,$3,$4)`, int64(c.Size), c.Root, c.Note, c.CreatedAt.UTC()); err != nil {
			return fmt.Errorf("store: audit checkpoint %d: %s", c.Size, safePgErr(err))
		}
		out = AuditSequenced{Leaves: len(a.Leaves), Items: used, Checkpoint: c}
		return nil
	})
	if err != nil {
		return AuditSequenced{}, err
	}
	return out, nil
}

func pgAuditNodes(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, ids []AuditNodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	lv, ix := make([]int64, len(ids)), make([]int64, len(ids))
	for i, id := range ids {
		lv[i], ix[i] = int64(id.Level), int64(id.Index)
	}
	rows, err := q.Query(ctx, `SELECT u.o, n.hash FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS u(l,i,o)
		JOIN audit_nodes n ON n.level=u.l AND n.idx=u.i`, lv, ix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var o int64
		var h []byte
		if err := rows.Scan(&o, &h); err != nil {
			return nil, err
		}
		out[o-1] = h
	}
	return out, rows.Err()
}

func pgScanItems(rows pgx.Rows, err error) ([]AuditItem, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditItem
	for rows.Next() {
		var it AuditItem
		var leaf, pos *int64
		if err := rows.Scan(&it.ID, &it.Kind, &it.Ref, &it.Hash, &leaf, &pos, &it.CreatedAt); err != nil {
			return nil, err
		}
		if leaf != nil && pos != nil {
			it.Sequenced, it.Leaf, it.Pos = true, uint64(*leaf), int(*pos)
		}
		it.CreatedAt = it.CreatedAt.UTC()
		out = append(out, it)
	}
	return out, rows.Err()
}

func (s *pgStore) AuditItems(ctx context.Context, from, to uint64, after *AuditItemKey, limit int) ([]AuditItem, error) {
	lo, hi, aLeaf, aPos, aID, err := auditItemsQuery(from, to, after, limit)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id,kind,ref,hash,leaf,pos,created FROM audit_items
		WHERE leaf >= $1 AND leaf < $2 AND (leaf, pos, id) > ($3, $4, $5) ORDER BY leaf, pos, id LIMIT $6`, lo, hi, aLeaf, aPos, aID, limit)
	return pgScanItems(rows, err)
}

func (s *pgStore) FindAuditItems(ctx context.Context, kind, ref string) ([]AuditItem, error) {
	rows, err := s.pool.Query(ctx, `SELECT id,kind,ref,hash,leaf,pos,created FROM audit_items
		WHERE kind=$1 AND ref=$2 ORDER BY id LIMIT $3`, kind, ref, MaxAuditItemsByRef)
	return pgScanItems(rows, err)
}

func (s *pgStore) PendingAuditItems(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM audit_items WHERE leaf IS NULL`).Scan(&n)
	return n, err
}

func (s *pgStore) AuditLeaves(ctx context.Context, from, to uint64, limit int) ([]AuditLeaf, error) {
	if err := checkAuditLeavesLimit(limit); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT idx,items,sequenced FROM audit_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3`,
		int64(min(from, 1<<63-1)), int64(min(to, 1<<63-1)), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditLeaf
	for rows.Next() {
		var l AuditLeaf
		var idx, items int64
		if err := rows.Scan(&idx, &items, &l.SequencedAt); err != nil {
			return nil, err
		}
		l.Index, l.Items, l.SequencedAt = uint64(idx), int(items), l.SequencedAt.UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

func (s *pgStore) AuditNodes(ctx context.Context, ids []AuditNodeID) ([][]byte, error) {
	return pgAuditNodes(ctx, s.pool, ids)
}

func (s *pgStore) LatestAuditCheckpoint(ctx context.Context) (AuditCheckpoint, error) {
	return s.auditCheckpoint(ctx, `SELECT size,root,note,created FROM audit_checkpoints ORDER BY size DESC LIMIT 1`)
}

func (s *pgStore) AuditCheckpointAt(ctx context.Context, size uint64) (AuditCheckpoint, error) {
	return s.auditCheckpoint(ctx, `SELECT size,root,note,created FROM audit_checkpoints WHERE size=$1`, int64(size))
}

func (s *pgStore) auditCheckpoint(ctx context.Context, q string, args ...any) (AuditCheckpoint, error) {
	var c AuditCheckpoint
	var size int64
	err := s.pool.QueryRow(ctx, q, args...).Scan(&size, &c.Root, &c.Note, &c.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return AuditCheckpoint{}, fmt.Errorf("%w: audit checkpoint", ErrNotFound)
	}
	c.Size, c.CreatedAt = uint64(size), c.CreatedAt.UTC()
	return c, err
}

func (s *pgStore) AddAuditLogKey(ctx context.Context, k AuditLogKey) error {
	if len(k.Sealed) == 0 {
		return ErrClearSecret
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO audit_log_key(id,origin,verifier,sealed,created) VALUES(1,$1,$2,$3,$4) ON CONFLICT(id) DO NOTHING`,
		k.Origin, k.Verifier, k.Sealed, k.CreatedAt.UTC())
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: the audit log key exists", ErrConflict)
	}
	return nil
}

func (s *pgStore) GetAuditLogKey(ctx context.Context) (AuditLogKey, error) {
	var k AuditLogKey
	err := s.pool.QueryRow(ctx, `SELECT origin,verifier,sealed,created FROM audit_log_key WHERE id=1`).Scan(&k.Origin, &k.Verifier, &k.Sealed, &k.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return AuditLogKey{}, fmt.Errorf("%w: audit log key", ErrNotFound)
	}
	k.CreatedAt = k.CreatedAt.UTC()
	return k, err
}
