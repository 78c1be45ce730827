package ingest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/httpapi"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// ReadStore is the store's part the read API uses.
type ReadStore interface {
	LatestFrame(ctx context.Context, vehicleID, kind string) (store.FrameRecord, error)
	ListFrames(ctx context.Context, vehicleID string, from, to time.Time, limit int) ([]store.FrameRecord, error)
	GetFrame(ctx context.Context, vehicleID string, epoch, seq int64) (store.FrameRecord, error)
}

// ReadAPI serves the telemetry archive on the TMS listener:
//
//	GET /v1/vehicles/{id}/telemetry/latest
//	GET /v1/vehicles/{id}/telemetry?from=RFC3339&to=RFC3339&limit=N
//	GET /v1/vehicles/{id}/frames/{epoch}/{seq}/raw
//
// On the TMS listener every route sits behind the access guard
// (internal/authz.Guard, wired by GuardRoutes from authz.Policy): a bound
// access token with the telemetry:read scope, a role held now that grants
// it, and a vehicle of the caller's own carrier (another carrier's vehicle
// answers the guard's 404, the same as an unknown id). TMSRead below is a
// second, coarser check: TMS clients and operators only, well-formed ids.
type ReadAPI struct {
	Store ReadStore
	Peer  func(*http.Request) (principal.Principal, bool)
}

// Routes returns the handlers by ServeMux pattern, for a server that takes
// routes as a map (internal/server.Routes).
func (a *ReadAPI) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /v1/vehicles/{id}/telemetry/latest":         httpapi.TMSRead(a.Peer, a.latest),
		"GET /v1/vehicles/{id}/telemetry":                httpapi.TMSRead(a.Peer, a.list),
		"GET /v1/vehicles/{id}/frames/{epoch}/{seq}/raw": httpapi.TMSRead(a.Peer, a.raw),
	}
}

// FrameView is a stored frame as the read API shows it. Frame holds the
// frame's bytes exactly as the truck signed them, ext included; a frame
// whose payload retention purged has no Frame, and says so with PurgedAt
// (FrameSHA256, the hash of the frame as received, is always there).
type FrameView struct {
	VehicleID  string          `json:"vehicle_id"`
	Epoch      int64           `json:"epoch"`
	Seq        int64           `json:"seq"`
	Kind       string          `json:"kind"`
	TS         time.Time       `json:"ts"`
	ReceivedAt time.Time       `json:"received_at"`
	Alg        string          `json:"alg"`
	KID        string          `json:"kid"`
	Verdict    string          `json:"verdict"`
	Findings   string          `json:"findings,omitempty"`
	FrameHash  string          `json:"frame_sha256"`
	PurgedAt   *time.Time      `json:"purged_at,omitempty"`
	Frame      json.RawMessage `json:"frame,omitempty"`
}

func view(f store.FrameRecord) FrameView {
	v := FrameView{VehicleID: f.VehicleID, Epoch: f.Epoch, Seq: f.Seq, Kind: f.Kind, TS: f.TS, ReceivedAt: f.ReceivedAt,
		Alg: f.Alg, KID: f.KID, Verdict: f.Verdict, Findings: f.Findings, FrameHash: hex.EncodeToString(f.Hash)}
	if f.Purged() {
		at := f.PurgedAt
		v.PurgedAt = &at
		return v
	}
	v.Frame = json.RawMessage(f.Raw)
	return v
}

func storeProblem(err error) *problem.Error {
	if errors.Is(err, store.ErrNotFound) {
		return problem.New(http.StatusNotFound, codes.NotFound, "no such frame")
	}
	return problem.Wrap(err, http.StatusServiceUnavailable, codes.StoreUnavailable, "the store did not answer")
}

func (a *ReadAPI) latest(w http.ResponseWriter, r *http.Request) {
	f, err := a.Store.LatestFrame(r.Context(), r.PathValue("id"), string(frame.KindTelemetry))
	if err != nil {
		problem.Write(w, r, storeProblem(err))
		return
	}
	httpapi.WriteJSON(w, r, http.StatusOK, view(f))
}

func (a *ReadAPI) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	to := time.Now().Add(time.Minute)
	from := to.Add(-time.Hour)
	var err error
	if s := q.Get("from"); s != "" {
		if from, err = time.Parse(time.RFC3339Nano, s); err != nil {
			problem.Write(w, r, problem.New(http.StatusBadRequest, codes.BadQuery, "from must be RFC 3339"))
			return
		}
	}
	if s := q.Get("to"); s != "" {
		if to, err = time.Parse(time.RFC3339Nano, s); err != nil {
			problem.Write(w, r, problem.New(http.StatusBadRequest, codes.BadQuery, "to must be RFC 3339"))
			return
		}
	}
	limit := 0
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > store.MaxPage {
			problem.Write(w, r, problem.New(http.StatusBadRequest, codes.BadQuery, "limit must be 1 to "+strconv.Itoa(store.MaxPage)))
			return
		}
	}
	fs, err := a.Store.ListFrames(r.Context(), r.PathValue("id"), from, to, limit)
	if err != nil {
		problem.Write(w, r, storeProblem(err))
		return
	}
	out := struct {
		Frames []FrameView `json:"frames"`
	}{make([]FrameView, 0, len(fs))}
	for _, f := range fs {
		out.Frames = append(out.Frames, view(f))
	}
	httpapi.WriteJSON(w, r, http.StatusOK, out)
}

// raw returns the stored envelope, re-assembled in canonical form from the
// exact frame bytes and signature: it verifies offline with the vehicle's
// registered key.
func (a *ReadAPI) raw(w http.ResponseWriter, r *http.Request) {
	epoch, err1 := strconv.ParseInt(r.PathValue("epoch"), 10, 64)
	seq, err2 := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err1 != nil || err2 != nil || epoch < 0 || seq < 0 {
		problem.Write(w, r, problem.New(http.StatusBadRequest, codes.BadQuery, "epoch and seq must be non-negative integers"))
		return
	}
	f, err := a.Store.GetFrame(r.Context(), r.PathValue("id"), epoch, seq)
	if err != nil {
		problem.Write(w, r, storeProblem(err))
		return
	}
	if f.Purged() {
		problem.Write(w, r, problem.New(http.StatusGone, codes.FramePurged,
			"the frame's payload was purged by retention at "+f.PurgedAt.Format(time.RFC3339)+"; its hash is kept"))
		return
	}
	httpapi.WriteJSONBytes(w, http.StatusOK, frame.AssembleEnvelope(frame.Alg(f.Alg), f.KID, f.Raw, f.Sig))
}
