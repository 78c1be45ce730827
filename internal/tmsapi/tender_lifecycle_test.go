package tmsapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/authz"
	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
	"github.com/fifthwheel/fifthwheel/internal/tmsapi"
)

// purposeBody is tenderBody with another purpose.
func purposeBody(id, purpose string, hazmat bool, grossKg float64) string {
	return strings.Replace(tenderBody(id, hazmat, grossKg), `"purpose":"original"`, `"purpose":"`+purpose+`"`, 1)
}

// cancelTender sends a cancel of id as c under key.
func (e *env) cancelTender(c authz.Caller, id, key string) resp {
	return e.do(call{caller: c, path: "/v1/tenders", key: key, body: purposeBody(id, "cancel", false, 12000)})
}

// reasonsOf returns an answer's reason codes, and the command ids they name.
func reasonsOf(v map[string]any) (codes, ids []string) {
	for _, x := range v["reasons"].([]any) {
		r := x.(map[string]any)
		codes = append(codes, r["code"].(string))
		if id, ok := r["command_id"].(string); ok {
			ids = append(ids, id)
		}
	}
	return codes, ids
}

// commandsOf returns a cancel's commands by id.
func commandsOf(v map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	cs, _ := v["commands"].([]any)
	for _, x := range cs {
		c := x.(map[string]any)
		out[c["id"].(string)] = c
	}
	return out
}

// TestTenderCancelBeforeDispatch: a cancel of a tender without commands
// cancels it; a retry replays the answer; a second cancel says it was
// cancelled already (200); the cancelled tender is neither dispatched nor
// changed.
func TestTenderCancelBeforeDispatch(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("C-1", false)
		r := e.cancelTender(acmeDispatcher, "C-1", "cancel-1")
		want(t, r, http.StatusOK, "")
		v := r.json(t)
		if rs, _ := reasonsOf(v); v["answer"] != "cancelled" || v["purpose"] != "cancel" || len(rs) != 0 || v["revision"] != float64(1) ||
			v["cancelled_at"] != "2026-12-05T12:00:00Z" || v["commands"] != nil {
			t.Fatalf("cancel: %s", r.body)
		}
		if n := e.count(codes.TenderCancelled); n != 1 {
			t.Fatalf("%d tender_cancelled events", n)
		}
		tn, err := e.st.GetTender(context.Background(), acmeDispatcher.Principal.String(), "C-1")
		if err != nil || tn.Cancelled.IsZero() || tn.CancelledBy != acmeDispatcher.Principal.String() {
			t.Fatalf("stored: %+v, %v", tn, err)
		}
		// A retry under the same key: the same answer, replayed.
		again := e.cancelTender(acmeDispatcher, "C-1", "cancel-1")
		if again.status != http.StatusOK || again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(r.body) {
			t.Fatalf("the retry was not replayed: %d %s", again.status, again.body)
		}
		// A second cancel (a new key): already cancelled, 200.
		e.clk.mu.Lock()
		e.clk.t = e.clk.t.Add(60e9)
		e.clk.mu.Unlock()
		second := e.cancelTender(acmeDispatcher, "C-1", "cancel-2")
		want(t, second, http.StatusOK, "")
		sv := second.json(t)
		if rs, _ := reasonsOf(sv); sv["answer"] != "cancelled" || strings.Join(rs, ",") != "already_cancelled" || sv["cancelled_at"] != "2026-12-05T12:00:00Z" {
			t.Fatalf("second cancel: %s", second.body)
		}
		want(t, e.do(call{caller: acmeDispatcher, path: "/v1/dispatches", key: "d-c1", body: dispatchBody("C-1", "TRK-1")}),
			http.StatusConflict, codes.TenderNotAccepted)
		want(t, e.do(call{caller: acmeDispatcher, path: "/v1/tenders", key: "chg-c1", body: purposeBody("C-1", "change", false, 9000)}),
			http.StatusConflict, codes.TenderConflict)
	})
}

