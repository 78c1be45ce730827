package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/httpapi"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
	"github.com/fifthwheel/fifthwheel/internal/ratelimit"
)

// BatchKinds are the frame kinds the batch path takes. Heartbeats and the
// session handshake belong to the vehicle session.
var BatchKinds = []frame.Kind{frame.KindTelemetry}

// BatchHandler serves POST /v1/vehicle/telemetry:
//
//	request:  {"frames":[<envelope>, ...]}
//	response: {"results":[{"index":0,"verdict":"accepted"|"rejected","code":"..."}, ...]}
//
// Only a body that cannot be read as a batch at all is refused as a whole
// (problem+json); otherwise every frame gets its own result.
type BatchHandler struct {
	Pipeline *Pipeline
	Limiter  *ratelimit.Limiter
	Events   event.Emitter
	// Peer returns the principal of the request's verified client
	// certificate.
	Peer func(*http.Request) (principal.Principal, bool)
}

// BatchResult is one entry of the response.
type BatchResult struct {
	Index     int      `json:"index"`
	Verdict   string   `json:"verdict"`
	Code      string   `json:"code,omitempty"`
	Duplicate bool     `json:"duplicate,omitempty"`
	Findings  []string `json:"findings,omitempty"`
}

func (h *BatchHandler) refuse(w http.ResponseWriter, r *http.Request, peer principal.Principal, pe *problem.Error) {
	_ = h.Events.Emit(r.Context(), event.Event{Class: event.ClassAPI, Activity: "telemetry_batch", Severity: event.SeverityMedium,
		Actor: peer, Resource: peer.String(), Verdict: event.Reject, Code: pe.Code, Attrs: map[string]any{"detail": pe.Detail}})
	problem.Write(w, r, pe)
}

func (h *BatchHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	peer, ok := h.Peer(r)
	if !ok || peer.Kind != principal.Vehicle {
		h.refuse(w, r, peer, problem.New(http.StatusForbidden, codes.Unauthenticated, "a vehicle certificate is required on this path"))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		h.refuse(w, r, peer, problem.New(http.StatusUnsupportedMediaType, codes.UnsupportedMediaType, "the body must be application/json"))
		return
	}
	// A saturated gateway refuses before reading the body (flow.go): the
	// frames were not looked at, and the vehicle sends them again later.
	if err := h.Pipeline.RefuseIfFull(r.Context(), peer, Backfill); err != nil {
		h.busy(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBatchBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.refuse(w, r, peer, problem.New(http.StatusRequestEntityTooLarge, codes.BodyTooLarge, fmt.Sprintf("the body is over %d bytes", MaxBatchBytes)))
			return
		}
		h.refuse(w, r, peer, problem.New(http.StatusBadRequest, codes.MalformedBatch, "the body could not be read"))
		return
	}
	raws, pe := ParseBatch(body)
	if pe != nil {
		h.refuse(w, r, peer, pe)
		return
	}
	giveBack := func() {}
	if h.Limiter != nil {
		var ok bool
		var wait time.Duration
		if ok, wait, giveBack = h.Limiter.TakeN(peer.ID, len(raws)); !ok {
			pe := problem.New(http.StatusTooManyRequests, codes.RateLimited, "the vehicle's frame rate is exceeded; retry after the Retry-After delay")
			pe.RetryAfter = ratelimit.RetryAfterSeconds(wait)
			h.refuse(w, r, peer, pe)
			return
		}
	}
	res, err := h.Pipeline.Process(r.Context(), peer, Backfill, BatchKinds, raws)
	h.answer(w, r, peer, res, err, giveBack)
}

// busy answers 429 gateway_busy: nothing of the batch was stored.
func (h *BatchHandler) busy(w http.ResponseWriter, r *http.Request) {
	pe := problem.New(http.StatusTooManyRequests, codes.GatewayBusy,
		"the gateway has its maximum of telemetry frames in flight; nothing was stored, send the batch again after the Retry-After delay")
	pe.RetryAfter = ratelimit.RetryAfterSeconds(busyRetryAfter)
	problem.Write(w, r, pe)
}

