package audit_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/sealtest"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

var ctx = context.Background()

const origin = "fifthwheel.test/audit"

// testLog is one gateway's view of a log: its store, key and sequencer.
type testLog struct {
	cfg    store.Config
	st     store.Store
	key    *audit.LogKey
	seq    *audit.Sequencer
	sealer sealtest.GCM
	src    mapSource
	n      int // items appended so far
}

func newTestLog(t testing.TB, e storetest.Engine) *testLog {
	t.Helper()
	cfg := e.New(t)
	l := &testLog{cfg: cfg, sealer: sealtest.New(t), src: mapSource{}}
	l.open(t)
	return l
}

// open (re)opens the store and the log on l.cfg: another replica when
// called on a copy.
func (l *testLog) open(t testing.TB) {
	t.Helper()
	l.st = storetest.OpenConfig(t, l.cfg)
	key, err := audit.LoadOrCreateKey(ctx, l.st, l.sealer, origin, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l.key = key
	l.seq, err = audit.NewSequencer(audit.SequencerDeps{Store: l.st, Key: key}, audit.SequencerConfig{})
	if err != nil {
		t.Fatal(err)
	}
}

// item makes the next item: a frame or an event whose stored bytes are
// "payload N", recorded in the test's Source.
func (l *testLog) item() audit.Item {
	l.n++
	kind := audit.KindFrame
	if l.n%2 == 0 {
		kind = audit.KindEvent
	}
	it := audit.NewItem(kind, fmt.Sprintf("ref-%d", l.n), fmt.Appendf(nil, "payload %d", l.n))
	l.src[it.Kind+"/"+audit.Kind(it.Ref)] = it.Hash
	return it
}

// batches appends leaves batches of per items, sequencing each as one leaf.
func (l *testLog) batches(t testing.TB, leaves, per int) []audit.Item {
	t.Helper()
	var all []audit.Item
	for range leaves {
		var b []audit.Item
		for range per {
			b = append(b, l.item())
		}
		if err := l.seq.Append(ctx, b...); err != nil {
			t.Fatal(err)
		}
		if n, items, err := l.seq.Drain(ctx); err != nil || n != 1 || items != per {
			t.Fatalf("Drain: %d leaves, %d items, %v", n, items, err)
		}
		all = append(all, b...)
	}
	return all
}

func (l *testLog) checkpointAt(t testing.TB, size uint64) []byte {
	t.Helper()
	c, err := l.st.AuditCheckpointAt(ctx, size)
	if err != nil {
		t.Fatal(err)
	}
	return c.Note
}

// mapSource is a Source over the items the test appended.
type mapSource map[audit.Kind][sha256.Size]byte

func (m mapSource) ItemHash(_ context.Context, kind audit.Kind, ref string) ([sha256.Size]byte, bool, error) {
	h, ok := m[kind+"/"+audit.Kind(ref)]
	return h, ok, nil
}

var rfc6962Hasher = rfc6962.DefaultHasher
