package auditapi

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/httpapi"
	"github.com/fifthwheel/fifthwheel/internal/problem"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// The routes, as authz.Policy names them.
const (
	RouteCheckpoint  = "GET /v1/audit/checkpoint"
	RouteInclusion   = "GET /v1/audit/proof/inclusion"
	RouteConsistency = "GET /v1/audit/proof/consistency"
)

// Store is what the API reads.
type Store interface {
	audit.ProofStore
	LatestAuditCheckpoint(ctx context.Context) (store.AuditCheckpoint, error)
	AuditCheckpointAt(ctx context.Context, size uint64) (store.AuditCheckpoint, error)
	FindAuditItems(ctx context.Context, kind, ref string) ([]store.AuditItem, error)
}

// API serves the audit routes. Verifier is the log's key, to open the
// stored checkpoint before a proof is built on it. Events records a
// consistency proof the stored log cannot back (codes.AuditLogInconsistent).
type API struct {
	Store    Store
	Verifier note.Verifier
	Events   event.Emitter
}

// Routes returns the handlers by ServeMux pattern (keys of authz.Policy).
func (a *API) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		RouteCheckpoint:  a.guarded(a.checkpoint),
		RouteInclusion:   a.guarded(a.inclusion),
		RouteConsistency: a.guarded(a.consistency),
	}
}

// guarded refuses a request that did not pass the access guard, and an
// oversized query.
func (a *API) guarded(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := authz.CallerFrom(r.Context()); !ok {
			problem.Write(w, r, problem.New(http.StatusForbidden, codes.Forbidden, "the request did not pass the access guard"))
			return
		}
		if len(r.URL.RawQuery) > MaxQueryBytes {
			problem.Write(w, r, problem.New(http.StatusBadRequest, codes.BadQuery, "the query is too long"))
			return
		}
		h(w, r)
	})
}

func storeProblem(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return problem.New(http.StatusNotFound, codes.NotFound, what)
	}
	return problem.Wrap(err, http.StatusServiceUnavailable, codes.StoreUnavailable, "the store did not answer")
}

// latest is the latest checkpoint, opened with the log key: a stored
// checkpoint that does not verify is never served as one.
func (a *API) latest(ctx context.Context) (store.AuditCheckpoint, audit.Checkpoint, error) {
	sc, err := a.Store.LatestAuditCheckpoint(ctx)
	if err != nil {
		return sc, audit.Checkpoint{}, storeProblem(err, "the audit log has no checkpoint yet")
	}
	cp, err := audit.OpenCheckpoint(sc.Note, a.Verifier)
	if err != nil {
		return sc, cp, problem.Wrap(err, http.StatusInternalServerError, codes.Internal, "the stored checkpoint does not verify")
	}
	return sc, cp, nil
}

