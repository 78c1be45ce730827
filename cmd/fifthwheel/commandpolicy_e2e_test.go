package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCommandPolicyFromConfiguration: the commands section reaches the
// command service serve builds. A gateway configured (through its
// environment, FIFTHWHEEL_COMMANDS_*) with one hazmat approval and no
// handover approval asks one approval of a hazmat dispatch with a handoff
// point, where the defaults ask two; a policy out of bounds stops serve
// before it listens.
func TestCommandPolicyFromConfiguration(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "d")
	env := []string{"FIFTHWHEEL_COMMANDS_HAZMAT_APPROVALS=1", "FIFTHWHEEL_COMMANDS_HANDOVER_APPROVALS=0"}
	gw := startGateway(t, data, []string{"--data", data}, env)
	gw.mustCLI("vehicle", "add", "truck-a", "--carrier", "acme")
	disp := issueTMS(gw, "client", "tms-d", "dispatcher", "--carrier", "acme")
	tok := gw.token(disp, "tenders:write dispatch:write commands:read")

	tender := `{"tender_id":"HZ-1","purpose":"original","references":{"bill_of_lading":"BOL-9"},"carrier":{"scac":"ACME"},` +
		`"equipment":"tanker","stops":[` +
		`{"sequence":1,"type":"pickup","facility":{"name":"Refinery","address":"1 Main St","lat":29.7,"lon":-95.3,"tz":"America/Chicago"},"window":{"start":"2030-01-01T08:00:00Z","end":"2030-01-01T10:00:00Z"}},` +
		`{"sequence":2,"type":"delivery","facility":{"name":"Depot","address":"2 Elm St","lat":32.7,"lon":-96.8,"tz":"America/Chicago"},"window":{"start":"2030-01-01T16:00:00Z","end":"2030-01-01T18:00:00Z"}}],` +
		`"weights":{"gross_kg":20000},"hazmat":[{"un_number":"UN1203","class":"3","packing_group":"II","proper_shipping_name":"Gasoline"}],` +
		`"respond_by":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`
	if status, ans, _ := tmsPost(gw, disp, tok, "/v1/tenders", "t-1", tender); status != http.StatusCreated || ans["answer"] != "accept" {
		t.Fatalf("tender: %d %v", status, ans)
	}
	dispatch := `{"tender_id":"HZ-1","vehicle_id":"truck-a","route":{"waypoints":[{"seq":1,"lat":29.7,"lon":-95.3},{"seq":2,"lat":32.7,"lon":-96.8,"handoff":true}]}}`
	status, cmd, _ := tmsPost(gw, disp, tok, "/v1/dispatches", "d-1", dispatch)
	if status != http.StatusAccepted || cmd["state"] != "pending_approval" || cmd["approvals_required"] != float64(1) || cmd["risk_class"] != "elevated" {
		t.Fatalf("hazmat dispatch under commands.hazmat_approvals 1: %d %v", status, cmd)
	}

	bad := filepath.Join(t.TempDir(), "bad")
	r := cli(t, []string{"FIFTHWHEEL_COMMANDS_HAZMAT_APPROVALS=0", "FIFTHWHEEL_COMMANDS_APPROVAL_LIFETIME=1s"},
		serveArgs([]string{"--data", bad}, nil)...)
	if r.code != 2 || !strings.Contains(r.stderr, "commands.hazmat_approvals") || !strings.Contains(r.stderr, "commands.approval_lifetime") {
		t.Fatalf("serve with a policy out of bounds: exit %d\n%s", r.code, r.stderr)
	}
}