// TestTenderCancelCancelsCommandsNotDelivered: a cancel cancels the
// tender's queued dispatch (never delivered after) and a pending one,
// with the canceller as the actor, and lists them.
func TestTenderCancelCancelsCommandsNotDelivered(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		ctx := context.Background()
		e.tender("Q-1", false)
		queued := e.dispatch("Q-1", "TRK-1")
		if s := e.state(queued); s != store.CommandQueued {
			t.Fatalf("dispatch is %s, want queued", s)
		}
		e.tender("H-1", true)
		pending := e.dispatch("H-1", "TRK-2")
		for _, tc := range []struct{ tender, id string }{{"Q-1", queued}, {"H-1", pending}} {
			r := e.cancelTender(acmeDispatcher, tc.tender, "cancel-"+tc.tender)
			want(t, r, http.StatusOK, "")
			v := r.json(t)
			rs, ids := reasonsOf(v)
			c := commandsOf(v)[tc.id]
			if strings.Join(rs, ",") != "command_cancelled" || strings.Join(ids, ",") != tc.id || c == nil ||
				c["state"] != "cancelled" || c["cancelled"] != true || c["possibly_executed"] != false {
				t.Fatalf("cancel of %s: %s", tc.tender, r.body)
			}
			trs, _ := e.st.CommandTransitions(ctx, tc.id)
			if last := trs[len(trs)-1]; last.To != store.CommandCancelled || last.Actor != acmeDispatcher.Principal.String() || last.Reason != codes.TenderCancelled {
				t.Fatalf("%s's last transition: %+v", tc.id, last)
			}
		}
		if _, err := e.svc.Deliver(ctx, queued, "replica-1"); err == nil {
			t.Fatal("the cancelled dispatch was delivered")
		}
		if q, _ := e.st.ListQueuedCommands(ctx, "TRK-1", 0); len(q) != 0 {
			t.Fatalf("%d commands still queued", len(q))
		}
		if n := e.count(codes.CommandCancelled); n != 2 {
			t.Fatalf("%d command_cancelled events, want 2", n)
		}
	})
}

// TestTenderCancelLeavesDeliveredCommand: a delivered dispatch may have
// executed: the cancel does not pretend to undo it; it cancels the
// tender, reports the command in progress, and the command stays.
func TestTenderCancelLeavesDeliveredCommand(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("P-1", false)
		id := e.dispatch("P-1", "TRK-1")
		if _, err := e.svc.Deliver(context.Background(), id, "replica-1"); err != nil {
			t.Fatal(err)
		}
		r := e.cancelTender(acmeDispatcher, "P-1", "cancel-p1")
		want(t, r, http.StatusOK, "")
		v := r.json(t)
		rs, ids := reasonsOf(v)
		c := commandsOf(v)[id]
		if v["answer"] != "cancelled" || strings.Join(rs, ",") != "command_in_progress" || strings.Join(ids, ",") != id ||
			c["state"] != "delivered" || c["cancelled"] != false || c["possibly_executed"] != true {
			t.Fatalf("cancel of a delivered load: %s", r.body)
		}
		if s := e.state(id); s != store.CommandDelivered {
			t.Fatalf("the delivered dispatch is %s", s)
		}
	})
}

