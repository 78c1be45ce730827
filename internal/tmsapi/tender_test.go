package tmsapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestTenderAnswers: a well-formed tender is accepted or declined with
// reasons, and stored either way; a declined tender is not dispatched.
func TestTenderAnswers(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		cases := []struct {
			name, id, body, want string
			reasons              []string
		}{
			{"accepted", "T-OK", tenderBody("T-OK", false, 100), "accept", nil},
			{"respond_by passed", "T-LATE", strings.Replace(tenderBody("T-LATE", false, 100), "2026-12-05T18:00:00Z", "2026-12-05T11:00:00Z", 1),
				"decline", []string{"respond_by_passed"}},
			{"another carrier's SCAC", "T-SCAC", strings.Replace(tenderBody("T-SCAC", false, 100), `"ACME"`, `"GLOB"`, 1),
				"decline", []string{"scac_mismatch"}},
		}
		for _, tc := range cases {
			r := e.do(call{caller: acmeDispatcher, path: "/v1/tenders", key: "k-" + tc.id, body: tc.body})
			want(t, r, http.StatusCreated, "")
			v := r.json(t)
			if v["answer"] != tc.want {
				t.Fatalf("%s: answer %v: %s", tc.name, v["answer"], r.body)
			}
			var got []string
			for _, x := range v["reasons"].([]any) {
				got = append(got, x.(map[string]any)["code"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tc.reasons, ",") {
				t.Fatalf("%s: reasons %v, want %v", tc.name, got, tc.reasons)
			}
			if tc.want == "decline" && e.count(codes.TenderDeclined) == 0 {
				t.Fatalf("%s: no tender_declined event", tc.name)
			}
			st, err := e.st.GetTender(context.Background(), acmeDispatcher.Principal.String(), tc.id)
			if err != nil || st.Answer != tc.want {
				t.Fatalf("%s: stored %v (%v)", tc.name, st.Answer, err)
			}
		}
		want(t, e.do(call{caller: acmeDispatcher, path: "/v1/dispatches", key: "d-late", body: dispatchBody("T-LATE", "TRK-1")}),
			http.StatusConflict, codes.TenderNotAccepted)
		want(t, e.do(call{caller: acmeDispatcher, path: "/v1/tenders", key: "again", body: tenderBody("T-OK", false, 100)}),
			http.StatusConflict, codes.TenderConflict)
		// Another client's tender is not the caller's to dispatch.
		want(t, e.do(call{caller: globexDispatcher, path: "/v1/dispatches", key: "g", body: dispatchBody("T-OK", "TRK-9")}),
			http.StatusNotFound, codes.NotFound)
	})
}

// TestAttackMalformedTenderIsNotADecline: a malformed tender is 400 and
// nothing is stored; each row is a way to break it.
func TestAttackMalformedTenderIsNotADecline(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		good := tenderBody("BAD", true, 100)
		cases := []struct {
			name, from, to, code string
			contract             bool // the document refuses it too
		}{
			{"unknown member", `"equipment"`, `"color":"red","equipment"`, codes.MalformedRequest, true},
			{"duplicate member", `"equipment":"tanker"`, `"equipment":"tanker","equipment":"reefer"`, codes.MalformedRequest, false},
			{"unknown time zone", `"tz":"America/Chicago"},"window":{"start":"2026-12-06T08`, `"tz":"Mars/Olympus"},"window":{"start":"2026-12-06T08`, codes.TenderInvalid, false},
			{"host time zone", `"tz":"America/Chicago"},"window":{"start":"2026-12-06T08`, `"tz":"Local"},"window":{"start":"2026-12-06T08`, codes.TenderInvalid, false},
			{"latitude out of range", `"lat":29.7`, `"lat":91`, codes.TenderInvalid, true},
			{"stops out of order", `"sequence":2`, `"sequence":0`, codes.TenderInvalid, false},
			{"bad UN number", `"UN1203"`, `"1203"`, codes.TenderInvalid, true},
			{"bad purpose", `"original"`, `"replace"`, codes.TenderInvalid, true},
			{"weight not a number", `"gross_kg":100`, `"gross_kg":"100"`, codes.MalformedRequest, true},
			{"weight out of range", `"gross_kg":100`, `"gross_kg":1e400`, codes.MalformedRequest, true},
			{"window reversed", `"end":"2026-12-06T10:00:00Z"`, `"end":"2026-12-06T07:00:00Z"`, codes.TenderInvalid, false},
			{"no respond_by", `,"respond_by":"2026-12-05T18:00:00Z"`, ``, codes.TenderInvalid, true},
		}
		for _, tc := range cases {
			body := strings.Replace(good, tc.from, tc.to, 1)
			if body == good {
				t.Fatalf("%s: the replacement did not apply", tc.name)
			}
			r := e.do(call{caller: acmeDispatcher, path: "/v1/tenders", key: "k", body: body, invalid: tc.contract})
			if r.status != http.StatusBadRequest || r.code(t) != tc.code {
				t.Errorf("%s: %d %s, want 400 %s", tc.name, r.status, r.code(t), tc.code)
			}
		}
		if _, err := e.st.GetTender(context.Background(), acmeDispatcher.Principal.String(), "BAD"); err == nil {
			t.Fatal("a malformed tender was stored")
		}
		if n := e.count(codes.TenderInvalid) + e.count(codes.MalformedRequest); n != len(cases) {
			t.Fatalf("%d refusal events for %d refusals", n, len(cases))
		}
	})
}

