package authz

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func httptestServe(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func TestPolicyCoversTheTMSAPI(t *testing.T) {
	want := map[string]Route{
		"GET /v1/fleet/state":                            {FleetRead, false},
		"GET /v1/vehicles/{id}/state":                    {FleetRead, true},
		"GET /v1/vehicles/{id}/telemetry/latest":         {TelemetryRead, true},
		"GET /v1/vehicles/{id}/telemetry":                {TelemetryRead, true},
		"GET /v1/vehicles/{id}/frames/{epoch}/{seq}/raw": {TelemetryRead, true},
		"GET /v1/vehicles":                               {FleetRead, false},
		"POST /v1/tenders":                               {TendersWrite, false},
		"POST /v1/dispatches":                            {DispatchWrite, false},
		"POST /v1/vehicles/{id}/route":                   {DispatchWrite, true},
		"GET /v1/commands":                               {CommandsRead, false},
		"GET /v1/commands/{id}":                          {CommandsRead, false},
		"POST /v1/commands/{id}/approvals":               {CommandsApprove, false},
		"POST /v1/commands/{id}/cancel":                  {CommandsCancel, false},
		"GET /v1/audit/checkpoint":                       {AuditRead, false},
		"GET /v1/audit/proof/inclusion":                  {AuditRead, false},
		"GET /v1/audit/proof/consistency":                {AuditRead, false},
	}
	for p, rt := range want {
		if got, ok := Policy[p]; !ok || got != rt {
			t.Errorf("Policy[%q] = %+v, %v; want %+v", p, got, ok, rt)
		}
	}
	// Every pattern is one ServeMux takes, and none clashes.
	mux := http.NewServeMux()
	for p := range Policy {
		if _, anon := Anonymous[p]; anon {
			t.Errorf("%q is both guarded and anonymous", p)
		}
		mux.Handle(p, http.NotFoundHandler())
	}
	for p := range Anonymous {
		mux.Handle(p, http.NotFoundHandler())
	}
}

func TestPolicyRolesDerivedFromRoleScopes(t *testing.T) {
	if got := Policy["POST /v1/commands/{id}/approvals"].Roles(); !slices.Equal(got, []Role{Approver}) {
		t.Fatalf("approvals: %v", got)
	}
	if got := Policy["POST /v1/dispatches"].Roles(); !slices.Equal(got, []Role{Dispatcher}) {
		t.Fatalf("dispatches: %v", got)
	}
	for p, rt := range Policy {
		if len(rt.Roles()) == 0 {
			t.Errorf("%s: no role may call it", p)
		}
		for _, r := range rt.Roles() {
			if !Grants([]Role{r}, rt.Scope) {
				t.Errorf("%s: %s listed without granting %s", p, r, rt.Scope)
			}
		}
	}
}