// answer writes Process's outcome.
func (h *BatchHandler) answer(w http.ResponseWriter, r *http.Request, peer principal.Principal, res []Result, err error, giveBack func()) {
	if errors.Is(err, ErrBusy) {
		// Telemetry yields: the frames were not looked at, so they do not
		// spend the vehicle's budget either. The pipeline recorded the
		// refusal, per vehicle and window; one event per refused batch
		// would add to the writes the gateway is short of.
		giveBack()
		h.busy(w, r)
		return
	}
	if err != nil {
		pe := problem.Wrap(err, http.StatusServiceUnavailable, codes.StoreUnavailable, "the gateway could not complete the checks; nothing was acknowledged, retry")
		pe.RetryAfter = 1
		problem.Write(w, r, pe) // the pipeline has no decision to record; the cause is logged by the caller's middleware
		return
	}
	out := struct {
		Results []BatchResult `json:"results"`
	}{make([]BatchResult, len(res))}
	for i, x := range res {
		out.Results[i] = BatchResult{Index: i, Verdict: x.Verdict, Code: x.Code, Duplicate: x.Duplicate, Findings: x.Findings}
	}
	httpapi.WriteJSON(w, r, http.StatusOK, out)
}

// ParseBatch reads {"frames":[...]} strictly (I-JSON: valid UTF-8, no
// duplicate names, nothing but "frames", nesting at most MaxBatchDepth) and
// returns each element's bytes. Elements are checked one by one later, so a
// bad element is that frame's rejection, not the batch's; but a body nested
// deeper than any envelope may be is refused as a whole (batch_too_deep),
// before any frame is looked at. Faults are reported in byte order.
func ParseBatch(body []byte) ([][]byte, *problem.Error) {
	bad := func(detail string) *problem.Error {
		return problem.New(http.StatusBadRequest, codes.MalformedBatch, detail)
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	tok, err := dec.ReadToken()
	if err != nil || tok.Kind() != '{' {
		return nil, bad(`the body must be a JSON object {"frames":[...]}`)
	}
	var raws [][]byte
	seen := false
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return nil, bad("the body is not valid I-JSON: " + syntaxDetail(err))
		}
		if name.String() != "frames" {
			return nil, bad("unknown member; the body has only \"frames\"")
		}
		seen = true
		if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '[' {
			return nil, bad(`"frames" must be an array`)
		}
		for dec.PeekKind() != ']' {
			// Token by token, so the depth is checked as the element is
			// read; the element's bytes are the span its tokens cover.
			start := dec.InputOffset()
			for {
				if _, err := dec.ReadToken(); err != nil {
					return nil, bad("the body is not valid I-JSON: " + syntaxDetail(err))
				}
				if dec.StackDepth() > MaxBatchDepth {
					return nil, problem.New(http.StatusBadRequest, codes.BatchTooDeep,
						fmt.Sprintf("objects and arrays nest deeper than %d levels", MaxBatchDepth))
				}
				if dec.StackDepth() == framesDepth {
					break // the element is complete
				}
			}
			if len(raws) == MaxBatchFrames {
				return nil, problem.New(http.StatusRequestEntityTooLarge, codes.TooManyFrames, fmt.Sprintf("at most %d frames per batch", MaxBatchFrames))
			}
			raws = append(raws, bytes.Clone(bytes.TrimLeft(body[start:dec.InputOffset()], ", \t\r\n")))
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, bad("the body is not valid I-JSON: " + syntaxDetail(err))
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, bad("the body is not valid I-JSON: " + syntaxDetail(err))
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, bad("trailing data after the batch object")
	}
	if !seen {
		return nil, bad(`the body has no "frames" member`)
	}
	return raws, nil
}

// syntaxDetail names the problem without echoing body bytes.
func syntaxDetail(err error) string {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.ByteOffset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of body"
	}
	return "malformed"
}
