package tmsapi_test

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/command"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestHazmatDispatchTwoApprovalsQueues: tender accepted, dispatch of a
// hazmat load waits for two approvals by distinct approvers, then is
// queued; GET shows the transitions, the approvals and possibly_executed.
func TestHazmatDispatchTwoApprovalsQueues(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("LOAD-1", true)
		id := e.dispatch("LOAD-1", "TRK-1")
		if s := e.state(id); s != command.PendingApproval {
			t.Fatalf("hazmat dispatch is %s, want pending_approval", s)
		}
		r := e.approve(acmeApprover1, id, "appr-1")
		want(t, r, http.StatusOK, "")
		if s := r.json(t)["state"]; s != "pending_approval" {
			t.Fatalf("after one approval: %v", s)
		}
		r = e.approve(acmeApprover2, id, "appr-2")
		want(t, r, http.StatusOK, "")
		got := r.json(t)
		if got["state"] != "queued" || got["possibly_executed"] != false || got["cmd_seq"] != float64(1) {
			t.Fatalf("after two approvals: %s", r.body)
		}
		r = e.get(acmeDispatcher, id)
		want(t, r, http.StatusOK, "")
		v := r.json(t)
		trs := v["transitions"].([]any)
		var path []string
		for _, x := range trs {
			tr := x.(map[string]any)
			path = append(path, tr["to"].(string))
			if tr["actor"] == "" || tr["at"] == "" {
				t.Errorf("transition without actor or time: %v", tr)
			}
		}
		if strings.Join(path, ">") != "pending_approval>approved>queued" {
			t.Fatalf("transitions %v", path)
		}
		if n := len(v["approvals"].([]any)); n != 2 {
			t.Fatalf("%d approvals", n)
		}
		if v["risk_class"] != "high" || v["approvals_required"] != float64(2) {
			t.Fatalf("risk %v / %v", v["risk_class"], v["approvals_required"])
		}
		p := v["payload"].(map[string]any)
		if p["tender_id"] != "LOAD-1" || len(p["stops"].([]any)) != 2 || len(p["waypoints"].([]any)) != 3 {
			t.Fatalf("payload %v", p)
		}
	})
}

// TestStandardDispatchQueuesAtOnce: a light load without hazmat needs no
// approval; the list shows it, scoped to the carrier.
func TestStandardDispatchQueuesAtOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("LOAD-2", false)
		id := e.dispatch("LOAD-2", "TRK-1")
		if s := e.state(id); s != command.Queued {
			t.Fatalf("standard dispatch is %s, want queued", s)
		}
		r := e.do(call{caller: acmeDispatcher, method: http.MethodGet, path: "/v1/commands?vehicle=TRK-1&state=queued&limit=10"})
		want(t, r, http.StatusOK, "")
		if n := len(r.json(t)["commands"].([]any)); n != 1 {
			t.Fatalf("%d commands listed: %s", n, r.body)
		}
		r = e.do(call{caller: globexDispatcher, method: http.MethodGet, path: "/v1/commands"})
		want(t, r, http.StatusOK, "")
		if n := len(r.json(t)["commands"].([]any)); n != 0 {
			t.Fatalf("another carrier lists %d of acme's commands", n)
		}
	})
}

