package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
)

// TestWebhookEndToEnd: through `serve --dev`, a TMS client's webhook set
// with the CLI gets the client's command transitions from the outbox,
// enqueued from the event bus and sent by the gateway's sender, which
// fails closed: with webhooks.allow_private off (the default) a loopback
// receiver is refused at connection time; with it on, the receiver's
// self-signed certificate is refused by the system roots. Either way no
// request reaches the receiver and each failure is an event naming the
// message type.
func TestWebhookEndToEnd(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, env, reason string
	}{
		{"default_refuses_loopback", "", "refused_address"},
		{"allow_private_still_verifies_tls", "FIFTHWHEEL_WEBHOOKS_ALLOW_PRIVATE=true", "tls_verification"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int64
			rcv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
			t.Cleanup(rcv.Close)
			data := filepath.Join(t.TempDir(), "d")
			var env []string
			if c.env != "" {
				env = []string{c.env}
			}
			g := startGateway(t, data, []string{"--data", data}, env)
			g.mustCLI("vehicle", "add", "truck-a", "--carrier", "acme")
			disp := issueTMS(g, "client", "tms-d", "dispatcher", "--carrier", "acme")
			secret := filepath.Join(t.TempDir(), "webhook.secret")
			if err := os.WriteFile(secret, []byte(strings.Repeat("s", 32)), 0o600); err != nil {
				t.Fatal(err)
			}
			g.mustCLI("client", "webhook", "set", "tms-d", "--url", rcv.URL+"/hook", "--secret-file", secret)
			tok := g.token(disp, "tenders:write dispatch:write commands:read")
			tender := `{"tender_id":"T-1","purpose":"original","references":{"bill_of_lading":"BOL-1"},"carrier":{"scac":"ACME"},` +
				`"equipment":"van","stops":[` +
				`{"sequence":1,"type":"pickup","facility":{"name":"A","address":"1 Main St","lat":29.7,"lon":-95.3,"tz":"America/Chicago"},"window":{"start":"2030-01-01T08:00:00Z","end":"2030-01-01T10:00:00Z"}},` +
				`{"sequence":2,"type":"delivery","facility":{"name":"B","address":"2 Elm St","lat":32.7,"lon":-96.8,"tz":"America/Chicago"},"window":{"start":"2030-01-01T16:00:00Z","end":"2030-01-01T18:00:00Z"}}],` +
				`"weights":{"gross_kg":10000},"respond_by":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`
			if status, ans, _ := tmsPost(g, disp, tok, "/v1/tenders", "t-1", tender); status != http.StatusCreated {
				t.Fatalf("tender: %d %v", status, ans)
			}
			dispatch := `{"tender_id":"T-1","vehicle_id":"truck-a","route":{"waypoints":[{"seq":1,"lat":29.7,"lon":-95.3},{"seq":2,"lat":32.7,"lon":-96.8}]}}`
			status, cmd, _ := tmsPost(g, disp, tok, "/v1/dispatches", "d-1", dispatch)
			if status != http.StatusAccepted {
				t.Fatalf("dispatch: %d %v", status, cmd)
			}
			ev := g.waitEvent(codes.WebhookDeliveryFailed, `"reason":"`+c.reason+`"`)
			body := string(ev.Body)
			if !strings.Contains(body, `"event_type":"command.transition"`) || !strings.Contains(body, `"resource":"urn:fifthwheel:client:tms-d"`) {
				t.Fatalf("failure event: %s", body)
			}
			if n := hits.Load(); n != 0 {
				t.Fatalf("the receiver got %d requests", n)
			}
		})
	}
}
