package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/fifthwheel/fifthwheel/codes"
)

// tmsPost sends a POST of the TMS API with credential c, token, an
// Idempotency-Key and a JSON body.
func tmsPost(g *gateway, c tls.Certificate, token, path, key, body string) (int, map[string]any, http.Header) {
	g.t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://"+g.addrs.TMS+path, strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return tmsSend(g, c, req)
}

// tmsSend sends req and validates the request and its answer against
// api/openapi.yaml (kin-openapi's openapi3filter: OpenAPI 3.1).
func tmsSend(g *gateway, c tls.Certificate, req *http.Request) (int, map[string]any, http.Header) {
	g.t.Helper()
	var reqBody []byte
	if req.GetBody != nil {
		rc, _ := req.GetBody()
		reqBody, _ = io.ReadAll(rc)
	}
	resp, err := g.client(c).Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	validateTMS(g.t, req, reqBody, resp, b)
	var m map[string]any
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&m); err != nil {
		g.t.Fatalf("%s: answer %d is not JSON: %s", req.URL.Path, resp.StatusCode, b)
	}
	return resp.StatusCode, m, resp.Header
}

// TestTMSCommandsEndToEnd: through `serve` (mTLS, bound tokens, the
// guard, the command service and the store the binary wires), on both
// engines: a hazmat tender is accepted, its dispatch waits for two
// approvals by distinct approvers (the same one twice does not count),
// then it is queued with a cmd_seq; a retried dispatch creates nothing;
// a change of the dispatched tender is refused and its cancel cancels the
// queued dispatch.
func TestTMSCommandsEndToEnd(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			var ctl, gw *gateway
			if engine == "sqlite" {
				ctl = devGateway(t)
				gw = ctl
			} else {
				ctl, gw = pgReplicas(t)
			}
			ctl.mustCLI("vehicle", "add", "truck-a", "--carrier", "acme")
			disp := issueTMS(ctl, "client", "tms-d", "dispatcher", "--carrier", "acme")
			ap1 := issueTMS(ctl, "operator", "approver-1", "approver")
			ap2 := issueTMS(ctl, "client", "approver-2", "approver", "--carrier", "acme")
			tokD := gw.token(disp, "tenders:write dispatch:write commands:read commands:cancel fleet:read")
			tok1 := gw.token(ap1, "commands:approve commands:read")
			tok2 := gw.token(ap2, "commands:approve commands:read")

			tender := `{"tender_id":"HZ-1","purpose":"original","references":{"bill_of_lading":"BOL-9"},"carrier":{"scac":"ACME"},` +
				`"equipment":"tanker","stops":[` +
				`{"sequence":1,"type":"pickup","facility":{"name":"Refinery","address":"1 Main St","lat":29.7,"lon":-95.3,"tz":"America/Chicago"},"window":{"start":"2030-01-01T08:00:00Z","end":"2030-01-01T10:00:00Z"}},` +
				`{"sequence":2,"type":"delivery","facility":{"name":"Depot","address":"2 Elm St","lat":32.7,"lon":-96.8,"tz":"America/Chicago"},"window":{"start":"2030-01-01T16:00:00Z","end":"2030-01-01T18:00:00Z"}}],` +
				`"weights":{"gross_kg":20000},"hazmat":[{"un_number":"UN1203","class":"3","packing_group":"II","proper_shipping_name":"Gasoline"}],` +
				`"respond_by":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`
			status, ans, _ := tmsPost(gw, disp, tokD, "/v1/tenders", "t-1", tender)
			if status != http.StatusCreated || ans["answer"] != "accept" {
				t.Fatalf("tender: %d %v", status, ans)
			}
			dispatch := `{"tender_id":"HZ-1","vehicle_id":"truck-a","route":{"waypoints":[{"seq":1,"lat":29.7,"lon":-95.3},{"seq":2,"lat":32.7,"lon":-96.8,"handoff":true}]}}`
			status, cmd, _ := tmsPost(gw, disp, tokD, "/v1/dispatches", "d-1", dispatch)
			if status != http.StatusAccepted || cmd["state"] != "pending_approval" || cmd["approvals_required"] != float64(2) {
				t.Fatalf("dispatch: %d %v", status, cmd)
			}
			id := cmd["id"].(string)
			status, again, h := tmsPost(gw, disp, tokD, "/v1/dispatches", "d-1", dispatch)
			if status != http.StatusAccepted || again["id"] != id || h.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("retried dispatch: %d %v", status, again)
			}
			status, _, _ = tmsPost(gw, disp, tokD, "/v1/dispatches", "d-1", strings.Replace(dispatch, `"seq":2`, `"seq":3`, 1))
			if status != http.StatusConflict {
				t.Fatalf("the key with another body: %d", status)
			}
			if status, v, _ := tmsPost(gw, ap1, tok1, "/v1/commands/"+id+"/approvals", "a-1", ""); status != http.StatusOK || v["state"] != "pending_approval" {
				t.Fatalf("first approval: %d %v", status, v)
			}
			if status, v, _ := tmsPost(gw, ap1, tok1, "/v1/commands/"+id+"/approvals", "a-1b", ""); status != http.StatusConflict ||
				v["code"] != codes.CommandApprovalRefusedDuplicate {
				t.Fatalf("the same approver again: %d %v", status, v)
			}
			status, v, _ := tmsPost(gw, ap2, tok2, "/v1/commands/"+id+"/approvals", "a-2", "")
			if status != http.StatusOK || v["state"] != "queued" || v["cmd_seq"] != float64(1) || v["possibly_executed"] != false {
				t.Fatalf("second approval: %d %v", status, v)
			}
			req, _ := http.NewRequest(http.MethodGet, "https://"+gw.addrs.TMS+"/v1/commands/"+id, nil)
			req.Header.Set("Authorization", "Bearer "+tokD)
			status, v, _ = tmsSend(gw, disp, req)
			if status != http.StatusOK || len(v["transitions"].([]any)) != 3 || len(v["approvals"].([]any)) != 2 {
				t.Fatalf("GET: %d %v", status, v)
			}
			gw.waitEvent(codes.CommandQueued, "command:"+id)
			// The fleet reads, through the same validation.
			for p, want := range map[string]int{"/v1/vehicles": 200, "/v1/fleet/state": 200, "/v1/commands?vehicle=truck-a": 200,
				"/v1/commands/cmd-unknown": 404, "/v1/vehicles/truck-a/telemetry/latest": 403} {
				req, _ := http.NewRequest(http.MethodGet, "https://"+gw.addrs.TMS+p, nil)
				req.Header.Set("Authorization", "Bearer "+tokD)
				if status, v, _ := tmsSend(gw, disp, req); status != want {
					t.Errorf("GET %s: %d %v, want %d", p, status, v, want)
				}
			}
			// The TMS changes its mind: a change of the dispatched tender is
			// refused; a cancel cancels the queued dispatch (truck-a is not
			// connected), and a retry replays the answer.
			change := strings.Replace(tender, `"purpose":"original"`, `"purpose":"change"`, 1)
			if status, v, _ := tmsPost(gw, disp, tokD, "/v1/tenders", "t-chg", change); status != http.StatusConflict ||
				v["code"] != codes.TenderChangeAfterDispatch {
				t.Fatalf("change after dispatch: %d %v", status, v)
			}
			cancel := strings.Replace(tender, `"purpose":"original"`, `"purpose":"cancel"`, 1)
			status, v, _ = tmsPost(gw, disp, tokD, "/v1/tenders", "t-cancel", cancel)
			cs, _ := v["commands"].([]any)
			if status != http.StatusOK || v["answer"] != "cancelled" || len(cs) != 1 || cs[0].(map[string]any)["id"] != id ||
				cs[0].(map[string]any)["cancelled"] != true {
				t.Fatalf("cancel: %d %v", status, v)
			}
			if status, again, h := tmsPost(gw, disp, tokD, "/v1/tenders", "t-cancel", cancel); status != http.StatusOK ||
				h.Get("Idempotent-Replayed") != "true" || again["cancelled_at"] != v["cancelled_at"] {
				t.Fatalf("retried cancel: %d %v", status, again)
			}
			gw.waitEvent(codes.TenderCancelled, "tender:HZ-1")
		})
	}
}

var (
	openapiOnce   sync.Once
	openapiRouter routers.Router
	openapiErr    error
)

// validateTMS checks one exchange with the running gateway against
// api/openapi.yaml: the request and the response (status, headers, body).
func validateTMS(t testing.TB, req *http.Request, reqBody []byte, resp *http.Response, body []byte) {
	t.Helper()
	openapiOnce.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromFile("../../api/openapi.yaml")
		if err != nil {
			openapiErr = err
			return
		}
		if openapiErr = doc.Validate(context.Background()); openapiErr != nil {
			return
		}
		doc.Servers = nil
		openapiRouter, openapiErr = legacy.NewRouter(doc)
	})
	if openapiErr != nil {
		t.Fatal(openapiErr)
	}
	vr := req.Clone(context.Background())
	vr.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := openapiRouter.FindRoute(vr)
	if err != nil {
		t.Fatalf("%s %s: no operation in api/openapi.yaml: %v", req.Method, req.URL.Path, err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		t.Errorf("%s %s: the request does not validate against api/openapi.yaml: %v", req.Method, req.URL.Path, err)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: opts}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s: the %d answer does not validate against api/openapi.yaml: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
}
