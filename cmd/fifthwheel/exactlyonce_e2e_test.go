package main

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
)

// cutLink is a truck's network link the test cuts and restores: a cut
// closes every open connection at once and refuses new dials (a carrier
// loss: the agent and the gateway both see the connection end); a restore
// lets the agent's reconnect through.
type cutLink struct {
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func (l *cutLink) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	refused := &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}
	l.mu.Lock()
	down := l.down
	l.mu.Unlock()
	if down {
		return nil, refused
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		c.Close()
		return nil, refused
	}
	l.conns = append(l.conns, c)
	return c, nil
}

func (l *cutLink) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = true
	for _, c := range l.conns {
		c.Close() // closing a closed connection is harmless
	}
	l.conns = nil
}

func (l *cutLink) restore() {
	l.mu.Lock()
	l.down = false
	l.mu.Unlock()
}

// waitConnected waits until the truck's agent has had n sessions
// (EventConnected) and is connected.
func (tr *truck) waitConnected(n int) {
	tr.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(tr.events.find(agent.EventConnected)) < n || !tr.a.Status().Connected {
		if time.Now().After(deadline) {
			tr.t.Fatalf("the truck had %d sessions, want %d: %+v", len(tr.events.find(agent.EventConnected)), n, tr.a.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitCommandState polls GET /v1/commands/{id} until the command is in
// state want, and returns it.
func waitCommandState(g *gateway, c tlsCred, id, want string) map[string]any {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, v := tmsGet(g, c.cert, c.token, "/v1/commands/"+id)
		if status != http.StatusOK {
			g.t.Fatalf("GET command %s: %d %v", id, status, v)
		}
		if v["state"] == want {
			return v
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("command %s is %v, never %s: %v", id, v["state"], want, v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHazmatDispatchExecutedOnceAcrossRetriesAndReconnects is issue 20's
// "done when" in one run, on both engines (PostgreSQL: the TMS on one
// replica, the truck's session on the other): a hazmat tender over the
// TMS API; its dispatch to a truck running the agent SDK, in session; the
// dispatch POST retried with the same Idempotency-Key before the
// approvals (the same answer, one command, nothing reaches the truck);
// two approvals by two distinct approver clients; the truck executes it
// and its link is cut while the AV stack decides, so the answer does not
// get out; the TMS retries the POST after the execution (the original
// answer, still one command); the link comes back (a new session): the
// gateway redelivers the unanswered command, the agent answers it from
// its executed-command log; then the link is cut and restored once more
// after the answer was recorded: nothing is delivered again. The AV
// stack's handler, which counts executions per command id, ran it exactly
// once; the command is accepted with its transitions.
//
// It fails without the defences (each seen by hand): with the
// Idempotency-Key neither looked up (tmsapi's replay) nor stored with the
// command (command.Request.Idempotency), the first retry makes a command
// of its own; with the agent's executed-command log off (no lookup, no
// record), the redelivery runs the handler a second time.
func TestHazmatDispatchExecutedOnceAcrossRetriesAndReconnects(t *testing.T) {
	t.Parallel()
	commandEngines(t, func(t *testing.T, a, b *gateway) {
		link := &cutLink{}
		av := &avStack{}
		var trp atomic.Pointer[truck]
		var cutOnce sync.Once
		cutDuringExecution := make(chan struct{})
		av.onCommand = func(agent.Command) {
			// The first execution: the link drops while the AV stack
			// decides; the answer is recorded in the truck's log but finds
			// no session to go out on.
			cutOnce.Do(func() {
				link.cut()
				tr := trp.Load()
				deadline := time.Now().Add(10 * time.Second)
				for tr.a.Status().Connected && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				close(cutDuringExecution)
			})
		}
		tr := startTruck(t, b, "truck-h", truckOptions{issuer: a, commands: av, dial: link.DialContext,
			agent: agent.Config{ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond}})
		trp.Store(tr)
		a.mustCLI("vehicle", "carrier", "set", "truck-h", "acme")

		dispCert := issueTMS(a, "client", "tms-h", "dispatcher", "--carrier", "acme")
		disp := tlsCred{cert: dispCert, token: a.token(dispCert, "tenders:write dispatch:write commands:read")}
		ap1 := issueTMS(a, "operator", "approver-1", "approver")
		ap2 := issueTMS(a, "client", "approver-2", "approver", "--carrier", "acme")
		tok1 := a.token(ap1, "commands:approve commands:read")
		tok2 := a.token(ap2, "commands:approve commands:read")

		tender := `{"tender_id":"HZ-EO","purpose":"original","references":{"bill_of_lading":"BOL-EO"},"carrier":{"scac":"ACME"},` +
			`"equipment":"tanker","stops":[` +
			`{"sequence":1,"type":"pickup","facility":{"name":"Refinery","address":"1 Main St","lat":29.7,"lon":-95.3,"tz":"America/Chicago"},"window":{"start":"2030-01-01T08:00:00Z","end":"2030-01-01T10:00:00Z"}},` +
			`{"sequence":2,"type":"delivery","facility":{"name":"Depot","address":"2 Elm St","lat":32.7,"lon":-96.8,"tz":"America/Chicago"},"window":{"start":"2030-01-01T16:00:00Z","end":"2030-01-01T18:00:00Z"}}],` +
			`"weights":{"gross_kg":20000},"hazmat":[{"un_number":"UN1203","class":"3","packing_group":"II","proper_shipping_name":"Gasoline"}],` +
			`"respond_by":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`
		if status, ans, _ := tmsPost(a, disp.cert, disp.token, "/v1/tenders", "eo-tender", tender); status != http.StatusCreated || ans["answer"] != "accept" {
			t.Fatalf("tender: %d %v", status, ans)
		}
		dispatch := `{"tender_id":"HZ-EO","vehicle_id":"truck-h","route":{"waypoints":[{"seq":1,"lat":29.7,"lon":-95.3},{"seq":2,"lat":32.7,"lon":-96.8,"handoff":true}]}}`
		status, first, _ := tmsPost(a, disp.cert, disp.token, "/v1/dispatches", "eo-dispatch", dispatch)
		if status != http.StatusAccepted || first["state"] != "pending_approval" || first["approvals_required"] != float64(2) {
			t.Fatalf("dispatch: %d %v", status, first)
		}
		id := first["id"].(string)
		onlyCommand := func(when string) {
			t.Helper()
			status, v := tmsGet(a, disp.cert, disp.token, "/v1/commands?vehicle=truck-h")
			items, _ := v["commands"].([]any)
			if status != http.StatusOK || len(items) != 1 || items[0].(map[string]any)["id"] != id {
				t.Fatalf("%s: the vehicle's commands: %d %v, want only %s", when, status, v, id)
			}
		}
		retry := func(when string) {
			t.Helper()
			status, again, h := tmsPost(a, disp.cert, disp.token, "/v1/dispatches", "eo-dispatch", dispatch)
			if status != http.StatusAccepted || h.Get("Idempotent-Replayed") != "true" || !reflect.DeepEqual(again, first) {
				t.Fatalf("the dispatch retried %s: %d, command %v (replayed %q), want the original answer (command %s)\n%v\n%v",
					when, status, again["id"], h.Get("Idempotent-Replayed"), id, again, first)
			}
			onlyCommand("after the retry " + when)
		}

		// The TMS retries before the approvals: the original answer, one
		// command, and nothing reaches the truck.
		retry("before the approvals")
		time.Sleep(2 * commandPoll)
		if av.total() != 0 {
			t.Fatalf("the truck ran %d commands before the approvals", av.total())
		}

		// Two approvals by two distinct approver clients.
		if status, v, _ := tmsPost(a, ap1, tok1, "/v1/commands/"+id+"/approvals", "eo-a1", ""); status != http.StatusOK || v["state"] != "pending_approval" {
			t.Fatalf("first approval: %d %v", status, v)
		}
		if av.total() != 0 {
			t.Fatal("the truck ran the command after one approval")
		}
		if status, v, _ := tmsPost(a, ap2, tok2, "/v1/commands/"+id+"/approvals", "eo-a2", ""); status != http.StatusOK || v["state"] != "queued" {
			t.Fatalf("second approval: %d %v", status, v)
		}

		// The truck executes it; its link is cut before the answer is out.
		select {
		case <-cutDuringExecution:
		case <-time.After(30 * time.Second):
			t.Fatal("the approved command never reached the truck")
		}
		if n := av.runs(id); n != 1 {
			t.Fatalf("the truck ran the command %d times", n)
		}
		// The gateway knows it was delivered, not what became of it.
		if v := waitCommandState(a, disp, id, "delivered"); v["possibly_executed"] != true {
			t.Fatalf("delivered, unanswered: %v", v)
		}

		// The TMS retries after the execution: the original answer again.
		retry("after the execution")

		// The link comes back: a new session; the gateway redelivers the
		// unanswered command and the truck answers it from its log.
		link.restore()
		tr.waitConnected(2)
		accepted := waitCommandState(a, disp, id, "accepted")
		if n := av.runs(id); n != 1 {
			t.Fatalf("after the reconnect the truck's handler had run the command %d times, want exactly once", n)
		}
		if len(tr.events.find(agent.EventCommandRedelivered)) != 1 {
			t.Fatalf("the truck answered %d redeliveries from its log, want 1", len(tr.events.find(agent.EventCommandRedelivered)))
		}

		// Cut and restored once more, after the answer was recorded:
		// nothing is delivered again.
		link.cut()
		link.restore()
		tr.waitConnected(3)
		time.Sleep(2 * commandPoll)
		if n := len(tr.events.find(agent.EventCommandRedelivered)); n != 1 {
			t.Fatalf("the accepted command was delivered again after the reconnect (%d redeliveries)", n)
		}

		if n, total := av.runs(id), av.total(); n != 1 || total != 1 {
			t.Fatalf("the truck's handler ran the command %d times (%d commands in all), want exactly once", n, total)
		}
		if n := len(tr.events.find(agent.EventCommandRefused)); n != 0 {
			t.Fatalf("the truck refused %d commands as attacks", n)
		}
		final := waitCommandState(a, disp, id, "accepted")
		if final["verdict"] != "accepted" || final["possibly_executed"] != true || final["final"] != true {
			t.Fatalf("the accepted command: %v", final)
		}
		var states []string
		for _, tr := range final["transitions"].([]any) {
			states = append(states, tr.(map[string]any)["to"].(string))
		}
		if want := []string{"pending_approval", "approved", "queued", "delivered", "accepted"}; !reflect.DeepEqual(states, want) {
			t.Fatalf("transitions %v, want %v", states, want)
		}
		if !reflect.DeepEqual(final["transitions"], accepted["transitions"]) {
			t.Fatalf("the transitions changed after the answer: %v, then %v", accepted["transitions"], final["transitions"])
		}
		aps := final["approvals"].([]any)
		if len(aps) != 2 || aps[0].(map[string]any)["approver"] == aps[1].(map[string]any)["approver"] {
			t.Fatalf("approvals %v", aps)
		}
		n := 0
		for _, e := range a.events(codes.CommandDelivered) {
			if strings.Contains(string(e.Body), id) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d command_delivered events for %s, want 1", n, id)
		}
		onlyCommand("at the end")
	})
}

// tlsCred is a TMS client's certificate and token.
type tlsCred struct {
	cert  tls.Certificate
	token string
}
