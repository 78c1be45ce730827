package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/transparency-dev/merkle/compact"

	"github.com/fifthwheel/fifthwheel/internal/store"
)

// SequencerStore is what the sequencer needs of the store.
type SequencerStore interface {
	AppendAuditItems(ctx context.Context, items []store.AuditItem) error
	SequenceAudit(ctx context.Context, limit int, step store.AuditStep) (store.AuditSequenced, error)
}

// SequencerConfig configures a Sequencer.
type SequencerConfig struct {
	// Interval is Run's period; DefaultSequenceInterval when zero.
	Interval time.Duration
	// LeafItems is the most items per leaf; MaxLeafItems when zero.
	LeafItems int
}

// SequencerDeps are a Sequencer's collaborators.
type SequencerDeps struct {
	Store SequencerStore
	Key   *LogKey
	Log   *slog.Logger // nil: slog.Default()
	Now   func() time.Time
	// OnCheckpoint, if set, is called by Run with the latest checkpoint
	// after a drain that grew the log (to publish it). It runs on Run's
	// goroutine: it must not block for long.
	OnCheckpoint func(ctx context.Context, cp store.AuditCheckpoint)
}

// Sequencer turns pending items into leaves and signed checkpoints. Any
// number of replicas may run one: the store's lease lets one step at a time
// through, and each step continues the tree from the latest checkpoint.
type Sequencer struct {
	cfg  SequencerConfig
	deps SequencerDeps
	rf   compact.RangeFactory
}

