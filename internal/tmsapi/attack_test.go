package tmsapi_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestAttackCommandWithoutRequiredApprovals: a hazmat dispatch, and a
// heavy one, stay pending_approval with fewer approvals than required:
// no cmd_seq, nothing queued for the vehicle.
func TestAttackCommandWithoutRequiredApprovals(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("HAZ-1", true)
		heavy := e.do(call{caller: acmeDispatcher, path: "/v1/tenders", key: "t-heavy", body: tenderBody("HEAVY-1", false, 40000)})
		want(t, heavy, http.StatusCreated, "")
		haz := e.dispatch("HAZ-1", "TRK-1")
		r := e.do(call{caller: acmeDispatcher, path: "/v1/dispatches", key: "d-heavy", body: dispatchBody("HEAVY-1", "TRK-2")})
		want(t, r, http.StatusAccepted, "")
		hv := r.json(t)["id"].(string)
		want(t, e.approve(acmeApprover1, haz, "a-1"), http.StatusOK, "")
		want(t, e.approve(acmeApprover1, hv, "a-2"), http.StatusOK, "")
		for _, id := range []string{haz, hv} {
			v := e.get(acmeDispatcher, id).json(t)
			if v["state"] != "pending_approval" || v["cmd_seq"] != nil || v["possibly_executed"] != false {
				t.Fatalf("%s with one of two approvals: %v", id, v)
			}
		}
		for _, veh := range []string{"TRK-1", "TRK-2"} {
			q, err := e.st.ListQueuedCommands(context.Background(), veh, 0)
			if err != nil || len(q) != 0 {
				t.Fatalf("%s has queued commands %v (%v)", veh, q, err)
			}
		}
	})
}

// TestAttackHandoffDispatchWithoutApproval: a standard load dispatched on
// a route with a handoff point (the load changes hands there) is a
// handover: it waits pending_approval for the handover approval, nothing
// queued, where the same load on a route without one queues at once;
// one approval by an approver queues it.
func TestAttackHandoffDispatchWithoutApproval(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("HANDOFF-1", false)
		r := e.do(call{caller: acmeDispatcher, path: "/v1/dispatches", key: "d-handoff", body: handoffDispatchBody("HANDOFF-1", "TRK-1")})
		want(t, r, http.StatusAccepted, "")
		v := r.json(t)
		id := v["id"].(string)
		if v["state"] != "pending_approval" || v["approvals_required"] != float64(1) || v["risk_class"] != "elevated" {
			t.Fatalf("dispatch with a handoff point: %v", v)
		}
		if q, err := e.st.ListQueuedCommands(context.Background(), "TRK-1", 0); err != nil || len(q) != 0 {
			t.Fatalf("a handover without its approval is queued: %v (%v)", q, err)
		}
		if s := e.state(id); s != command.PendingApproval {
			t.Fatalf("state %s", s)
		}
		want(t, e.approve(acmeApprover1, id, "a-handoff"), http.StatusOK, "")
		if s := e.state(id); s != command.Queued {
			t.Fatalf("after the handover approval: %s", s)
		}
	})
}

// TestAttackOnePrincipalApprovesTwice: a second approval by the same
// principal (under a new key) is refused and does not count.
func TestAttackOnePrincipalApprovesTwice(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("HAZ-2", true)
		id := e.dispatch("HAZ-2", "TRK-1")
		want(t, e.approve(acmeApprover1, id, "first"), http.StatusOK, "")
		want(t, e.approve(acmeApprover1, id, "second"), http.StatusConflict, codes.CommandApprovalRefusedDuplicate)
		if s := e.state(id); s != command.PendingApproval {
			t.Fatalf("two approvals by one principal moved it to %s", s)
		}
	})
}

// TestAttackRequesterApprovesOwnCommand: the requester, even holding the
// approver role, cannot approve its own command.
func TestAttackRequesterApprovesOwnCommand(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("HAZ-3", true)
		id := e.dispatch("HAZ-3", "TRK-1")
		self := acmeDispatcher
		want(t, e.approve(self, id, "self-1"), http.StatusForbidden, codes.CommandApprovalRefusedSelf)
		if n := e.count(codes.CommandApprovalRefusedSelf); n != 1 {
			t.Fatalf("%d command_approval_refused_self events, want 1", n)
		}
		want(t, e.approve(acmeApprover1, id, "other-1"), http.StatusOK, "")
		if s := e.state(id); s != command.PendingApproval {
			t.Fatalf("self-approval counted: %s", s)
		}
	})
}

// TestAttackApproverWithoutRole: a token with the approve scope whose
// principal no longer holds the approver role is refused.
func TestAttackApproverWithoutRole(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("HAZ-4", true)
		id := e.dispatch("HAZ-4", "TRK-1")
		want(t, e.approve(acmeNoRole, id, "norole"), http.StatusForbidden, codes.CommandApprovalRefusedRole)
		as, err := e.st.ListApprovals(context.Background(), id)
		if err != nil || len(as) != 0 {
			t.Fatalf("approvals recorded: %v (%v)", as, err)
		}
	})
}