// TestListFollowsNextCursor: GET /v1/commands pages by next_cursor. A
// TMS that follows it from the first page sees each of the vehicle's
// commands once, in order, and no other vehicle's; a full
// last page still names a cursor, whose page is empty and names none.
// Every request and answer is validated against api/openapi.yaml.
func TestListFollowsNextCursor(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		var made []string
		for _, l := range []string{"PAGE-1", "PAGE-2", "PAGE-3"} {
			e.tender(l, false)
			made = append(made, e.dispatch(l, "TRK-1"))
		}
		e.tender("PAGE-OTHER", false)
		e.dispatch("PAGE-OTHER", "TRK-2")
		slices.Sort(made) // ids sort by creation time: the list's order

		// follow reads the pages of limit from the first and returns the
		// ids seen and the number of pages.
		follow := func(limit int) ([]string, int) {
			var seen []string
			path := fmt.Sprintf("/v1/commands?vehicle=TRK-1&limit=%d", limit)
			for pages := 1; ; pages++ {
				r := e.do(call{caller: acmeDispatcher, method: http.MethodGet, path: path})
				want(t, r, http.StatusOK, "")
				m := r.json(t)
				cs := m["commands"].([]any)
				if len(cs) > limit {
					t.Fatalf("page of %d with limit %d", len(cs), limit)
				}
				for _, c := range cs {
					seen = append(seen, c.(map[string]any)["id"].(string))
				}
				next, ok := m["next_cursor"].(string)
				if !ok {
					return seen, pages
				}
				if pages > len(made)+1 {
					t.Fatalf("next_cursor never ends: %v", seen)
				}
				path = fmt.Sprintf("/v1/commands?vehicle=TRK-1&limit=%d&cursor=%s", limit, next)
			}
		}
		for _, c := range []struct{ limit, pages int }{{2, 2}, {3, 2}, {1, 4}, {10, 1}} {
			seen, pages := follow(c.limit)
			if !slices.Equal(seen, made) || pages != c.pages {
				t.Fatalf("limit %d: %d pages of %v, want %d pages of %v", c.limit, pages, seen, c.pages, made)
			}
		}
	})
}

// TestRetryReturnsOriginalResponse: a retry with the same key and body
// gets the first response byte for byte and creates nothing.
func TestRetryReturnsOriginalResponse(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("LOAD-3", true)
		c := call{caller: acmeDispatcher, path: "/v1/dispatches", key: "k-retry", body: dispatchBody("LOAD-3", "TRK-1")}
		first := e.do(c)
		want(t, first, http.StatusAccepted, "")
		second := e.do(c)
		want(t, second, http.StatusAccepted, "")
		if !bytes.Equal(first.body, second.body) || second.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry answered otherwise:\n%s\n%s", first.body, second.body)
		}
		r := e.do(call{caller: acmeDispatcher, method: http.MethodGet, path: "/v1/commands?vehicle=TRK-1"})
		if n := len(r.json(t)["commands"].([]any)); n != 1 {
			t.Fatalf("the retry created a command: %d", n)
		}
		// A tender retry too.
		tc := call{caller: acmeDispatcher, path: "/v1/tenders", key: "tender-LOAD-3", body: tenderBody("LOAD-3", true, 12000)}
		r = e.do(tc)
		want(t, r, http.StatusCreated, "")
		if r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatal("the tender retry was not replayed")
		}
	})
}

// TestRetryReturnsOriginalResponseQueuedAtOnce: a dispatch that needs no
// approval is queued in the request that creates it, and the store keeps
// times to the microsecond; the first answer is still the one a retry
// gets, byte for byte (it was the stored record's body only when the
// command waited for approvals: a clock with nanoseconds made the first
// answer of a standard dispatch differ from its replay).
func TestRetryReturnsOriginalResponseQueuedAtOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.clk.mu.Lock()
		e.clk.t = e.clk.t.Add(170330499 * time.Nanosecond)
		e.clk.mu.Unlock()
		e.tender("LOAD-5", false)
		c := call{caller: acmeDispatcher, path: "/v1/dispatches", key: "k-retry-std", body: dispatchBody("LOAD-5", "TRK-1")}
		first := e.do(c)
		want(t, first, http.StatusAccepted, "")
		if st := first.json(t)["state"]; st != "approved" {
			t.Fatalf("a standard dispatch answered in state %v", st)
		}
		second := e.do(c)
		want(t, second, http.StatusAccepted, "")
		if !bytes.Equal(first.body, second.body) || second.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry answered otherwise:\n%s\n%s", first.body, second.body)
		}
	})
}

// TestRiskScoreAddsAnApproval: a request whose risk score (Caller.Risk,
// from the guard) is above the policy's threshold needs one approval
// more: a light load then waits for one.
func TestRiskScoreAddsAnApproval(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		e.tender("RISK-1", false)
		risky := acmeDispatcher
		risky.Risk, risky.RiskFactors = 60, []string{"new_source", "off_hours"}
		r := e.do(call{caller: risky, path: "/v1/dispatches", key: "risky", body: dispatchBody("RISK-1", "TRK-1")})
		want(t, r, http.StatusAccepted, "")
		if v := r.json(t); v["state"] != "pending_approval" || v["approvals_required"] != float64(1) {
			t.Fatalf("risky dispatch: %s", r.body)
		}
	})
}
