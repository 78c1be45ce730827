package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

func (s *sqliteStore) AppendAuditItems(ctx context.Context, items []AuditItem) error {
	if len(items) == 0 {
		return nil
	}
	if err := checkAuditItems(items); err != nil {
		return err
	}
	return s.writeIn(ctx, laneOf(ctx), len(items), func(tx *sql.Tx) error {
		return s.appendAuditItemsTx(tx, items)
	})
}

// sqliteInsertAuditItems holds the insert of n pending items for each n of
// frameInsertRows: an append's items go in as few statements as fit, as
// its frames do (4 parameters a row).
var sqliteInsertAuditItems = func() map[int]string {
	m := map[int]string{}
	for _, n := range frameInsertRows {
		m[n] = `INSERT INTO audit_items(kind,ref,hash,created_us) VALUES (?,?,?,?)` + strings.Repeat(",(?,?,?,?)", n-1)
	}
	return m
}()

// appendAuditItemsTx records items as pending inside tx, in order: the
// call a frame, event or command write makes in its own transaction, so a
// row and its item commit together or not at all.
func (s *sqliteStore) appendAuditItemsTx(tx *sql.Tx, items []AuditItem) error {
	now := time.Now()
	args := make([]any, 0, 4*frameInsertRows[0])
	for len(items) > 0 {
		n := frameInsertRows[len(frameInsertRows)-1]
		for _, c := range frameInsertRows {
			if c <= len(items) {
				n = c
				break
			}
		}
		args = args[:0]
		for _, it := range items[:n] {
			at := it.CreatedAt
			if at.IsZero() {
				at = now
			}
			args = append(args, it.Kind, it.Ref, it.Hash, at.UnixMicro())
		}
		stmt, err := s.prep(tx, sqliteInsertAuditItems[n])
		if err != nil {
			return err
		}
		_, err = stmt.Exec(args...)
		stmt.Close()
		if err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

func (s *sqliteStore) SequenceAudit(ctx context.Context, limit int, step AuditStep) (AuditSequenced, error) {
	if limit <= 0 {
		return AuditSequenced{}, fmt.Errorf("store: audit sequencer limit %d", limit)
	}
	// A step is one commit of the one writer, so it keeps to the writer's
	// bound on a commit's work (MaxCommitRows): a heartbeat queued behind
	// it waits for a short commit, not for a whole leaf of 8,192 items.
	limit = min(limit, MaxCommitRows)
	var out AuditSequenced
	// The one writer is the lease: a SQLite store has one process.
	err := s.writeIn(ctx, laneOf(ctx), limit, func(tx *sql.Tx) error {
		out = AuditSequenced{}
		size, root, err := sqliteAuditSize(tx)
		if err != nil {
			return err
		}
		pending, err := sqliteScanItems(tx.Query(`SELECT id,kind,ref,hash,leaf,pos,created_us FROM audit_items WHERE leaf IS NULL ORDER BY id LIMIT ?`, limit))
		if err != nil || len(pending) == 0 {
			return err
		}
		tree := AuditTree{Size: size, Root: root, Nodes: func(ids []AuditNodeID) ([][]byte, error) { return sqliteAuditNodes(ctx, tx, ids) }}
		a, err := step(tree, pending)
		if err != nil {
			return err
		}
		used, err := checkAuditAppend(size, len(pending), a)
		if err != nil {
			return err
		}
		leafStmt, err := s.prep(tx, `INSERT INTO audit_leaves(idx,items,sequenced_us) VALUES(?,?,?)`)
		if err != nil {
			return err
		}
		defer leafStmt.Close()
		itemStmt, err := s.prep(tx, `UPDATE audit_items SET leaf=?, pos=? WHERE id=? AND leaf IS NULL`)
		if err != nil {
			return err
		}
		defer itemStmt.Close()
		next := 0
		for _, l := range a.Leaves {
			if _, err := leafStmt.Exec(int64(l.Index), l.Items, l.SequencedAt.UnixMicro()); err != nil {
				return fmt.Errorf("store: audit leaf %d: %v", l.Index, err)
			}
			for pos := range l.Items {
				res, err := itemStmt.Exec(int64(l.Index), pos, pending[next].ID)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n != 1 {
					return fmt.Errorf("store: audit item %d was sequenced under the step", pending[next].ID)
				}
				next++
			}
		}
		nodeStmt, err := s.prep(tx, `INSERT INTO audit_nodes(level,idx,hash) VALUES(?,?,?)`)
		if err != nil {
			return err
		}
		defer nodeStmt.Close()
		for _, n := range a.Nodes {
			if _, err := nodeStmt.Exec(int64(n.Level), int64(n.Index), n.Hash); err != nil {
				return fmt.Errorf("store: audit node %d/%d: %v", n.Level, n.Index, err)
			}
		}
		c := a.Checkpoint
		if _, err := tx.Exec(`INSERT INTO audit_checkpoints(size,root,note,created_us) VALUES(?,?,?,?)`,
			int64(c.Size), c.Root, c.Note, c.CreatedAt.UnixMicro()); err != nil {
			return fmt.Errorf("store: audit checkpoint %d: %v", c.Size, err)
		}
		out = AuditSequenced{Leaves: len(a.Leaves), Items: used, Checkpoint: c}
		return nil
	})
	if err != nil {
		return AuditSequenced{}, err
	}
	return out, nil
}

// sqliteAuditSize is the tree size the sequencer continues from: the latest
// checkpoint's, provided the stored leaves end exactly there.
func sqliteAuditSize(tx *sql.Tx) (uint64, []byte, error) {
	var size, leaves sql.NullInt64
	var root []byte
	if err := tx.QueryRow(`SELECT (SELECT MAX(size) FROM audit_checkpoints), (SELECT MAX(idx)+1 FROM audit_leaves),
		(SELECT root FROM audit_checkpoints ORDER BY size DESC LIMIT 1)`).Scan(&size, &leaves, &root); err != nil {
		return 0, nil, err
	}
	n, err := auditSize(size, leaves)
	return n, root, err
}

// auditSize checks that the leaves end at the latest checkpoint.
func auditSize(size, leaves sql.NullInt64) (uint64, error) {
	if size.Int64 != leaves.Int64 || size.Int64 < 0 {
		return 0, fmt.Errorf("%w: its leaves end at %d, the checkpoint has size %d; refusing to sequence", ErrAuditInconsistent, leaves.Int64, size.Int64)
	}
	return uint64(size.Int64), nil
}

func sqliteAuditNodes(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, ids []AuditNodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	// The ids join the table as a VALUES list (one primary-key lookup
	// each), in chunks that keep the statement under SQLite's variable limit.
	const chunk = 300
	for lo := 0; lo < len(ids); lo += chunk {
		hi := min(lo+chunk, len(ids))
		args := make([]any, 0, 3*(hi-lo))
		for i := lo; i < hi; i++ {
			args = append(args, i, int64(ids[i].Level), int64(ids[i].Index))
		}
		vals := strings.TrimSuffix(strings.Repeat("(?,?,?),", hi-lo), ",")
		rows, err := q.QueryContext(ctx, `WITH ids(o,l,i) AS (VALUES `+vals+`)
			SELECT ids.o, n.hash FROM ids JOIN audit_nodes n ON n.level=ids.l AND n.idx=ids.i`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var o int
			var h []byte
			if err := rows.Scan(&o, &h); err != nil {
				rows.Close()
				return nil, err
			}
			out[o] = h
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func sqliteScanItems(rows *sql.Rows, err error) ([]AuditItem, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditItem
	for rows.Next() {
		var it AuditItem
		var leaf, pos sql.NullInt64
		var us int64
		if err := rows.Scan(&it.ID, &it.Kind, &it.Ref, &it.Hash, &leaf, &pos, &us); err != nil {
			return nil, err
		}
		it.Sequenced, it.Leaf, it.Pos = leaf.Valid, uint64(leaf.Int64), int(pos.Int64)
		it.CreatedAt = time.UnixMicro(us).UTC()
		out = append(out, it)
	}
	return out, rows.Err()
}

func (s *sqliteStore) AuditItems(ctx context.Context, from, to uint64, after *AuditItemKey, limit int) ([]AuditItem, error) {
	lo, hi, aLeaf, aPos, aID, err := auditItemsQuery(from, to, after, limit)
	if err != nil {
		return nil, err
	}
	return sqliteScanItems(s.rdb.QueryContext(ctx, `SELECT id,kind,ref,hash,leaf,pos,created_us FROM audit_items
		WHERE leaf >= ? AND leaf < ? AND (leaf, pos, id) > (?, ?, ?) ORDER BY leaf, pos, id LIMIT ?`, lo, hi, aLeaf, aPos, aID, limit))
}

func (s *sqliteStore) FindAuditItems(ctx context.Context, kind, ref string) ([]AuditItem, error) {
	return sqliteScanItems(s.rdb.QueryContext(ctx, `SELECT id,kind,ref,hash,leaf,pos,created_us FROM audit_items
		WHERE kind=? AND ref=? ORDER BY id LIMIT ?`, kind, ref, MaxAuditItemsByRef))
}

func (s *sqliteStore) PendingAuditItems(ctx context.Context) (int64, error) {
	var n int64
	err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_items WHERE leaf IS NULL`).Scan(&n)
	return n, err
}

func (s *sqliteStore) AuditLeaves(ctx context.Context, from, to uint64, limit int) ([]AuditLeaf, error) {
	if err := checkAuditLeavesLimit(limit); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT idx,items,sequenced_us FROM audit_leaves WHERE idx >= ? AND idx < ? ORDER BY idx LIMIT ?`,
		int64(min(from, 1<<63-1)), int64(min(to, 1<<63-1)), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditLeaf
	for rows.Next() {
		var l AuditLeaf
		var idx, us int64
		if err := rows.Scan(&idx, &l.Items, &us); err != nil {
			return nil, err
		}
		l.Index, l.SequencedAt = uint64(idx), time.UnixMicro(us).UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

func (s *sqliteStore) AuditNodes(ctx context.Context, ids []AuditNodeID) ([][]byte, error) {
	return sqliteAuditNodes(ctx, s.rdb, ids)
}

func (s *sqliteStore) LatestAuditCheckpoint(ctx context.Context) (AuditCheckpoint, error) {
	return s.auditCheckpoint(ctx, `SELECT size,root,note,created_us FROM audit_checkpoints ORDER BY size DESC LIMIT 1`)
}

func (s *sqliteStore) AuditCheckpointAt(ctx context.Context, size uint64) (AuditCheckpoint, error) {
	return s.auditCheckpoint(ctx, `SELECT size,root,note,created_us FROM audit_checkpoints WHERE size=?`, int64(size))
}

func (s *sqliteStore) auditCheckpoint(ctx context.Context, q string, args ...any) (AuditCheckpoint, error) {
	var c AuditCheckpoint
	var size, us int64
	err := s.rdb.QueryRowContext(ctx, q, args...).Scan(&size, &c.Root, &c.Note, &us)
	if errors.Is(err, sql.ErrNoRows) {
		return AuditCheckpoint{}, fmt.Errorf("%w: audit checkpoint", ErrNotFound)
	}
	c.Size, c.CreatedAt = uint64(size), time.UnixMicro(us).UTC()
	return c, err
}

func (s *sqliteStore) AddAuditLogKey(ctx context.Context, k AuditLogKey) error {
	if len(k.Sealed) == 0 {
		return ErrClearSecret
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO audit_log_key(id,origin,verifier,sealed,created_us) VALUES(1,?,?,?,?)`,
			k.Origin, k.Verifier, k.Sealed, k.CreatedAt.UnixMicro())
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: the audit log key exists", ErrConflict)
		}
		return err
	})
}

func (s *sqliteStore) GetAuditLogKey(ctx context.Context) (AuditLogKey, error) {
	var k AuditLogKey
	var us int64
	err := s.rdb.QueryRowContext(ctx, `SELECT origin,verifier,sealed,created_us FROM audit_log_key WHERE id=1`).Scan(&k.Origin, &k.Verifier, &k.Sealed, &us)
	if errors.Is(err, sql.ErrNoRows) {
		return AuditLogKey{}, fmt.Errorf("%w: audit log key", ErrNotFound)
	}
	k.CreatedAt = time.UnixMicro(us).UTC()
	return k, err
}