// TestAttackOtherCarrierActsOnVehicleAndCommand: another carrier's
// client gets 404, as for an unknown id, on every route naming acme's
// vehicle or command, and changes nothing.
func TestAttackOtherCarrierActsOnVehicleAndCommand(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("HAZ-5", true)
		id := e.dispatch("HAZ-5", "TRK-1")
		// globex's own accepted tender, dispatched to acme's truck.
		gt := strings.Replace(tenderBody("G-1", false, 1000), `"scac":"ACME"`, `"scac":"GLOBEX"`, 1)
		gt = strings.Replace(gt, `"scac":"GLOBEX"`, `"scac":"GLOB"`, 1)
		r := e.do(call{caller: globexDispatcher, path: "/v1/tenders", key: "g-t", body: gt})
		want(t, r, http.StatusCreated, "")
		cases := []struct {
			name string
			c    call
		}{
			{"read acme's command", call{method: http.MethodGet, path: "/v1/commands/" + id}},
			{"approve acme's command", call{path: "/v1/commands/" + id + "/approvals", key: "g-a"}},
			{"cancel acme's command", call{path: "/v1/commands/" + id + "/cancel", key: "g-c", body: `{"reason":"mine"}`}},
			{"dispatch to acme's vehicle", call{path: "/v1/dispatches", key: "g-d", body: dispatchBody("G-1", "TRK-1")}},
			{"re-route acme's vehicle", call{path: "/v1/vehicles/TRK-1/route", key: "g-r", header: map[string]string{"If-Match": `"1"`},
				body: `{"route":{"waypoints":[{"seq":1,"lat":1,"lon":1}]},"reason":"detour"}`}},
		}
		for _, tc := range cases {
			tc.c.caller = globexDispatcher
			got := e.do(tc.c)
			want(t, got, http.StatusNotFound, codes.NotFound)
			// An unknown id answers the same.
			unknown := tc.c
			unknown.path = strings.NewReplacer(id, "cmd-unknown", "TRK-1", "TRK-404").Replace(tc.c.path)
			unknown.body = strings.Replace(tc.c.body, "TRK-1", "TRK-404", 1)
			unknown.key += "-u"
			u := e.do(unknown)
			if u.status != got.status || u.json(t)["detail"] != got.json(t)["detail"] {
				t.Errorf("%s: another carrier's answer differs from an unknown one's:\n%s\n%s", tc.name, got.body, u.body)
			}
		}
		v := e.get(acmeDispatcher, id).json(t)
		if v["state"] != "pending_approval" || v["approvals"] != nil {
			t.Fatalf("another carrier changed acme's command: %v", v)
		}
		// And acme cannot reach globex's truck either.
		e.tender("A-9", false)
		want(t, e.do(call{caller: acmeDispatcher, path: "/v1/dispatches", key: "a-9", body: dispatchBody("A-9", "TRK-9")}),
			http.StatusNotFound, codes.NotFound)
	})
}

// TestAttackIdempotencyKeyReusedWithOtherBody: the same key with another
// body is 409 on every POST, and does nothing.
func TestAttackIdempotencyKeyReusedWithOtherBody(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("L-1", false)
		e.tender("L-2", false)
		want(t, e.do(call{caller: acmeDispatcher, path: "/v1/dispatches", key: "same", body: dispatchBody("L-1", "TRK-1")}), http.StatusAccepted, "")
		want(t, e.do(call{caller: acmeDispatcher, path: "/v1/dispatches", key: "same", body: dispatchBody("L-2", "TRK-2")}),
			http.StatusConflict, codes.IdempotencyKeyReused)
		q, _ := e.st.ListQueuedCommands(context.Background(), "TRK-2", 0)
		if len(q) != 0 {
			t.Fatalf("the reused key created a command for TRK-2")
		}
		// The tender endpoint: the key of L-1's tender with L-3's body.
		want(t, e.do(call{caller: acmeDispatcher, path: "/v1/tenders", key: "tender-L-1", body: tenderBody("L-3", false, 1)}),
			http.StatusConflict, codes.IdempotencyKeyReused)
		// Another endpoint with the same key is another request too.
		e.tender("H-1", true)
		id := e.dispatch("H-1", "TRK-1")
		want(t, e.do(call{caller: acmeDispatcher, path: "/v1/commands/" + id + "/cancel", key: "same", body: `{"reason":"x"}`}),
			http.StatusConflict, codes.IdempotencyKeyReused)
		if s := e.state(id); s != command.PendingApproval {
			t.Fatalf("the refused cancel changed the command: %s", s)
		}
		// Keys are per principal: the approver's "same" is its own.
		want(t, e.approve(acmeApprover1, id, "same"), http.StatusOK, "")
		want(t, e.do(call{caller: acmeApprover1, path: "/v1/commands/" + id + "/approvals", key: "same", body: `{}`}),
			http.StatusConflict, codes.IdempotencyKeyReused)
	})
}

