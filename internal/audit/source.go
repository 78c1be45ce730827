package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strconv"
	"strings"

	"github.com/fifthwheel/fifthwheel/internal/store"
)

// RowStore is what StoreSource reads: the rows the items refer to.
type RowStore interface {
	GetFrame(ctx context.Context, vehicleID string, epoch, seq int64) (store.FrameRecord, error)
	GetEvent(ctx context.Context, id string) (store.EventRow, error)
	GetCommand(ctx context.Context, id string) (store.Command, error)
	CommandTransitions(ctx context.Context, id string) ([]store.CommandTransition, error)
	ListApprovals(ctx context.Context, command string) ([]store.Approval, error)
	ApprovalHistory(ctx context.Context, command string) ([]store.Approval, error)
}

// StoreSource is the Source of a gateway's store: it re-reads the row an
// item refers to and hashes its stored bytes as the store did when it
// appended the item (docs/AUDIT.md, "What the log covers"), so Verify names
// an edited or deleted frame, event or command row by its position. A
// reference that cannot be parsed is a row that is not there.
//
// A frames row whose payload retention purged (store.FrameRecord.Purged,
// with its raw and sig emptied) has no bytes left to hash: its item hash is
// the row's kept hash, the SHA-256 of the frame as received. That check is
// weaker than re-hashing: the kept hash is only what the row says. The log
// still proves the item hash (old proofs verify), an edited kept hash is
// still item_edited, and a row marked purged that still holds bytes is
// hashed as any other (marking an edited row purged hides nothing); but a
// payload emptied early by someone who can write the database looks like a
// purge (docs/AUDIT.md, "Retention").
type StoreSource struct{ Rows RowStore }

// ItemHash implements Source.
func (s StoreSource) ItemHash(ctx context.Context, kind Kind, ref string) ([sha256.Size]byte, bool, error) {
	var b []byte
	var err error
	switch kind {
	case KindFrame:
		var f store.FrameRecord
		f, err = s.frame(ctx, ref)
		if err == nil && purged(f) {
			// A kept hash of another length is no SHA-256: it stays the
			// zero hash, which differs from the item's (item_edited).
			var h [sha256.Size]byte
			if len(f.Hash) == sha256.Size {
				copy(h[:], f.Hash)
			}
			return h, true, nil
		}
		b = f.Raw
	case KindEvent:
		var e store.EventRow
		e, err = s.Rows.GetEvent(ctx, ref)
		b = e.Body
	case KindCommand:
		b, err = s.command(ctx, ref)
	case KindApproval:
		b, err = s.approval(ctx, ref)
	default:
		return [sha256.Size]byte{}, false, nil
	}
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errBadRef):
		return [sha256.Size]byte{}, false, nil
	case errors.Is(err, errRowsDisagree):
		// The zero hash differs from the item's: item_edited.
		return [sha256.Size]byte{}, true, nil
	case err != nil:
		return [sha256.Size]byte{}, false, err
	}
	return sha256.Sum256(b), true, nil
}

var errBadRef = errors.New("audit: unparsable reference")

// errRowsDisagree: two rows that must hold the same (an approval's history
// row and the row that counts) do not; one of them was edited.
var errRowsDisagree = errors.New("audit: the rows of one item disagree")

// frame reads "<vehicle_id>/<epoch>/<seq>" (a vehicle id may hold '/': the
// numbers are the last two segments).
func (s StoreSource) frame(ctx context.Context, ref string) (store.FrameRecord, error) {
	rest, seqS, ok1 := cutLast(ref)
	vehicle, epochS, ok2 := cutLast(rest)
	epoch, err1 := strconv.ParseInt(epochS, 10, 64)
	seq, err2 := strconv.ParseInt(seqS, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || store.FrameAuditRef(vehicle, epoch, seq) != ref {
		return store.FrameRecord{}, errBadRef
	}
	f, err := s.Rows.GetFrame(ctx, vehicle, epoch, seq)
	if err != nil {
		return store.FrameRecord{}, err
	}
	if f.Kind == store.HeartbeatKind {
		return store.FrameRecord{}, store.ErrNotFound // the latest heartbeat is no frames row
	}
	return f, nil
}

// purged reports whether a frames row is purged and holds no payload: only
// then does its kept hash stand for its bytes.
func purged(f store.FrameRecord) bool {
	return f.Purged() && len(f.Raw) == 0 && len(f.Sig) == 0
}

// command reads "<command_id>" (the command at creation),
// "<command_id>/<n>" (its n-th transition) or "<command_id>/issue",
// "/delivery", "/answer" (the columns set once after creation, as they are
// now). Command ids are the gateway's own and hold no '/'; if one did, a
// reference naming an existing command with a numeric suffix is read as a
// transition.
func (s StoreSource) command(ctx context.Context, ref string) ([]byte, error) {
	if id, part, ok := store.CommandPart(ref); ok {
		c, err := s.Rows.GetCommand(ctx, id)
		if err != nil {
			return nil, err
		}
		return store.CommandPartBytes(c, part), nil
	}
	if id, nS, ok := cutLast(ref); ok {
		if n, err := strconv.ParseInt(nS, 10, 64); err == nil && n >= 1 && store.TransitionAuditRef(id, n) == ref {
			trs, err := s.Rows.CommandTransitions(ctx, id)
			if err != nil {
				return nil, err
			}
			if len(trs) > 0 {
				if n > int64(len(trs)) {
					return nil, store.ErrNotFound
				}
				return store.TransitionAuditBytes(trs[n-1], n), nil
			}
		}
	}
	c, err := s.Rows.GetCommand(ctx, ref)
	if err != nil {
		return nil, err
	}
	return store.CommandAuditBytes(c), nil
}

// approval reads "<command_id>/<at_us>/<approver>": that approval's row
// in the command's approval history (every approval, renewals and the
// expired ones they replaced included, never updated), found by approver
// and time, so an edited expiry hashes otherwise and an edited time or
// approver, or a deleted row, is missing. The approver's latest approval
// is also the row that counts (approvals, what authorization reads): that
// row must hold the same, or the item is reported edited (or missing),
// so an approval extended or back-dated in either table is named.
func (s StoreSource) approval(ctx context.Context, ref string) ([]byte, error) {
	cmd, _, approver, ok := store.ParseApprovalAuditRef(ref)
	if !ok {
		return nil, errBadRef
	}
	hist, err := s.Rows.ApprovalHistory(ctx, cmd)
	if err != nil {
		return nil, err
	}
	var mine []byte
	latest := true
	for _, a := range hist {
		switch {
		case a.Approver != approver:
		case store.ApprovalAuditRef(a) == ref:
			mine = store.ApprovalAuditBytes(a)
		case mine != nil:
			latest = false // a later approval (a renewal) of the same approver
		}
	}
	if mine == nil {
		return nil, store.ErrNotFound
	}
	if !latest {
		return mine, nil
	}
	current, err := s.Rows.ListApprovals(ctx, cmd)
	if err != nil {
		return nil, err
	}
	for _, a := range current {
		if a.Approver == approver {
			if !bytes.Equal(store.ApprovalAuditBytes(a), mine) {
				return nil, errRowsDisagree
			}
			return mine, nil
		}
	}
	return nil, store.ErrNotFound
}

func cutLast(s string) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}
