package store

import (
	"crypto/sha256"
	"encoding/json"
	"strconv"
)

// The kinds of audit items, as stored (package audit's Kind constants are
// these names): the store makes the items of the rows it writes, in their
// own transaction, so it names them itself.
const (
	AuditKindFrame   = "frame"
	AuditKindEvent   = "event"
	AuditKindCommand = "command"
)

// FrameAuditRef is the reference of a frames row's audit item, its primary
// key: "<vehicle_id>/<epoch>/<seq>".
func FrameAuditRef(vehicleID string, epoch, seq int64) string {
	return vehicleID + "/" + strconv.FormatInt(epoch, 10) + "/" + strconv.FormatInt(seq, 10)
}

// frameAuditItem is the audit item of a frames row: the SHA-256 of the raw
// envelope bytes exactly as stored. It is hashed here, not taken from
// r.Hash, so the item commits to the bytes written whatever the caller
// computed.
func frameAuditItem(r *FrameRecord) AuditItem {
	h := sha256.Sum256(r.Raw)
	return AuditItem{Kind: AuditKindFrame, Ref: FrameAuditRef(r.VehicleID, r.Epoch, r.Seq), Hash: h[:]}
}

// eventAuditItem is the audit item of an events row: the SHA-256 of the
// stored body (the whole event, JSON), referenced by the event id.
func eventAuditItem(e *EventRow) AuditItem {
	h := sha256.Sum256(e.Body)
	return AuditItem{Kind: AuditKindEvent, Ref: e.ID, Hash: h[:]}
}

// framesAndEventsItems are the items of one append: every frames row, then
// every event, in the order they are inserted.
func framesAndEventsItems(frames []*FrameRecord, evs []EventRow) []AuditItem {
	items := make([]AuditItem, 0, len(frames)+len(evs))
	for _, f := range frames {
		items = append(items, frameAuditItem(f))
	}
	for i := range evs {
		items = append(items, eventAuditItem(&evs[i]))
	}
	return items
}

func eventsItems(evs []EventRow) []AuditItem { return framesAndEventsItems(nil, evs) }

// commandAuditRow is the part of a commands row that never changes after
// creation, with the state it was created in: what the command's creation
// item commits to. (State, cmd_seq, nonce and the answer change; each
// change is a transition item.) Field order is fixed by the struct and
// times are Unix microseconds, as both engines store them, so the bytes
// are the same from either engine and from a re-read row.
type commandAuditRow struct {
	ID                string `json:"id"`
	Vehicle           string `json:"vehicle_id"`
	Carrier           string `json:"carrier"`
	RequestedBy       string `json:"requested_by"`
	Type              string `json:"type"`
	TenderID          string `json:"tender_id"`
	Payload           []byte `json:"payload"`
	RiskClass         string `json:"risk_class"`
	ApprovalsRequired int    `json:"approvals_required"`
	ExpiresUS         int64  `json:"expires_us"`
	CreatedUS         int64  `json:"created_us"`
}

// CommandAuditBytes is the byte string a command's creation item hashes
// (reference: the command id): the JSON of its immutable fields. The
// verify source re-reads the command and calls it again.
func CommandAuditBytes(c Command) []byte {
	b, _ := json.Marshal(commandAuditRow{ // cannot fail: strings, ints and bytes only
		ID: c.ID, Vehicle: c.Vehicle, Carrier: c.Carrier, RequestedBy: c.RequestedBy, Type: c.Type, TenderID: c.TenderID,
		Payload: nonNil(c.Payload), RiskClass: c.RiskClass, ApprovalsRequired: c.ApprovalsRequired,
		ExpiresUS: c.ExpiresAt.UnixMicro(), CreatedUS: c.CreatedAt.UnixMicro(),
	})
	return b
}

// transitionAuditRow is a command_transitions row as its item commits to
// it; n counts from 1 (the creation is transition 1).
type transitionAuditRow struct {
	Command string `json:"command_id"`
	N       int64  `json:"n"`
	From    string `json:"from_state"`
	To      string `json:"to_state"`
	AtUS    int64  `json:"at_us"`
	Actor   string `json:"actor"`
	Reason  string `json:"reason"`
}

// TransitionAuditRef is the reference of a command's n-th transition item.
func TransitionAuditRef(command string, n int64) string {
	return command + "/" + strconv.FormatInt(n, 10)
}

// TransitionAuditBytes is the byte string the n-th transition item of a
// command hashes: the JSON of the transition row.
func TransitionAuditBytes(tr CommandTransition, n int64) []byte {
	b, _ := json.Marshal(transitionAuditRow{Command: tr.ID, N: n, From: string(tr.From), To: string(tr.To),
		AtUS: tr.At.UnixMicro(), Actor: tr.Actor, Reason: tr.Reason})
	return b
}

func commandAuditItem(c Command) AuditItem {
	h := sha256.Sum256(CommandAuditBytes(c))
	return AuditItem{Kind: AuditKindCommand, Ref: c.ID, Hash: h[:]}
}

func transitionAuditItem(tr CommandTransition, n int64) AuditItem {
	h := sha256.Sum256(TransitionAuditBytes(tr, n))
	return AuditItem{Kind: AuditKindCommand, Ref: TransitionAuditRef(tr.ID, n), Hash: h[:]}
}
