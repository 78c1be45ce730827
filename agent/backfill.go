package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// batchResult is one entry of the batch path's answer.
type batchResult struct {
	Index     int    `json:"index"`
	Verdict   string `json:"verdict"`
	Code      string `json:"code"`
	Duplicate bool   `json:"duplicate"`
}

// postFrames sends envelopes to POST /v1/vehicle/telemetry (body
// {"frames":[...]}) and returns one result per frame, in order. An error
// means the batch as a whole was not taken (network, 429, 503, a refusal):
// a *ConnError, whose code says whether its frames may have been stored
// (see settleLocked), with the gateway's Retry-After.
func (a *Agent) postFrames(ctx context.Context, batch []signedFrame) ([]batchResult, error) {
	var body bytes.Buffer
	body.WriteString(`{"frames":[`)
	for i, f := range batch {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(f.env)
	}
	body.WriteString(`]}`)
	ctx, cancel := context.WithTimeout(ctx, a.cfg.HandshakeTimeout+a.cfg.WriteTimeout)
	defer cancel()
	rctx, mark := gatewayRequest(ctx)
	u := *a.base
	u.Path = TelemetryPath
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, u.String(), &body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.httpc.Do(req)
	if err != nil {
		return nil, classifyDial(ctx, mark(err), nil, nil)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, connErr(KindNetwork, "", err)
	}
	if resp.StatusCode != http.StatusOK {
		ce := classifyProblem(resp.StatusCode, b, fmt.Errorf("batch path answered %s", resp.Status))
		ce.RetryAfter = retryAfter(resp) // gateway_busy, rate_limited, store_unavailable
		return nil, ce
	}
	var out struct {
		Results []batchResult `json:"results"`
	}
	if err := json.Unmarshal(b, &out); err != nil || len(out.Results) != len(batch) {
		return nil, connErr(KindProtocol, CodeBadBatchResponse, fmt.Errorf("the batch answer does not have one result per frame"))
	}
	for i, r := range out.Results {
		if r.Index != i || (r.Verdict != "accepted" && r.Verdict != "rejected") {
			return nil, connErr(KindProtocol, CodeBadBatchResponse, fmt.Errorf("batch result %d is malformed", i))
		}
	}
	return out.Results, nil
}