// TestRouteUpdateRevision: a route update needs If-Match with the
// current revision (428 without, 412 when stale), needs one approval, and
// gets the next revision.
func TestRouteUpdateRevision(t *testing.T) {
	storetest.Run(t, func(t *testing.T, eng storetest.Engine) {
		e := newEnv(t, eng)
		body := `{"route":{"waypoints":[{"seq":1,"lat":30,"lon":-95},{"seq":2,"lat":32.7,"lon":-96.8}]},"reason":"road_closure"}`
		up := func(key, ifMatch string, invalid bool) resp {
			h := map[string]string{}
			if ifMatch != "" {
				h["If-Match"] = ifMatch
			}
			return e.do(call{caller: acmeDispatcher, path: "/v1/vehicles/TRK-1/route", key: key, body: body, header: h, invalid: invalid})
		}
		want(t, up("r0", `"1"`, false), http.StatusPreconditionFailed, codes.RouteRevisionMismatch) // no route yet
		e.tender("R-1", false)
		e.dispatch("R-1", "TRK-1")
		want(t, up("r1", "", true), http.StatusPreconditionRequired, codes.RouteRevisionRequired)
		want(t, up("r2", `*`, true), http.StatusPreconditionRequired, codes.RouteRevisionRequired)
		want(t, up("r3", `"2"`, false), http.StatusPreconditionFailed, codes.RouteRevisionMismatch)
		r := up("r4", `"1"`, false)
		want(t, r, http.StatusAccepted, "")
		v := r.json(t)
		if r.header.Get("ETag") != `"2"` || v["state"] != "pending_approval" || v["approvals_required"] != float64(1) ||
			v["payload"].(map[string]any)["revision"] != float64(2) || v["payload"].(map[string]any)["reason"] != "road_closure" {
			t.Fatalf("route update: ETag %s %s", r.header.Get("ETag"), r.body)
		}
		// The old revision is stale now.
		want(t, up("r5", `"1"`, false), http.StatusPreconditionFailed, codes.RouteRevisionMismatch)
		// A route update naming its load: refused when the truck's current
		// route is another load's, even with the right revision.
		named := func(key, tender string) resp {
			return e.do(call{caller: acmeDispatcher, path: "/v1/vehicles/TRK-1/route", key: key, header: map[string]string{"If-Match": `"2"`},
				body: `{"tender_id":"` + tender + `","route":{"waypoints":[{"seq":1,"lat":30,"lon":-95}]},"reason":"road_closure"}`})
		}
		want(t, named("r6", "R-OTHER"), http.StatusPreconditionFailed, codes.RouteRevisionMismatch)
		want(t, named("r7", "R-1"), http.StatusAccepted, "")
		id := v["id"].(string)
		want(t, e.approve(acmeApprover1, id, "ra"), http.StatusOK, "")
		if s := e.state(id); s != "queued" {
			t.Fatalf("route update with its approval: %s", s)
		}
		// A re-route of a hazmat load needs the two approvals its dispatch
		// needed, not the route update's one.
		e.tender("R-H", true)
		hid := e.dispatch("R-H", "TRK-2")
		want(t, e.approve(acmeApprover1, hid, "h1"), http.StatusOK, "")
		want(t, e.approve(acmeApprover2, hid, "h2"), http.StatusOK, "")
		r = e.do(call{caller: acmeDispatcher, path: "/v1/vehicles/TRK-2/route", key: "rh", body: body, header: map[string]string{"If-Match": `"1"`}})
		want(t, r, http.StatusAccepted, "")
		if v := r.json(t); v["approvals_required"] != float64(2) || v["risk_class"] != "high" {
			t.Fatalf("hazmat re-route: %s", r.body)
		}
	})
}
