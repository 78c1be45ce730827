package audit_test

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// FuzzParseLeafData: a leaf's bytes parse only if LeafData would have
// written exactly them (round trip), and never panic.
func FuzzParseLeafData(f *testing.F) {
	f.Add(audit.LeafData([][sha256.Size]byte{{1}, {2}}))
	f.Add(audit.LeafData([][sha256.Size]byte{{}}))
	f.Add([]byte("fifthwheel/audit/leaf/v1\x00\x00\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := audit.ParseLeafData(b)
		if err != nil {
			return
		}
		if !bytes.Equal(audit.LeafData(ds), b) {
			t.Fatalf("%x parsed but re-encodes otherwise", b)
		}
	})
}

// FuzzVerifyItemProof: no input panics the offline verifier, and only the
// one proof the log made (byte for byte) proves the item.
func FuzzVerifyItemProof(f *testing.F) {
	l := newTestLog(f, storetest.Engines()[0])
	items := l.batches(f, 3, 3)
	signed := l.checkpointAt(f, 3)
	cp, err := audit.OpenCheckpoint(signed, l.key.Verifier())
	if err != nil {
		f.Fatal(err)
	}
	good, err := audit.ItemProof(ctx, l.st, 1, 1, cp, signed)
	if err != nil {
		f.Fatal(err)
	}
	it := items[4]
	f.Add(good)
	f.Add(signed)
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, _, _, err := audit.VerifyItemProof(b, it, l.key.Verifier()); err == nil && !bytes.Equal(b, good) {
			t.Fatalf("another byte string proves the item:\n%q", b)
		}
	})
}
