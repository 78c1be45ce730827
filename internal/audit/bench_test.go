package audit_test

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/compact"

	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// Micro-benchmarks explaining the figures in docs/AUDIT.md (not a load
// test): the tree math alone, a leaf's hashing, and the durable store paths.

// BenchmarkAppendRoot: append N leaf hashes to a compact range and take the
// root, as the sequencer does (in memory, no store).
func BenchmarkAppendRoot(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 16} {
		b.Run(fmt.Sprintf("leaves=%d", n), func(b *testing.B) {
			rf := compact.RangeFactory{Hash: rfc6962Hasher.HashChildren}
			leaves := make([][]byte, n)
			for i := range leaves {
				h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
				leaves[i] = h[:]
			}
			var nodes int
			for b.Loop() {
				r := rf.NewEmptyRange(0)
				for _, l := range leaves {
					if err := r.Append(l, func(compact.NodeID, []byte) { nodes++ }); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := r.GetRootHash(nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/leaf")
		})
	}
}

// BenchmarkLeafHash: the digests and RFC 6962 leaf hash of one full leaf.
func BenchmarkLeafHash(b *testing.B) {
	items := make([]audit.Item, audit.MaxLeafItems)
	for i := range items {
		items[i] = audit.NewItem(audit.KindFrame, fmt.Sprintf("veh-%d/1/%d", i%100, i), []byte("payload"))
	}
	for b.Loop() {
		ds := make([][sha256.Size]byte, len(items))
		for i, it := range items {
			ds[i] = it.Digest()
		}
		audit.LeafHash(audit.LeafData(ds))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/item")
}

// BenchmarkAppendItems: durable appends of pending items, 1,000 a call.
func BenchmarkAppendItems(b *testing.B) {
	for _, e := range storetest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			l := newTestLog(b, e)
			const per = 1000
			rows := make([]store.AuditItem, per)
			for b.Loop() {
				for i := range rows {
					it := l.item()
					rows[i] = store.AuditItem{Kind: string(it.Kind), Ref: it.Ref, Hash: it.Hash[:]}
				}
				if err := l.st.AppendAuditItems(ctx, rows); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "items/s")
		})
	}
}

// BenchmarkSequenceStep: sequencing 8,192 pending items (read, hash,
// append, sign, write the leaves, nodes, items and checkpoints, commit
// durably): one step on PostgreSQL, 16 steps of MaxCommitRows on SQLite.
// The items are appended outside the timer.
func BenchmarkSequenceStep(b *testing.B) {
	for _, e := range storetest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			l := newTestLog(b, e)
			rows := make([]store.AuditItem, audit.MaxLeafItems)
			for b.Loop() {
				b.StopTimer()
				for i := range rows {
					it := l.item()
					rows[i] = store.AuditItem{Kind: string(it.Kind), Ref: it.Ref, Hash: it.Hash[:]}
				}
				if err := l.st.AppendAuditItems(ctx, rows); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, n, err := l.seq.Drain(ctx); err != nil || n != len(rows) {
					b.Fatalf("%d items, %v", n, err)
				}
			}
			b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "items/s")
		})
	}
}

// BenchmarkProofs: an inclusion proof and a consistency proof read from
// the stored nodes of a 1,024-leaf tree.
func BenchmarkProofs(b *testing.B) {
	for _, e := range storetest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			l := newTestLog(b, e)
			const size = 1024
			for range size {
				if err := l.seq.Append(ctx, l.item()); err != nil {
					b.Fatal(err)
				}
				if _, err := l.seq.Step(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("inclusion", func(b *testing.B) {
				i := uint64(0)
				for b.Loop() {
					if _, err := audit.InclusionProof(ctx, l.st, i%size, size); err != nil {
						b.Fatal(err)
					}
					i += 7
				}
			})
			b.Run("consistency", func(b *testing.B) {
				i := uint64(1)
				for b.Loop() {
					if _, err := audit.ConsistencyProof(ctx, l.st, 1+i%(size-1), size); err != nil {
						b.Fatal(err)
					}
					i += 7
				}
			})
			b.Run("verify", func(b *testing.B) {
				saved := l.checkpointAt(b, 1)
				for b.Loop() {
					if r, err := audit.Verify(ctx, l.st, l.key.Verifier(), saved, audit.VerifyOptions{}); err != nil || !r.OK() {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/leaf")
			})
		})
	}
}
