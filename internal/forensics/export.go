package forensics

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Source is what Export reads: the store.
type Source interface {
	GetVehicle(ctx context.Context, id string) (store.Vehicle, error)
	ListFrames(ctx context.Context, vehicleID string, from, to time.Time, limit int) ([]store.FrameRecord, error)
	LatestFrame(ctx context.Context, vehicleID, kind string) (store.FrameRecord, error)
	ListVehicleKeys(ctx context.Context, vehicleID string) ([]store.VehicleKey, error)
	ListIssued(ctx context.Context, kind, id string, limit int) ([]store.CertRow, error)
	ListEvents(ctx context.Context, f store.EventFilter) ([]store.EventRow, error)
	ListCommands(ctx context.Context, f store.CommandFilter) ([]store.Command, error)
	CommandTransitions(ctx context.Context, id string) ([]store.CommandTransition, error)
	ListApprovals(ctx context.Context, command string) ([]store.Approval, error)
	ApprovalHistory(ctx context.Context, command string) ([]store.Approval, error)
	FindAuditItems(ctx context.Context, kind, ref string) ([]store.AuditItem, error)
	LatestAuditCheckpoint(ctx context.Context) (store.AuditCheckpoint, error)
	audit.ProofStore
}

// ExportRequest is what to export, and the gateway's material to sign and
// to chain certificates with. Data only.
type ExportRequest struct {
	Vehicle      string
	Since, Until time.Time
	Case         string
	ExportedBy   string // the operator principal's URI
	Now          time.Time
	// FleetRoot and Intermediates are the fleet CA's public certificates.
	FleetRoot     *x509.Certificate
	Intermediates []*x509.Certificate
	// Wait bounds the wait for the sequencer (DefaultWait when zero).
	Wait time.Duration
}

// Summary says what an export holds.
type Summary struct {
	Frames, Events, Commands, Certs, Keys int
	Heartbeat                             bool
	Covered                               int
	// Purged is how many of Frames retention had purged: the bundle holds
	// their kept hash and proof, no envelope (counted in Covered when
	// proven).
	Purged         int
	Uncovered      map[string]int // by reason
	CheckpointSize uint64
}

// FrameRef is a frame's audit item reference: the frames primary key.
func FrameRef(vehicle string, epoch, seq int64) string {
	return vehicle + "/" + strconv.FormatInt(epoch, 10) + "/" + strconv.FormatInt(seq, 10)
}

// FrameEnvelope is a stored frame as the bundle ships it: the envelope as
// received (frame member and signature exactly as stored, with alg and
// kid; frame.AssembleEnvelope gives the canonical envelope, which is what
// ParseEnvelope accepted).
func FrameEnvelope(rec store.FrameRecord) []byte {
	return frame.AssembleEnvelope(frame.Alg(rec.Alg), rec.KID, rec.Raw, rec.Sig)
}

// FrameItem is a stored frame's audit item, as the store appends it in the
// frame's transaction: reference FrameRef, hash over the frame member's
// bytes exactly as stored (rec.Raw, what the vehicle signed). Verify
// re-derives it from the bundled envelope's frame member; the signature
// is checked with the vehicle's key.
func FrameItem(rec store.FrameRecord) audit.Item {
	return audit.NewItem(audit.KindFrame, FrameRef(rec.VehicleID, rec.Epoch, rec.Seq), rec.Raw)
}

// pending is one piece of evidence on its way into the bundle.
type pending struct {
	kind audit.Kind // "": not a log item
	ref  string
	path string
	data []byte
	// item is the bytes the log item hashes when they are not data (a
	// frame: its frame member).
	item []byte
	// hash is, for a frame whose payload retention purged (no data, no
	// item bytes), the SHA-256 of the frame as received, kept by the row.
	hash []byte
}

func (p pending) purged() bool { return p.hash != nil }