// TestAttackPostWithoutIdempotencyKey: a POST without a key, or with a
// malformed one, is 400 and does nothing.
func TestAttackPostWithoutIdempotencyKey(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		for _, key := range []string{"-", "", "has space", strings.Repeat("k", 129), "é"} {
			r := e.do(call{caller: acmeDispatcher, path: "/v1/tenders", key: key, body: tenderBody("NOKEY", false, 1), invalid: true})
			want(t, r, http.StatusBadRequest, codes.IdempotencyKeyRequired)
		}
		if n := e.count(codes.IdempotencyKeyRequired); n != 5 {
			t.Fatalf("%d idempotency_key_required events for 5 refusals", n)
		}
		if _, err := e.st.GetTender(context.Background(), acmeDispatcher.Principal.String(), "NOKEY"); err == nil {
			t.Fatal("a tender without an Idempotency-Key was stored")
		}
		// Every POST route, before anything else is looked at.
		e.tender("NK", true)
		id := e.dispatch("NK", "TRK-1")
		for _, c := range []call{
			{caller: acmeDispatcher, path: "/v1/dispatches", body: dispatchBody("NK", "TRK-2")},
			{caller: acmeDispatcher, path: "/v1/vehicles/TRK-1/route", header: map[string]string{"If-Match": `"1"`},
				body: `{"route":{"waypoints":[{"seq":1,"lat":1,"lon":1}]},"reason":"detour"}`},
			{caller: acmeApprover1, path: "/v1/commands/" + id + "/approvals"},
			{caller: acmeDispatcher, path: "/v1/commands/" + id + "/cancel", body: `{"reason":"x"}`},
		} {
			c.key, c.invalid = "-", true
			want(t, e.do(c), http.StatusBadRequest, codes.IdempotencyKeyRequired)
		}
		v := e.get(acmeDispatcher, id).json(t)
		if v["state"] != "pending_approval" || v["approvals"] != nil {
			t.Fatalf("a POST without a key changed the command: %v", v)
		}
		q, _ := e.st.ListQueuedCommands(context.Background(), "TRK-2", 0)
		if len(q) != 0 {
			t.Fatal("a dispatch without a key was queued")
		}
	})
}

// TestAttackCancelAfterDelivery: once delivered a command may have
// executed: the cancel is refused and the command stays delivered.
func TestAttackCancelAfterDelivery(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("L-5", false)
		id := e.dispatch("L-5", "TRK-1")
		if _, err := e.svc.Deliver(context.Background(), id, "replica-1"); err != nil {
			t.Fatal(err)
		}
		r := e.do(call{caller: acmeDispatcher, path: "/v1/commands/" + id + "/cancel", key: "c-1", body: `{"reason":"changed_mind"}`})
		want(t, r, http.StatusConflict, codes.CommandCancelRefused)
		v := e.get(acmeDispatcher, id).json(t)
		if v["state"] != "delivered" || v["possibly_executed"] != true {
			t.Fatalf("after a refused cancel: %v", v)
		}
		// Before delivery the cancel works, and a retry replays it.
		e.tender("L-6", false)
		id2 := e.dispatch("L-6", "TRK-2")
		c := call{caller: acmeDispatcher, path: "/v1/commands/" + id2 + "/cancel", key: "c-2", body: `{"reason":"changed_mind"}`}
		r = e.do(c)
		want(t, r, http.StatusOK, "")
		if v := r.json(t); v["state"] != "cancelled" || v["final"] != true {
			t.Fatalf("cancel: %v", v)
		}
		if again := e.do(c); again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(r.body) {
			t.Fatalf("the cancel retry was not replayed: %s", again.body)
		}
	})
}

// TestAttackRetryRacingTheOriginal: the same dispatch sent several times
// at once (a TMS retrying on timeout, on several connections) creates one
// command, and every answer is the same response.
func TestAttackRetryRacingTheOriginal(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("RACE", false)
		c := call{caller: acmeDispatcher, path: "/v1/dispatches", key: "race", body: dispatchBody("RACE", "TRK-1")}
		const n = 6
		out := make([]resp, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() { defer wg.Done(); out[i] = e.do(c) }()
		}
		wg.Wait()
		for i := range n {
			if out[i].status != http.StatusAccepted || string(out[i].body) != string(out[0].body) {
				t.Fatalf("answer %d: %d %s, answer 0: %s", i, out[i].status, out[i].body, out[0].body)
			}
		}
		q, err := e.st.ListQueuedCommands(context.Background(), "TRK-1", 0)
		if err != nil || len(q) != 1 {
			t.Fatalf("%d commands queued for one dispatch (%v)", len(q), err)
		}
	})
}
