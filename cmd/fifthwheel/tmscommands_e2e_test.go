package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

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

func tmsSend(g *gateway, c tls.Certificate, req *http.Request) (int, map[string]any, http.Header) {
	g.t.Helper()
	resp, err := g.client(c).Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
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
// then it is queued with a cmd_seq; a retried dispatch creates nothing.
func TestTMSCommandsEndToEnd(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
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
			tokD := gw.token(disp, "tenders:write dispatch:write commands:read commands:cancel")
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
		})
	}
}