func writeText(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func (a *API) checkpoint(w http.ResponseWriter, r *http.Request) {
	sc, _, err := a.latest(r.Context())
	if err != nil {
		problem.Write(w, r, err)
		return
	}
	writeText(w, sc.Note)
}

func (a *API) inclusion(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	it := audit.Item{Kind: audit.Kind(q.Get("kind")), Ref: q.Get("ref")}
	if err := it.Valid(); err != nil {
		problem.Write(w, r, problem.New(http.StatusBadRequest, codes.BadQuery, "kind must be frame, event or command, and ref 1 to "+
			strconv.Itoa(audit.MaxRefLen)+" bytes of UTF-8"))
		return
	}
	items, err := a.Store.FindAuditItems(r.Context(), string(it.Kind), it.Ref)
	if err != nil {
		problem.Write(w, r, storeProblem(err, ""))
		return
	}
	var found *store.AuditItem
	for i := range items {
		if items[i].Sequenced {
			found = &items[i]
			break
		}
	}
	switch {
	case found == nil && len(items) > 0:
		problem.Write(w, r, problem.New(http.StatusNotFound, codes.AuditItemPending, "the item is not in a checkpoint yet; retry within a second"))
		return
	case found == nil:
		problem.Write(w, r, problem.New(http.StatusNotFound, codes.NotFound, "no such item in the audit log"))
		return
	}
	sc, cp, err := a.latest(r.Context())
	if err != nil {
		problem.Write(w, r, err)
		return
	}
	p, err := audit.ItemProof(r.Context(), a.Store, found.Leaf, found.Pos, cp, sc.Note)
	if err != nil {
		problem.Write(w, r, problem.Wrap(err, http.StatusInternalServerError, codes.Internal, "the stored log does not prove the item"))
		return
	}
	writeText(w, p)
}

// ConsistencyView is a consistency proof: the RFC 6962 proof hashes
// (base64) from OldSize to the size of Checkpoint, the signed note, and
// OldCheckpoint, the log's signed checkpoint of OldSize when the store
// holds one ("" otherwise; OldSize 0 has none): the proof was checked
// against it before it was served.
type ConsistencyView struct {
	OldSize       uint64   `json:"old_size"`
	NewSize       uint64   `json:"new_size"`
	Checkpoint    string   `json:"checkpoint"`
	OldCheckpoint string   `json:"old_checkpoint,omitempty"`
	Hashes        []string `json:"hashes"`
}

func (a *API) consistency(w http.ResponseWriter, r *http.Request) {
	old, err := strconv.ParseUint(r.URL.Query().Get("old"), 10, 64)
	if err != nil {
		problem.Write(w, r, problem.New(http.StatusBadRequest, codes.BadQuery, "old must be a tree size"))
		return
	}
	sc, cp, err := a.latest(r.Context())
	if err != nil {
		problem.Write(w, r, err)
		return
	}
	if old > cp.Size {
		problem.Write(w, r, problem.New(http.StatusBadRequest, codes.BadQuery, "old is larger than the latest checkpoint's size "+strconv.FormatUint(cp.Size, 10)))
		return
	}
	hs, err := audit.ConsistencyProof(r.Context(), a.Store, old, cp.Size)
	if errors.Is(err, audit.ErrNodeMissing) {
		a.inconsistent(r.Context(), old, cp.Size, err)
		problem.Write(w, r, problem.Wrap(err, http.StatusInternalServerError, codes.AuditLogInconsistent, "the stored log lacks a node of the consistency proof"))
		return
	}
	if err != nil {
		problem.Write(w, r, problem.Wrap(err, http.StatusInternalServerError, codes.Internal, "the stored log gives no consistency proof"))
		return
	}
	oldNote, err := a.checkConsistency(r.Context(), old, cp, hs)
	if err != nil {
		problem.Write(w, r, err)
		return
	}
	v := ConsistencyView{OldSize: old, NewSize: cp.Size, Checkpoint: string(sc.Note), OldCheckpoint: string(oldNote), Hashes: make([]string, len(hs))}
	for i, h := range hs {
		v.Hashes[i] = base64.StdEncoding.EncodeToString(h)
	}
	httpapi.WriteJSON(w, r, http.StatusOK, v)
}

// checkConsistency checks the proof hs from old to cp against the log's
// own signed checkpoint of size old, if the store holds one, and returns
// that checkpoint. A proof that does not verify (a node edited in the
// database) or a stored old checkpoint that does not open is never
// served: 500 and an audit_log_inconsistent event. Without a stored
// checkpoint of size old there is nothing to check against; the auditor
// checks the proof against the root they saved.
func (a *API) checkConsistency(ctx context.Context, old uint64, cp audit.Checkpoint, hs [][]byte) ([]byte, error) {
	if old == 0 {
		return nil, nil
	}
	oc, err := a.Store.AuditCheckpointAt(ctx, old)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, storeProblem(err, "")
	}
	ocp, err := audit.OpenCheckpoint(oc.Note, a.Verifier)
	if err == nil && ocp.Size != old {
		err = errors.New("the stored checkpoint's size differs from its signed body")
	}
	if err == nil {
		err = proof.VerifyConsistency(rfc6962.DefaultHasher, old, cp.Size, hs, ocp.Hash, cp.Hash)
	}
	if err == nil {
		return oc.Note, nil
	}
	a.inconsistent(ctx, old, cp.Size, err)
	return nil, problem.Wrap(err, http.StatusInternalServerError, codes.AuditLogInconsistent,
		"the stored log does not prove that the latest checkpoint extends its checkpoint of this size")
}

// inconsistent records the security event of a consistency proof the
// stored log cannot back.
func (a *API) inconsistent(ctx context.Context, old, size uint64, cause error) {
	if a.Events == nil {
		return
	}
	ev := event.Event{Class: event.ClassSystem, Activity: "audit_consistency_proof", Severity: event.SeverityHigh,
		Verdict: event.Reject, Code: codes.AuditLogInconsistent,
		Attrs: map[string]any{"old_size": old, "new_size": size, "reason": cause.Error()}}
	if c, ok := authz.CallerFrom(ctx); ok {
		ev.Actor = c.Principal
	}
	// The answer is a 500 whatever the emitter says: record it with a
	// context that outlives a client that hung up.
	_ = a.Events.Emit(context.WithoutCancel(ctx), ev)
}