// TestAttackTenderCancelRacingDelivery: a tender's cancel and the
// delivery of its queued dispatch race, round after round: exactly one
// wins. When the delivery wins the answer says the command is in
// progress and possibly executed, never cancelled; when the cancel wins
// the command is never delivered.
func TestAttackTenderCancelRacingDelivery(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		wins := map[string]int{}
		for round := range 10 {
			tender := fmt.Sprintf("R-%02d", round)
			e.tender(tender, false)
			id := e.dispatch(tender, "TRK-1")
			var (
				r          resp
				deliverErr error
				wg         sync.WaitGroup
			)
			start := make(chan struct{})
			wg.Add(2)
			go func() { defer wg.Done(); <-start; r = e.cancelTender(acmeDispatcher, tender, "cancel-"+tender) }()
			go func() {
				defer wg.Done()
				<-start
				_, deliverErr = e.svc.Deliver(context.Background(), id, "replica-2")
			}()
			close(start)
			wg.Wait()
			want(t, r, http.StatusOK, "")
			c := commandsOf(r.json(t))[id]
			final := e.state(id)
			switch {
			case deliverErr == nil:
				if final != store.CommandDelivered || c["state"] != "delivered" || c["cancelled"] != false || c["possibly_executed"] != true {
					t.Fatalf("round %d: the delivery won but the command is %s and the answer says %v", round, final, c)
				}
				wins["deliver"]++
			default:
				if final != store.CommandCancelled || c["cancelled"] != true || command.PossiblyExecuted(final) {
					t.Fatalf("round %d: the cancel won but the command is %s and the answer says %v", round, final, c)
				}
				wins["cancel"]++
			}
		}
		t.Logf("wins: %v", wins)
	})
}

// TestTenderChangeBeforeDispatch: a change of a tender without commands
// is its next revision, answered by the rules of an original; the old
// revision is kept; a dispatch then carries the new content; a declined
// change is not dispatched.
func TestTenderChangeBeforeDispatch(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		ctx := context.Background()
		client := acmeDispatcher.Principal.String()
		e.tender("G-1", false)
		body := strings.Replace(purposeBody("G-1", "change", false, 15000), `"name":"Depot"`, `"name":"New Depot"`, 1)
		c := call{caller: acmeDispatcher, path: "/v1/tenders", key: "change-g1", body: body}
		r := e.do(c)
		want(t, r, http.StatusOK, "")
		if v := r.json(t); v["answer"] != "accept" || v["purpose"] != "change" || v["revision"] != float64(2) {
			t.Fatalf("change: %s", r.body)
		}
		if again := e.do(c); again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(r.body) {
			t.Fatalf("the change's retry was not replayed: %s", again.body)
		}
		tn, err := e.st.GetTender(ctx, client, "G-1")
		hist, herr := e.st.TenderRevisions(ctx, client, "G-1")
		if err != nil || herr != nil || tn.Revision != 2 || string(tn.Body) != body || len(hist) != 1 || hist[0].Revision != 1 {
			t.Fatalf("stored: %+v (%v), history %+v (%v)", tn, err, hist, herr)
		}
		if e.count(codes.TenderAccepted) != 2 {
			t.Fatalf("%d tender_accepted events, want 2 (original and change)", e.count(codes.TenderAccepted))
		}
		id := e.dispatch("G-1", "TRK-1")
		cmd, _ := e.st.GetCommand(ctx, id)
		if !strings.Contains(string(cmd.Payload), `"facility":"New Depot"`) {
			t.Fatalf("the dispatch does not carry the change: %s", cmd.Payload)
		}
		// A change declined by the rules of an original: not dispatched.
		e.tender("G-2", false)
		r = e.do(call{caller: acmeDispatcher, path: "/v1/tenders", key: "change-g2",
			body: strings.Replace(purposeBody("G-2", "change", false, 100), `"ACME"`, `"GLOB"`, 1)})
		want(t, r, http.StatusOK, "")
		if v := r.json(t); v["answer"] != "decline" || v["revision"] != float64(2) {
			t.Fatalf("declined change: %s", r.body)
		}
		want(t, e.do(call{caller: acmeDispatcher, path: "/v1/dispatches", key: "d-g2", body: dispatchBody("G-2", "TRK-2")}),
			http.StatusConflict, codes.TenderNotAccepted)
	})
}

