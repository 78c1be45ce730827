package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Kind is what an audited item is.
type Kind string

// The kinds of items the log covers. A new kind is added here and nowhere
// else; the leaf encoding carries the kind's name, so adding one does not
// change the format.
const (
	KindFrame    Kind = store.AuditKindFrame    // a stored vehicle frame, as received
	KindEvent    Kind = store.AuditKindEvent    // a stored security event
	KindCommand  Kind = store.AuditKindCommand  // a command, one of its transitions, or its issue, delivery or answer, as stored
	KindApproval Kind = store.AuditKindApproval // an approval of a command, as stored
)

func (k Kind) known() bool {
	switch k {
	case KindFrame, KindEvent, KindCommand, KindApproval:
		return true
	}
	return false
}

// Item is one audited item: what it is, a stable reference to it (a frame
// id, an event id) and the SHA-256 of its exact stored bytes.
type Item struct {
	Kind Kind
	Ref  string
	Hash [sha256.Size]byte
}

// NewItem returns the item for stored, the exact bytes the store keeps.
func NewItem(kind Kind, ref string, stored []byte) Item {
	return Item{Kind: kind, Ref: ref, Hash: sha256.Sum256(stored)}
}

// ErrBadItem reports an item the log refuses: unknown kind, or a reference
// that is empty, too long or not UTF-8.
var ErrBadItem = errors.New("audit: bad item")

// Valid reports whether the log can hold it.
func (it Item) Valid() error {
	if !it.Kind.known() {
		return fmt.Errorf("%w: unknown kind %q", ErrBadItem, it.Kind)
	}
	if it.Ref == "" || len(it.Ref) > MaxRefLen || !utf8.ValidString(it.Ref) {
		return fmt.Errorf("%w: reference of %d bytes (1 to %d of UTF-8)", ErrBadItem, len(it.Ref), MaxRefLen)
	}
	return nil
}

// Domain-separation prefixes: an item digest, a leaf and a Merkle node are
// hashed over inputs no two of which can be confused (RFC 6962 itself
// prefixes leaves with 0x00 and nodes with 0x01).
const (
	itemDomain = "fifthwheel/audit/item/v1\x00"
	leafDomain = "fifthwheel/audit/leaf/v1\x00"
)

// Digest is the item's 32-byte commitment inside a leaf:
//
//	SHA-256( "fifthwheel/audit/item/v1" 0x00
//	       || uint8 len(kind) || kind
//	       || uint16 big-endian len(ref) || ref
//	       || hash (32 bytes) )
//
// Kind and reference are committed with the hash, so a proof for an item
// cannot be replayed for another item with the same bytes.
func (it Item) Digest() [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(itemDomain))
	h.Write([]byte{byte(len(it.Kind))})
	h.Write([]byte(it.Kind))
	var n [2]byte
	binary.BigEndian.PutUint16(n[:], uint16(len(it.Ref)))
	h.Write(n[:])
	h.Write([]byte(it.Ref))
	h.Write(it.Hash[:])
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// LeafData is a leaf's bytes, the RFC 6962 leaf input:
//
//	"fifthwheel/audit/leaf/v1" 0x00 || uint32 big-endian n || n item digests
//
// in batch order. The count makes the encoding unambiguous; the position of
// a digest is the item's position in its batch.
func LeafData(digests [][sha256.Size]byte) []byte {
	b := make([]byte, 0, len(leafDomain)+4+sha256.Size*len(digests))
	b = append(b, leafDomain...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(digests)))
	for _, d := range digests {
		b = append(b, d[:]...)
	}
	return b
}

// ParseLeafData returns the digests of a leaf's bytes; it refuses anything
// LeafData would not have written.
func ParseLeafData(b []byte) ([][sha256.Size]byte, error) {
	rest, ok := cutPrefix(b, leafDomain)
	if !ok || len(rest) < 4 {
		return nil, errors.New("audit: leaf: bad header")
	}
	n := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if n == 0 || n > MaxLeafItems || uint64(len(rest)) != uint64(n)*sha256.Size {
		return nil, fmt.Errorf("audit: leaf: %d items in %d bytes", n, len(rest))
	}
	out := make([][sha256.Size]byte, n)
	for i := range out {
		copy(out[i][:], rest[i*sha256.Size:])
	}
	return out, nil
}

func cutPrefix(b []byte, p string) ([]byte, bool) {
	if len(b) < len(p) || string(b[:len(p)]) != p {
		return nil, false
	}
	return b[len(p):], true
}

// LeafHash is the RFC 6962 leaf hash of a leaf's bytes.
func LeafHash(leafData []byte) []byte { return hasher.HashLeaf(leafData) }

// hasher is RFC 6962 over SHA-256, the tree of C2SP tlog-checkpoint.
var hasher = rfc6962.DefaultHasher

// fromRow turns a stored item back into an Item; a row no valid Item could
// have produced (edited in the database) is an error.
func fromRow(r store.AuditItem) (Item, error) {
	it := Item{Kind: Kind(r.Kind), Ref: r.Ref}
	if len(r.Hash) != sha256.Size {
		return it, fmt.Errorf("%w: hash of %d bytes", ErrBadItem, len(r.Hash))
	}
	copy(it.Hash[:], r.Hash)
	if len(r.Kind) > MaxKindLen {
		return it, fmt.Errorf("%w: kind of %d bytes", ErrBadItem, len(r.Kind))
	}
	return it, nil
}

// leafOf is the leaf data of stored rows in position order.
func leafOf(rows []store.AuditItem) ([]byte, error) {
	ds := make([][sha256.Size]byte, len(rows))
	for i, r := range rows {
		it, err := fromRow(r)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", r.ID, err)
		}
		ds[i] = it.Digest()
	}
	return LeafData(ds), nil
}
