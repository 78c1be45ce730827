package drill

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// AuditLog is what the audit-log-tamper drill needs of the gateway: its
// store (to add the drill's own rows and read the log) and what an
// insider with database access has, statements run on the database
// directly, bypassing the store.
type AuditLog struct {
	Store interface {
		AppendEvents(ctx context.Context, evs []store.EventRow) error
		FindAuditItems(ctx context.Context, kind, ref string) ([]store.AuditItem, error)
		LatestAuditCheckpoint(ctx context.Context) (store.AuditCheckpoint, error)
	}
	// Verify is `audit verify --since saved`: the log against a saved
	// checkpoint, with the rows re-hashed.
	Verify func(ctx context.Context, saved []byte) (*audit.Report, error)
	// Exec runs one statement on the database, bypassing the store:
	// sqliteQ with ? placeholders, pgQ with $n.
	Exec func(ctx context.Context, sqliteQ, pgQ string, args ...any) error
}

// auditSequenceWait bounds the wait for the gateway's sequencer to cover
// the drill's rows (it checkpoints at least once a second).
const auditSequenceWait = 5 * time.Second

// auditLogTamperDrill: an insider edits one security event's stored body
// and deletes another, directly in the database, after an auditor saved a
// checkpoint covering both. `audit verify` against that checkpoint must
// name each row by its leaf and position. The drill uses rows of its own
// (events with its prefix), and puts them back as they were afterwards, so
// the log verifies again: a drill against a real gateway leaves its
// evidence intact.
func auditLogTamperDrill(ctx context.Context, t *Target, p *Probe) error {
	a := t.Audit
	if a == nil || a.Store == nil || a.Verify == nil || a.Exec == nil {
		return errors.New("the target gives no access to the audit log and its database (Target.Audit)")
	}
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	base := t.Prefix + "-audit-" + hex.EncodeToString(nonce[:])
	rows := []store.EventRow{drillEventRow(base + "-edit"), drillEventRow(base + "-delete")}
	if err := a.Store.AppendEvents(ctx, rows); err != nil {
		return fmt.Errorf("store the drill's events: %v", err)
	}
	for _, r := range rows {
		p.Event(r)
	}
	// The positions the auditor's log gives them, once sequenced.
	type at struct {
		leaf uint64
		pos  int
	}
	var where [2]at
	deadline := time.Now().Add(auditSequenceWait)
	for i, r := range rows {
		for {
			its, err := a.Store.FindAuditItems(ctx, string(audit.KindEvent), r.ID)
			if err != nil {
				return err
			}
			if len(its) == 1 && its[0].Sequenced {
				where[i] = at{its[0].Leaf, its[0].Pos}
				break
			}
			if time.Now().After(deadline) {
				p.Check("the drill's event "+r.ID+" is in a checkpoint", "sequenced", fmt.Sprintf("%d items, not sequenced", len(its)))
				return nil
			}
			if err := sleep(ctx, 50*time.Millisecond); err != nil {
				return err
			}
		}
	}
	cp, err := a.Store.LatestAuditCheckpoint(ctx)
	if err != nil {
		return fmt.Errorf("the checkpoint an auditor saves: %v", err)
	}
	saved := cp.Note
	if !p.Check("the log verifies against the saved checkpoint before tampering", "verified", verifyVerdict(a.Verify(ctx, saved))) {
		return nil
	}

	// The insider's edits, then the auditor's verify.
	if err := a.Exec(ctx, `UPDATE events SET body=? WHERE id=?`, `UPDATE events SET body=$1 WHERE id=$2`,
		[]byte(`{"drill":"rewritten"}`), rows[0].ID); err != nil {
		return fmt.Errorf("edit the event row: %v", err)
	}
	if err := a.Exec(ctx, `DELETE FROM events WHERE id=?`, `DELETE FROM events WHERE id=$1`, rows[1].ID); err != nil {
		return fmt.Errorf("delete the event row: %v", err)
	}
	r, err := a.Verify(ctx, saved)
	if err != nil {
		return fmt.Errorf("verify: %v", err)
	}
	p.Check("the edited event is named with its index", fmt.Sprintf("%s leaf=%d pos=%d", audit.FindItemEdited, where[0].leaf, where[0].pos),
		finding(r, audit.FindItemEdited, where[0].leaf, where[0].pos))
	p.Check("the deleted event is named with its index", fmt.Sprintf("%s leaf=%d pos=%d", audit.FindItemSourceMissing, where[1].leaf, where[1].pos),
		finding(r, audit.FindItemSourceMissing, where[1].leaf, where[1].pos))

	// Put the rows back as they were: the log verifies again.
	if err := a.Exec(ctx, `UPDATE events SET body=? WHERE id=?`, `UPDATE events SET body=$1 WHERE id=$2`, rows[0].Body, rows[0].ID); err != nil {
		return fmt.Errorf("restore the event row: %v", err)
	}
	if err := a.Store.AppendEvents(ctx, rows[1:]); err != nil {
		return fmt.Errorf("restore the deleted event: %v", err)
	}
	p.Check("the log verifies again once the rows are restored", "verified", verifyVerdict(a.Verify(ctx, saved)))
	return nil
}

// drillEventRow is a drill marker event, the drill's own row to tamper with.
func drillEventRow(id string) store.EventRow {
	return store.EventRow{ID: id, Time: time.Now().UTC(), Class: "system", Verdict: "info", Code: "drill_marker", Subject: id,
		Body: []byte(`{"id":"` + id + `","drill":"audit-log-tamper"}`)}
}

// verifyVerdict summarizes a Verify outcome for a check.
func verifyVerdict(r *audit.Report, err error) string {
	switch {
	case err != nil:
		return "error: " + err.Error()
	case r.OK():
		return "verified"
	}
	var fs []string
	for i, f := range r.Findings {
		if i == 3 {
			fs = append(fs, "...")
			break
		}
		fs = append(fs, f.String())
	}
	return fmt.Sprintf("%d findings: %s", len(r.Findings), strings.Join(fs, "; "))
}

// finding returns the finding of kind at (leaf, pos) as the check's
// "got", or what was found instead.
func finding(r *audit.Report, kind audit.FindingKind, leaf uint64, pos int) string {
	for _, f := range r.Findings {
		if f.Kind == kind && f.Leaf == leaf && f.Pos == pos {
			return fmt.Sprintf("%s leaf=%d pos=%d", f.Kind, f.Leaf, f.Pos)
		}
	}
	return "not named (" + verifyVerdict(r, nil) + ")"
}