// TestTenderChangeAfterDispatchRefused: once a command was made from a
// tender a change is 409 tender_change_after_dispatch and nothing
// changes.
func TestTenderChangeAfterDispatchRefused(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("A-1", false)
		e.dispatch("A-1", "TRK-1")
		r := e.do(call{caller: acmeDispatcher, path: "/v1/tenders", key: "change-a1", body: purposeBody("A-1", "change", false, 9000)})
		want(t, r, http.StatusConflict, codes.TenderChangeAfterDispatch)
		if !strings.Contains(r.json(t)["detail"].(string), "route update") {
			t.Fatalf("the refusal does not say what to do: %s", r.body)
		}
		tn, err := e.st.GetTender(context.Background(), acmeDispatcher.Principal.String(), "A-1")
		if err != nil || tn.Revision != 1 || strings.Contains(string(tn.Body), "9000") {
			t.Fatalf("the refused change changed the tender: %+v, %v", tn, err)
		}
		if e.count(codes.TenderChangeAfterDispatch) != 1 {
			t.Fatal("no tender_change_after_dispatch event")
		}
	})
}

// TestAttackTenderCancelByAnotherCarrier and
// TestAttackTenderChangeByAnotherCarrier: another carrier's client names
// acme's tender id: 404, the same answer as for an id nobody sent, and
// acme's tender and dispatch are untouched.
func TestAttackTenderCancelByAnotherCarrier(t *testing.T) {
	testOtherCarrier(t, "cancel")
}

func TestAttackTenderChangeByAnotherCarrier(t *testing.T) {
	testOtherCarrier(t, "change")
}

func testOtherCarrier(t *testing.T, purpose string) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("X-1", false)
		id := e.dispatch("X-1", "TRK-1")
		glob := func(tender, key string) resp {
			return e.do(call{caller: globexDispatcher, path: "/v1/tenders", key: key,
				body: strings.Replace(purposeBody(tender, purpose, false, 9000), `"ACME"`, `"GLOB"`, 1)})
		}
		theirs := glob("X-1", "k1")
		unknown := glob("X-404", "k2")
		want(t, theirs, http.StatusNotFound, codes.NotFound)
		want(t, unknown, http.StatusNotFound, codes.NotFound)
		if theirs.json(t)["detail"] != unknown.json(t)["detail"] {
			t.Fatalf("another carrier's tender answers unlike an unknown one: %s / %s", theirs.body, unknown.body)
		}
		tn, err := e.st.GetTender(context.Background(), acmeDispatcher.Principal.String(), "X-1")
		if err != nil || !tn.Cancelled.IsZero() || tn.Revision != 1 {
			t.Fatalf("acme's tender after another carrier's %s: %+v, %v", purpose, tn, err)
		}
		if s := e.state(id); s != store.CommandQueued {
			t.Fatalf("acme's dispatch after another carrier's %s: %s", purpose, s)
		}
		if _, err := e.st.GetTender(context.Background(), globexDispatcher.Principal.String(), "X-1"); err == nil {
			t.Fatalf("another carrier's %s was stored", purpose)
		}
	})
}

// deliverOnList is the API's store with a delivery slipped in between the
// cancel's read of the tender's commands and its cancel of them: the
// window a delivery by another replica can take.
type deliverOnList struct {
	store.Store
	svc *command.Service
	t   *testing.T
}

func (d deliverOnList) TenderCommands(ctx context.Context, client, id, after string, limit int) ([]store.Command, error) {
	cs, err := d.Store.TenderCommands(ctx, client, id, after, limit)
	for _, c := range cs {
		if c.State == store.CommandQueued {
			if _, derr := d.svc.Deliver(ctx, c.ID, "replica-2"); derr != nil {
				d.t.Errorf("delivery in the window: %v", derr)
			}
		}
	}
	return cs, err
}

