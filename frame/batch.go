package frame

import (
	"crypto/ed25519"

	"github.com/hdevalence/ed25519consensus"
)

// BatchVerifier verifies many envelopes at once. Ed25519 signatures are
// checked together with one ed25519consensus batch equation (about half the
// cost per signature at n=64); if the batch fails, each is verified alone to
// find the bad ones, so results are always per envelope. ES256 and HS256
// envelopes are verified one by one. Every Ed25519 signature passes the same
// pre-checks as Ed25519PublicKey.Verify (length, canonical R) and the batch
// equation is the same cofactored ZIP-215 equation, so a signature's verdict
// does not depend on the path.
//
// A BatchVerifier is for one goroutine and one batch; the zero value is
// ready to use.
type BatchVerifier struct {
	items []batchItem
}

type batchItem struct {
	v     Verifier
	frame []byte
	sig   []byte
	err   error
	batch bool // an Ed25519 item that passed the pre-checks
}

// Add queues e for verification with v, the key registered under e.KID for
// the sending vehicle, and returns its index in the results of Verify. The
// envelope must not be modified until Verify returns.
func (b *BatchVerifier) Add(e *Envelope, v Verifier) int {
	it := batchItem{v: v, frame: e.frame, sig: e.Sig}
	if v == nil || v.Alg() != e.Alg {
		it.err = newError(CodeAlgMismatch, "/alg", "the key registered under kid is not for this alg")
	}
	b.add(it)
	return len(b.items) - 1
}

// add queues one item; the Wycheproof batch test uses it with raw messages.
func (b *BatchVerifier) add(it batchItem) {
	if it.err == nil {
		if k, ok := it.v.(*Ed25519PublicKey); ok {
			if k == nil || len(k.pub) != ed25519.PublicKeySize {
				it.err = errUnusableKey()
			} else {
				it.err = ed25519Precheck(it.sig)
				it.batch = it.err == nil
			}
		}
	}
	b.items = append(b.items, it)
}

// Len returns the number of queued envelopes.
func (b *BatchVerifier) Len() int { return len(b.items) }

// Verify verifies every queued envelope and returns one result per Add, in
// order: nil, or an *Error (CodeAlgMismatch, CodeBadSignature). The
// BatchVerifier is then empty and can be reused.
func (b *BatchVerifier) Verify() []error {
	errs := make([]error, len(b.items))
	n := 0
	for _, it := range b.items {
		if it.batch {
			n++
		}
	}
	batchOK := false
	if n > 1 {
		bv := ed25519consensus.NewPreallocatedBatchVerifier(n)
		for _, it := range b.items {
			if it.batch {
				bv.Add(ed25519.PublicKey(it.v.(*Ed25519PublicKey).pub), it.frame, it.sig)
			}
		}
		batchOK = bv.Verify()
	}
	for i, it := range b.items {
		switch {
		case it.err != nil:
			errs[i] = it.err
		case it.batch && batchOK:
			errs[i] = nil
		default:
			errs[i] = it.v.Verify(it.frame, it.sig)
		}
	}
	clear(b.items)
	b.items = b.items[:0]
	return errs
}