// NewSequencer validates cfg and deps.
func NewSequencer(deps SequencerDeps, cfg SequencerConfig) (*Sequencer, error) {
	if cfg.Interval == 0 {
		cfg.Interval = DefaultSequenceInterval
	}
	if cfg.LeafItems == 0 {
		cfg.LeafItems = MaxLeafItems
	}
	if cfg.Interval < 0 || cfg.LeafItems < 0 || cfg.LeafItems > MaxLeafItems {
		return nil, fmt.Errorf("audit: sequencer interval %v, leaf items %d (at most %d)", cfg.Interval, cfg.LeafItems, MaxLeafItems)
	}
	if deps.Store == nil || deps.Key == nil {
		return nil, errors.New("audit: a Sequencer needs a Store and a Key")
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Sequencer{cfg: cfg, deps: deps, rf: compact.RangeFactory{Hash: hasher.HashChildren}}, nil
}

// Append validates items and records them as pending.
func (q *Sequencer) Append(ctx context.Context, items ...Item) error {
	rows, err := Rows(items...)
	if err != nil {
		return err
	}
	return q.deps.Store.AppendAuditItems(ctx, rows)
}

// Rows validates items and returns them as the store's pending rows: what
// a store write that records its own rows' items in its transaction takes.
func Rows(items ...Item) ([]store.AuditItem, error) {
	rows := make([]store.AuditItem, len(items))
	for i, it := range items {
		if err := it.Valid(); err != nil {
			return nil, err
		}
		rows[i] = store.AuditItem{Kind: string(it.Kind), Ref: it.Ref, Hash: bytes.Clone(it.Hash[:])}
	}
	return rows, nil
}

// Step runs one sequencer step: up to LeafItems pending items become one
// leaf and a signed checkpoint, in one store transaction. It returns
// store.ErrLeaseHeld when another replica is sequencing, and a zero result
// when nothing is pending.
func (q *Sequencer) Step(ctx context.Context) (store.AuditSequenced, error) {
	return q.deps.Store.SequenceAudit(ctx, q.cfg.LeafItems, q.step)
}

// Drain runs steps until nothing is pending (or the lease is elsewhere).
func (q *Sequencer) Drain(ctx context.Context) (leaves, items int, err error) {
	for {
		r, err := q.Step(ctx)
		if err != nil || r.Leaves == 0 {
			return leaves, items, err
		}
		leaves, items = leaves+r.Leaves, items+r.Items
	}
}

// Run drains every Interval until ctx ends. A step that fails is logged and
// retried at the next tick; a held lease is the normal state of a replica
// that is not the sequencer. A log that does not match its checkpoint
// (store.ErrAuditInconsistent) stops Run, which returns that error: going
// on would fork the log. The caller raises the security event; items stay
// pending until an operator has looked (`audit verify`) and restarts.
// After a drain that added leaves, OnCheckpoint (if set) gets the latest
// checkpoint, to publish it.
func (q *Sequencer) Run(ctx context.Context) error {
	t := time.NewTicker(q.cfg.Interval)
	defer t.Stop()
	for {
		var last store.AuditSequenced
		for {
			r, err := q.Step(ctx)
			if errors.Is(err, store.ErrAuditInconsistent) {
				return err
			}
			if err != nil && !errors.Is(err, store.ErrLeaseHeld) && ctx.Err() == nil {
				q.deps.Log.ErrorContext(ctx, "audit: sequencer step failed", slog.Any("err", err))
			}
			if err != nil || r.Leaves == 0 {
				break
			}
			last = r
		}
		if last.Leaves > 0 && q.deps.OnCheckpoint != nil {
			q.deps.OnCheckpoint(ctx, last.Checkpoint)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// step is the tree math of one step, run inside the store's transaction:
// rebuild the compact range of the current tree from its stored nodes,
// append one leaf over the pending items, and sign the new checkpoint.
func (q *Sequencer) step(tree store.AuditTree, pending []store.AuditItem) (store.AuditAppend, error) {
	rng, err := q.frontier(tree)
	if err != nil {
		return store.AuditAppend{}, err
	}
	pending = pending[:min(len(pending), q.cfg.LeafItems)]
	data, err := leafOf(pending)
	if err != nil {
		return store.AuditAppend{}, fmt.Errorf("audit: pending %w", err)
	}
	var nodes []store.AuditNode
	visit := func(id compact.NodeID, h []byte) {
		nodes = append(nodes, store.AuditNode{AuditNodeID: store.AuditNodeID{Level: id.Level, Index: id.Index}, Hash: h})
	}
	if err := rng.Append(LeafHash(data), visit); err != nil {
		return store.AuditAppend{}, err
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return store.AuditAppend{}, err
	}
	signed, err := q.deps.Key.SignCheckpoint(rng.End(), root)
	if err != nil {
		return store.AuditAppend{}, err
	}
	now := q.deps.Now()
	return store.AuditAppend{
		Leaves:     []store.AuditLeaf{{Index: tree.Size, Items: len(pending), SequencedAt: now}},
		Nodes:      nodes,
		Checkpoint: store.AuditCheckpoint{Size: rng.End(), Root: root, Note: signed, CreatedAt: now},
	}, nil
}

// frontier is the compact range [0, size) read from the stored nodes. A
// missing one stops the sequencer: continuing would fork the log.
func (q *Sequencer) frontier(tree store.AuditTree) (*compact.Range, error) {
	ids := compact.RangeNodes(0, tree.Size, nil)
	hashes, err := tree.Nodes(storeIDs(ids))
	if err != nil {
		return nil, err
	}
	for i, h := range hashes {
		if len(h) != sha256.Size {
			return nil, fmt.Errorf("%w: node %d/%d is missing or malformed; refusing to sequence", store.ErrAuditInconsistent, ids[i].Level, ids[i].Index)
		}
	}
	rng, err := q.rf.NewRange(0, tree.Size, hashes)
	if err != nil {
		return nil, err
	}
	// The stored nodes must give the root the latest checkpoint signed, or
	// the next checkpoint would not extend it.
	if root, err := rng.GetRootHash(nil); err != nil || !bytes.Equal(root, tree.Root) {
		return nil, fmt.Errorf("%w: the stored nodes do not give its root (size %d); refusing to sequence", store.ErrAuditInconsistent, tree.Size)
	}
	return rng, nil
}

func storeIDs(ids []compact.NodeID) []store.AuditNodeID {
	out := make([]store.AuditNodeID, len(ids))
	for i, id := range ids {
		out[i] = store.AuditNodeID{Level: id.Level, Index: id.Index}
	}
	return out
}