// TestAttackTenderCancelLosesToDeliveryAfterListing: the cancel read the
// dispatch as queued, and another replica delivered it before the cancel
// reached it: the answer reports it delivered and possibly executed, not
// cancelled, and the command stays delivered.
func TestAttackTenderCancelLosesToDeliveryAfterListing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("W-1", false)
		id := e.dispatch("W-1", "TRK-1")
		api, err := tmsapi.New(tmsapi.Deps{Store: deliverOnList{Store: e.st, svc: e.svc, t: t}, Commands: e.svc, Events: e.bus, Now: e.clk.now})
		if err != nil {
			t.Fatal(err)
		}
		e.mux = http.NewServeMux()
		for p, h := range api.Routes() {
			e.mux.Handle(p, h)
		}
		r := e.cancelTender(acmeDispatcher, "W-1", "cancel-w1")
		want(t, r, http.StatusOK, "")
		v := r.json(t)
		rs, _ := reasonsOf(v)
		c := commandsOf(v)[id]
		if strings.Join(rs, ",") != "command_in_progress" || c["state"] != "delivered" || c["cancelled"] != false || c["possibly_executed"] != true {
			t.Fatalf("the cancel that lost to a delivery answers: %s", r.body)
		}
		if s := e.state(id); s != store.CommandDelivered {
			t.Fatalf("the command is %s, want delivered", s)
		}
	})
}

// TestTenderCancelRetriesRacing: the same cancel sent several times at
// once under one key (a TMS retrying on timeout) cancels the dispatch
// once, and every answer is the same 200 response.
func TestTenderCancelRetriesRacing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("RR-1", false)
		id := e.dispatch("RR-1", "TRK-1")
		const n = 4
		out := make([]resp, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() { defer wg.Done(); out[i] = e.cancelTender(acmeDispatcher, "RR-1", "cancel-rr1") }()
		}
		wg.Wait()
		for i := range n {
			if out[i].status != http.StatusOK || string(out[i].body) != string(out[0].body) {
				t.Fatalf("answer %d: %d %s; answer 0: %s", i, out[i].status, out[i].body, out[0].body)
			}
		}
		if s := e.state(id); s != store.CommandCancelled {
			t.Fatalf("the dispatch is %s", s)
		}
		if n := e.count(codes.CommandCancelled); n != 1 {
			t.Fatalf("%d command_cancelled events for one dispatch", n)
		}
	})
}

// failingList is the API's store failing to list a tender's commands.
type failingList struct{ store.Store }

func (failingList) TenderCommands(context.Context, string, string, string, int) ([]store.Command, error) {
	return nil, errors.New("store down")
}

// TestTenderCancelInterruptedIsFinishedByRetry: a cancel that could not
// read the tender's commands answers 503 (never a 200 that missed one),
// records the cancel as incomplete, and its retry cancels the dispatch.
func TestTenderCancelInterruptedIsFinishedByRetry(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("I-1", false)
		id := e.dispatch("I-1", "TRK-1")
		good := e.mux
		api, err := tmsapi.New(tmsapi.Deps{Store: failingList{e.st}, Commands: e.svc, Events: e.bus, Now: e.clk.now})
		if err != nil {
			t.Fatal(err)
		}
		e.mux = http.NewServeMux()
		for p, h := range api.Routes() {
			e.mux.Handle(p, h)
		}
		want(t, e.cancelTender(acmeDispatcher, "I-1", "cancel-i1"), http.StatusServiceUnavailable, codes.StoreUnavailable)
		if s := e.state(id); s != store.CommandQueued {
			t.Fatalf("the dispatch is %s", s)
		}
		incomplete := 0
		for _, ev := range e.events.Events() {
			if ev.Code == codes.TenderCancelled && ev.Attrs["incomplete"] == true {
				incomplete++
			}
		}
		if incomplete != 1 {
			t.Fatalf("%d incomplete tender_cancelled events, want 1", incomplete)
		}
		e.mux = good
		r := e.cancelTender(acmeDispatcher, "I-1", "cancel-i1")
		want(t, r, http.StatusOK, "")
		if rs, ids := reasonsOf(r.json(t)); strings.Join(rs, ",") != "already_cancelled,command_cancelled" || strings.Join(ids, ",") != id {
			t.Fatalf("the retry: %s", r.body)
		}
		if s := e.state(id); s != store.CommandCancelled {
			t.Fatalf("after the retry the dispatch is %s", s)
		}
	})
}
