package store

import (
	"crypto/sha256"
	"encoding/json"
	"strconv"
	"strings"
)

// The kinds of audit items, as stored (package audit's Kind constants are
// these names): the store makes the items of the rows it writes, in their
// own transaction, so it names them itself.
const (
	AuditKindFrame    = "frame"
	AuditKindEvent    = "event"
	AuditKindCommand  = "command"
	AuditKindApproval = "approval"
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

// The references of the items of a command's columns that are set once
// after its creation, each in the transaction that sets them:
// "<command_id>/issue" (cmd_seq, nonce, issued_at: QueueCommand, what
// every delivery of the signed command carries), "<command_id>/delivery"
// (the replica that delivered it) and "<command_id>/answer" (the vehicle's
// verdict and reason). Command ids hold no '/', and these suffixes are not
// numbers, so they never name a transition.
const (
	commandIssueSuffix    = "issue"
	commandDeliverySuffix = "delivery"
	commandAnswerSuffix   = "answer"
)

// CommandIssueRef, CommandDeliveryRef and CommandAnswerRef are the
// references of a command's issue, delivery and answer items.
func CommandIssueRef(id string) string    { return id + "/" + commandIssueSuffix }
func CommandDeliveryRef(id string) string { return id + "/" + commandDeliverySuffix }
func CommandAnswerRef(id string) string   { return id + "/" + commandAnswerSuffix }

// CommandPart names one of a command's set-once parts in a reference
// "<command_id>/<part>": "issue", "delivery" or "answer"; ok false for any
// other suffix.
func CommandPart(ref string) (id, part string, ok bool) {
	for _, p := range []string{commandIssueSuffix, commandDeliverySuffix, commandAnswerSuffix} {
		if i := len(ref) - len(p) - 1; i > 0 && ref[i:] == "/"+p {
			return ref[:i], p, true
		}
	}
	return "", "", false
}

// commandIssueRow is what the vehicle receives of a queued command beyond
// its creation: the counter, nonce and issue time the gateway signs into
// every delivery (session.commandFrame), fixed when it is queued.
type commandIssueRow struct {
	ID       string `json:"id"`
	Vehicle  string `json:"vehicle_id"`
	CmdSeq   int64  `json:"cmd_seq"`
	Nonce    []byte `json:"nonce"`
	IssuedUS int64  `json:"issued_us"`
}

type commandDeliveryRow struct {
	ID          string `json:"id"`
	DeliveredBy string `json:"delivered_by"`
}

type commandAnswerRow struct {
	ID           string `json:"id"`
	Verdict      string `json:"verdict"`
	AnswerReason string `json:"answer_reason"`
}

// CommandPartBytes is the byte string the item of one of a command's
// set-once parts hashes ("issue", "delivery" or "answer", see
// CommandPart), from the command as stored; nil for another part.
func CommandPartBytes(c Command, part string) []byte {
	var v any
	switch part {
	case commandIssueSuffix:
		var issued int64
		if !c.IssuedAt.IsZero() {
			issued = c.IssuedAt.UnixMicro()
		}
		v = commandIssueRow{ID: c.ID, Vehicle: c.Vehicle, CmdSeq: c.CmdSeq, Nonce: nonNil(c.Nonce), IssuedUS: issued}
	case commandDeliverySuffix:
		v = commandDeliveryRow{ID: c.ID, DeliveredBy: c.DeliveredBy}
	case commandAnswerSuffix:
		v = commandAnswerRow{ID: c.ID, Verdict: c.Verdict, AnswerReason: c.AnswerReason}
	default:
		return nil
	}
	b, _ := json.Marshal(v) // cannot fail: strings, ints and bytes only
	return b
}

func commandPartItem(c Command, part string) AuditItem {
	h := sha256.Sum256(CommandPartBytes(c, part))
	return AuditItem{Kind: AuditKindCommand, Ref: c.ID + "/" + part, Hash: h[:]}
}

// partItems are the items of the set-once parts a transition tr set on c
// (c as it is after it, read in the same transaction).
func partItems(c Command, tr CommandTransition) []AuditItem {
	var out []AuditItem
	if tr.DeliveredBy != "" {
		out = append(out, commandPartItem(c, commandDeliverySuffix))
	}
	if tr.Verdict != "" || tr.AnswerReason != "" {
		out = append(out, commandPartItem(c, commandAnswerSuffix))
	}
	return out
}

// approvalAuditRow is an approvals row as its item commits to it.
type approvalAuditRow struct {
	Command   string `json:"command_id"`
	Approver  string `json:"approver"`
	AtUS      int64  `json:"at_us"`
	ExpiresUS int64  `json:"expires_us"`
}

// ApprovalAuditRef is the reference of an approval's item:
// "<command_id>/<at, Unix microseconds>/<approver>" (an approver URI may
// hold '/': it is the rest). The time makes an approver's renewal of an
// expired approval another item.
func ApprovalAuditRef(a Approval) string {
	return a.Command + "/" + strconv.FormatInt(a.At.UnixMicro(), 10) + "/" + a.Approver
}

// ParseApprovalAuditRef splits an approval item's reference.
func ParseApprovalAuditRef(ref string) (command string, atUS int64, approver string, ok bool) {
	command, rest, ok1 := strings.Cut(ref, "/")
	atS, approver, ok2 := strings.Cut(rest, "/")
	at, err := strconv.ParseInt(atS, 10, 64)
	if !ok1 || !ok2 || err != nil || command == "" || approver == "" || strconv.FormatInt(at, 10) != atS {
		return "", 0, "", false
	}
	return command, at, approver, true
}

// ApprovalAuditBytes is the byte string an approval's item hashes: the
// JSON of its row.
func ApprovalAuditBytes(a Approval) []byte {
	b, _ := json.Marshal(approvalAuditRow{Command: a.Command, Approver: a.Approver, AtUS: a.At.UnixMicro(), ExpiresUS: a.ExpiresAt.UnixMicro()})
	return b
}

func approvalAuditItem(a Approval) AuditItem {
	h := sha256.Sum256(ApprovalAuditBytes(a))
	return AuditItem{Kind: AuditKindApproval, Ref: ApprovalAuditRef(a), Hash: h[:]}
}