// logItem is the audit item the log should hold for p.
func (p pending) logItem() audit.Item {
	if p.purged() {
		it := audit.Item{Kind: p.kind, Ref: p.ref}
		copy(it.Hash[:], p.hash)
		return it
	}
	b := p.item
	if b == nil {
		b = p.data
	}
	return audit.NewItem(p.kind, p.ref, b)
}

// Export builds the bundle for req from src, signed with key. It reads
// only; it waits up to req.Wait for the sequencer to cover items it finds
// pending, and lists every item it cannot prove in the manifest.
func Export(ctx context.Context, src Source, key *audit.LogKey, req ExportRequest) ([]byte, *Summary, error) {
	if err := tokenErr(req.Vehicle, refExtra); err != nil {
		return nil, nil, fmt.Errorf("forensics: vehicle: %v", err)
	}
	if err := tokenErr(req.Case, refExtra); err != nil {
		return nil, nil, fmt.Errorf("forensics: case: %v", err)
	}
	if err := tokenErr(req.ExportedBy, refExtra); err != nil {
		return nil, nil, fmt.Errorf("forensics: exported by: %v", err)
	}
	if !req.Since.Before(req.Until) || req.FleetRoot == nil || key == nil {
		return nil, nil, errors.New("forensics: an export needs a window (since before until), the fleet root and the log key")
	}
	if req.Wait <= 0 {
		req.Wait = DefaultWait
	}
	sum := &Summary{Uncovered: map[string]int{}}
	veh, err := src.GetVehicle(ctx, req.Vehicle)
	if err != nil {
		return nil, nil, fmt.Errorf("forensics: vehicle %s: %w", req.Vehicle, err)
	}
	var ev []pending
	vj, err := json.MarshalIndent(map[string]any{"id": veh.ID, "status": veh.Status, "carrier": veh.Carrier,
		"created_at": veh.CreatedAt.UTC(), "labels": veh.Labels}, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	ev = append(ev, pending{path: vehiclePath, data: vj})

	// Frames: the exact envelopes, each a log item.
	frames, err := src.ListFrames(ctx, req.Vehicle, req.Since, req.Until, MaxFrames+1)
	if err != nil {
		return nil, nil, fmt.Errorf("forensics: frames: %w", err)
	}
	if len(frames) > MaxFrames {
		return nil, nil, fmt.Errorf("%w: more than %d frames in the window", ErrTooLarge, MaxFrames)
	}
	for _, r := range frames {
		p := pending{kind: audit.KindFrame, ref: FrameRef(r.VehicleID, r.Epoch, r.Seq), path: fmt.Sprintf("frames/%d-%d.json", r.Epoch, r.Seq)}
		if r.Purged() {
			// Retention emptied its payload: the bundle says so and proves
			// the kept hash; it never ships an empty envelope as the frame.
			p.hash = make([]byte, sha256.Size)
			copy(p.hash, r.Hash) // a kept hash of another length is no SHA-256: the log will not hold it
			if len(r.Hash) != sha256.Size {
				p.hash[0] ^= 0xff
			}
			sum.Purged++
		} else {
			p.data, p.item = FrameEnvelope(r), r.Raw
		}
		ev = append(ev, p)
	}
	sum.Frames = len(frames)
	// The latest heartbeat: vehicle-signed, not a log item (it leaves no
	// frames row).
	hb, err := src.LatestFrame(ctx, req.Vehicle, store.HeartbeatKind)
	switch {
	case err == nil:
		ev = append(ev, pending{ref: FrameRef(hb.VehicleID, hb.Epoch, hb.Seq), path: heartbeatPath, data: FrameEnvelope(hb)})
		sum.Heartbeat = true
	case !errors.Is(err, store.ErrNotFound):
		return nil, nil, fmt.Errorf("forensics: heartbeat: %w", err)
	}

	// Security events about the vehicle (subject: its principal URI), the
	// stored body exactly, each a log item.
	events, err := vehicleEvents(ctx, src, req)
	if err != nil {
		return nil, nil, err
	}
	for i, e := range events {
		if tokenErr(e.ID, refExtra) != nil {
			return nil, nil, fmt.Errorf("forensics: event id %q cannot be named in a manifest", e.ID)
		}
		ev = append(ev, pending{kind: audit.KindEvent, ref: e.ID, path: fmt.Sprintf("events/%06d.json", i+1), data: e.Body})
	}
	sum.Events = len(events)

	// Commands created in the window, each as its log items: the command
	// at creation, every transition, every approval, and what was issued
	// to the vehicle, who delivered it and what the vehicle answered.
	cmdFiles, n, err := commandFiles(ctx, src, req)
	if err != nil {
		return nil, nil, err
	}
	ev = append(ev, cmdFiles...)
	sum.Commands = n

	pkiFiles, err := certFiles(ctx, src, req)
	if err != nil {
		return nil, nil, err
	}
	sum.Certs = len(pkiFiles) - 3
	ev = append(ev, pkiFiles...)
	keyFiles, err := frameKeyFiles(ctx, src, req.Vehicle)
	if err != nil {
		return nil, nil, err
	}
	sum.Keys = len(keyFiles) - 1
	ev = append(ev, keyFiles...)

	// Proofs against one checkpoint: find each item, waiting a little for
	// the sequencer, then read the latest checkpoint (it covers every item
	// found sequenced before it was read).
	found, err := findItems(ctx, src, ev, req.Wait)
	if err != nil {
		return nil, nil, err
	}
	cpRow, err := src.LatestAuditCheckpoint(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("forensics: the audit log has no checkpoint: %w", err)
	}
	cp, err := audit.OpenCheckpoint(cpRow.Note, key.Verifier())
	if err != nil {
		return nil, nil, fmt.Errorf("forensics: the latest checkpoint: %w", err)
	}
	m := &manifest{Case: req.Case, Vehicle: req.Vehicle, ExportedBy: req.ExportedBy, Since: req.Since,
		Until: req.Until, ExportedAt: req.Now, CheckpointSize: cp.Size}
	files := []file{{path: checkpointPath, data: cpRow.Note}}
	for i, p := range ev {
		if !p.purged() {
			files = append(files, file{path: p.path, data: p.data})
		}
		if p.kind == "" {
			if p.path == heartbeatPath || p.ref != "" {
				m.Uncovered = append(m.Uncovered, manifestUncovered{Kind: kindOf(p), Ref: p.ref, Path: p.path, Reason: uncoveredNotItem})
				sum.Uncovered[uncoveredNotItem]++
			}
			continue
		}
		f := found[i]
		if f.reason != "" || f.item.Leaf >= cp.Size {
			reason := f.reason
			if reason == "" {
				reason = uncoveredPending
			}
			path := p.path
			if p.purged() {
				path = noFile
			}
			m.Uncovered = append(m.Uncovered, manifestUncovered{Kind: string(p.kind), Ref: p.ref, Path: path, Reason: reason})
			sum.Uncovered[reason]++
			continue
		}
		pr, err := audit.ItemProof(ctx, src, f.item.Leaf, f.item.Pos, cp, cpRow.Note)
		if err != nil {
			return nil, nil, fmt.Errorf("forensics: proof of %s %s: %w", p.kind, p.ref, err)
		}
		pp := proofPath(p.path)
		files = append(files, file{path: pp, data: pr})
		if p.purged() {
			var h [sha256.Size]byte
			copy(h[:], p.hash)
			m.Purged = append(m.Purged, manifestPurged{Kind: string(p.kind), Ref: p.ref, Hash: h, Proof: pp})
		} else {
			m.Items = append(m.Items, manifestItem{Kind: string(p.kind), Ref: p.ref, Path: p.path, Proof: pp})
		}
		sum.Covered++
	}
	sum.CheckpointSize = cp.Size
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	for _, f := range files {
		m.Files = append(m.Files, manifestFile{Path: f.path, Hash: sha256.Sum256(f.data), Size: len(f.data)})
	}
	signed, err := key.SignStatement(ManifestHeader, m.encode())
	if err != nil {
		return nil, nil, fmt.Errorf("forensics: signing the manifest: %w", err)
	}
	out, err := writeBundle(append([]file{{path: manifestPath, data: signed}}, files...))
	if err != nil {
		return nil, nil, err
	}
	return out, sum, nil
}

func kindOf(p pending) string {
	if p.path == heartbeatPath {
		return "heartbeat"
	}
	return string(p.kind)
}

// commandFiles are the log items of the vehicle's commands created in the
// window, as files (commands/<id>/...: the exact bytes each item hashes,
// so Verify re-hashes the file), and how many commands.
func commandFiles(ctx context.Context, src Source, req ExportRequest) ([]pending, int, error) {
	var out []pending
	n := 0
	after := ""
	for {
		page, err := src.ListCommands(ctx, store.CommandFilter{Scope: store.AllCarriers(), Vehicle: req.Vehicle, After: after, Limit: store.MaxPage})
		if err != nil {
			return nil, 0, fmt.Errorf("forensics: commands: %w", err)
		}
		for _, c := range page {
			if c.CreatedAt.Before(req.Since) || !c.CreatedAt.Before(req.Until) {
				continue
			}
			if n++; n > MaxCommands {
				return nil, 0, fmt.Errorf("%w: more than %d commands", ErrTooLarge, MaxCommands)
			}
			fs, err := oneCommand(ctx, src, c)
			if err != nil {
				return nil, 0, err
			}
			out = append(out, fs...)
		}
		if len(page) < store.MaxPage {
			return out, n, nil
		}
		after = page[len(page)-1].ID
	}
}

// oneCommand is one command's items as files.
func oneCommand(ctx context.Context, src Source, c store.Command) ([]pending, error) {
	dir := "commands/" + c.ID + "/"
	if !safeToken(c.ID, "._-") || !validPath(proofPath(dir+"transition-99.json")) {
		return nil, fmt.Errorf("forensics: command id %q cannot be named in a bundle", c.ID)
	}
	trs, err := src.CommandTransitions(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("forensics: command %s: %w", c.ID, err)
	}
	aps, err := approvalsToShip(ctx, src, c.ID)
	if err != nil {
		return nil, fmt.Errorf("forensics: command %s: %w", c.ID, err)
	}
	if len(trs)+len(aps)+4 > MaxCommandFiles {
		return nil, fmt.Errorf("%w: command %s has %d transitions and %d approvals", ErrTooLarge, c.ID, len(trs), len(aps))
	}
	out := []pending{{kind: audit.KindCommand, ref: c.ID, path: dir + "command.json", data: store.CommandAuditBytes(c)}}
	for i, tr := range trs {
		k := int64(i + 1)
		out = append(out, pending{kind: audit.KindCommand, ref: store.TransitionAuditRef(c.ID, k),
			path: fmt.Sprintf("%stransition-%d.json", dir, k), data: store.TransitionAuditBytes(tr, k)})
	}
	for i, a := range aps {
		ref := store.ApprovalAuditRef(a)
		if tokenErr(ref, refExtra) != nil {
			return nil, fmt.Errorf("forensics: approval %q cannot be named in a manifest", ref)
		}
		out = append(out, pending{kind: audit.KindApproval, ref: ref, path: fmt.Sprintf("%sapproval-%d.json", dir, i+1), data: store.ApprovalAuditBytes(a)})
	}
	// The parts set once after creation, each only once it is set.
	parts := []struct {
		ref, name string
		set       bool
	}{
		{store.CommandIssueRef(c.ID), "issue", c.CmdSeq > 0},
		{store.CommandDeliveryRef(c.ID), "delivery", c.DeliveredBy != ""},
		{store.CommandAnswerRef(c.ID), "answer", c.Verdict != "" || c.AnswerReason != ""},
	}
	for _, p := range parts {
		if p.set {
			out = append(out, pending{kind: audit.KindCommand, ref: p.ref, path: dir + p.name + ".json", data: store.CommandPartBytes(c, p.name)})
		}
	}
	return out, nil
}

func proofPath(path string) string { return "proofs/" + path + ".proof" }

// vehicleEvents pages through the events whose subject is the vehicle's
// principal URI, keeping those in the window.
func vehicleEvents(ctx context.Context, src Source, req ExportRequest) ([]store.EventRow, error) {
	subj := principal.Principal{Kind: principal.Vehicle, ID: req.Vehicle}.String()
	var out []store.EventRow
	after := int64(0)
	for {
		page, err := src.ListEvents(ctx, store.EventFilter{AfterSeq: after, Subject: subj})
		if err != nil {
			return nil, fmt.Errorf("forensics: events: %w", err)
		}
		if len(page) == 0 {
			return out, nil
		}
		for _, e := range page {
			if !e.Time.Before(req.Since) && e.Time.Before(req.Until) {
				out = append(out, e)
			}
		}
		if len(out) > MaxEvents {
			return nil, fmt.Errorf("%w: more than %d events", ErrTooLarge, MaxEvents)
		}
		after = page[len(page)-1].Seq
	}
}

// foundItem is the log's item for a piece of evidence, or why there is none.
type foundItem struct {
	item   store.AuditItem
	reason string
}

// findItems finds the sequenced log item whose hash is the bytes' hash for
// every piece of evidence that is a log item, waiting up to wait while any
// is still pending.
func findItems(ctx context.Context, src Source, ev []pending, wait time.Duration) (map[int]foundItem, error) {
	deadline := time.Now().Add(wait)
	for {
		out := map[int]foundItem{}
		waiting := false
		for i, p := range ev {
			if p.kind == "" {
				continue
			}
			want := p.logItem()
			rows, err := src.FindAuditItems(ctx, string(p.kind), p.ref)
			if err != nil {
				return nil, fmt.Errorf("forensics: audit items of %s %s: %w", p.kind, p.ref, err)
			}
			f := foundItem{reason: uncoveredMissing}
			for _, r := range rows {
				if !bytes.Equal(r.Hash, want.Hash[:]) {
					if f.reason == uncoveredMissing {
						f.reason = uncoveredMismatch
					}
					continue
				}
				if r.Sequenced {
					f = foundItem{item: r}
					break
				}
				f.reason = uncoveredPending
			}
			if f.reason == uncoveredPending {
				waiting = true
			}
			out[i] = f
		}
		if !waiting || time.Now().After(deadline) {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// certFiles are the fleet root, the intermediates, and the vehicle's
// certificates with their serials and status.
func certFiles(ctx context.Context, src Source, req ExportRequest) ([]pending, error) {
	rows, err := src.ListIssued(ctx, string(principal.Vehicle), req.Vehicle, MaxCerts+1)
	if err != nil {
		return nil, fmt.Errorf("forensics: certificates: %w", err)
	}
	if len(rows) > MaxCerts {
		return nil, fmt.Errorf("%w: more than %d certificates", ErrTooLarge, MaxCerts)
	}
	var inter []byte
	for _, c := range req.Intermediates {
		inter = append(inter, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	out := []pending{
		{path: rootPath, data: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: req.FleetRoot.Raw})},
		{path: interPath, data: inter},
	}
	type certInfo struct {
		Serial      string    `json:"serial"`
		Profile     string    `json:"profile"`
		NotBefore   time.Time `json:"not_before"`
		NotAfter    time.Time `json:"not_after"`
		IssuerKeyID string    `json:"issuer_key_id"`
		Status      string    `json:"status"`
		RevokedAt   time.Time `json:"revoked_at,omitzero"`
		Reason      int       `json:"reason,omitempty"`
		File        string    `json:"file"`
	}
	infos := []certInfo{}
	for _, c := range rows {
		if !safeToken(c.Serial, "") {
			return nil, fmt.Errorf("forensics: certificate serial %q cannot be a file name", c.Serial)
		}
		ci := certInfo{Serial: c.Serial, Profile: c.Profile, NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(),
			IssuerKeyID: c.IssuerKeyID, Status: "valid", File: "pki/cert-" + c.Serial + ".pem"}
		if !c.RevokedAt.IsZero() {
			ci.Status, ci.RevokedAt, ci.Reason = "revoked", c.RevokedAt.UTC(), c.Reason
		}
		infos = append(infos, ci)
		out = append(out, pending{path: ci.File, data: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER})})
	}
	b, err := json.MarshalIndent(infos, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, pending{path: certsPath, data: b}), nil
}

// keyInfo is a frame key's entry in keys/keys.json.
type keyInfo struct {
	KID       string    `json:"kid"`
	Alg       string    `json:"alg"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	RetiredAt time.Time `json:"retired_at,omitzero"`
	// File is the public key (PEM); "" for a shared secret (HS256), which
	// is never exported: its frames cannot be checked offline.
	File string `json:"file,omitempty"`
}

// frameKeyFiles are the vehicle's frame keys (every version, active and
// retired): public keys as PEM; an HS256 secret is listed, never exported.
func frameKeyFiles(ctx context.Context, src Source, vehicle string) ([]pending, error) {
	keys, err := src.ListVehicleKeys(ctx, vehicle)
	if err != nil {
		return nil, fmt.Errorf("forensics: frame keys: %w", err)
	}
	if len(keys) > MaxKeys {
		return nil, fmt.Errorf("%w: more than %d frame keys", ErrTooLarge, MaxKeys)
	}
	infos := []keyInfo{}
	var out []pending
	for _, k := range keys {
		if !safeToken(k.KID, "._-") {
			return nil, fmt.Errorf("forensics: key id %q cannot be a file name", k.KID)
		}
		ki := keyInfo{KID: k.KID, Alg: k.Alg, Status: k.Status, CreatedAt: k.CreatedAt.UTC(), RetiredAt: k.RetiredAt.UTC()}
		if k.RetiredAt.IsZero() {
			ki.RetiredAt = time.Time{}
		}
		if k.Alg != store.SecretAlg {
			ki.File = "keys/" + k.KID + ".pem"
			out = append(out, pending{path: ki.File, data: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.Material})})
		}
		infos = append(infos, ki)
	}
	b, err := json.MarshalIndent(infos, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, pending{path: keysPath, data: b}), nil
}

// approvalsToShip is every approval of the command (its history: renewals
// and the expired approvals they replaced), except that an approver's
// latest is shipped as the row that counts (approvals, what authorization
// reads) when that row holds otherwise: its bytes then no longer match the
// log item (log-hash-differs, or not-in-log when its time was edited) and
// the bundle says so, as audit.StoreSource does for audit verify, so an
// approval extended where it counts is named.
func approvalsToShip(ctx context.Context, src Source, command string) ([]store.Approval, error) {
	hist, err := src.ApprovalHistory(ctx, command)
	if err != nil {
		return nil, err
	}
	cur, err := src.ListApprovals(ctx, command)
	if err != nil {
		return nil, err
	}
	latest := map[string]int{}
	for i, a := range hist {
		latest[a.Approver] = i
	}
	for _, a := range cur {
		if i, ok := latest[a.Approver]; ok && !bytes.Equal(store.ApprovalAuditBytes(a), store.ApprovalAuditBytes(hist[i])) {
			hist[i] = a
		}
	}
	return hist, nil
}
