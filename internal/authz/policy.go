package authz

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// Route is the policy of one TMS API route: the scope a token must carry
// and a role held now must grant, and whether the route's {id} path value
// names a vehicle the caller must be allowed to see (its carrier).
type Route struct {
	Scope Scope
	// CarrierScoped: {id} is a vehicle id; a vehicle of another carrier
	// answers 404 exactly as an unknown one.
	CarrierScoped bool
}

// Roles returns the roles that may call the route, derived from
// RoleScopes (the one source of truth), in documentation order.
func (rt Route) Roles() []Role {
	var out []Role
	for _, r := range Roles {
		if slices.Contains(RoleScopes[r], rt.Scope) {
			out = append(out, r)
		}
	}
	return out
}

// Policy is the one policy table of the TMS API: every route the TMS
// listener serves behind the guard, by its Go 1.22 ServeMux pattern. A
// route missing from it is refused at start-up (GuardRoutes) and, should it
// be wrapped anyway, on every request (Guard.Wrap).
//
// Routes whose {id} is not a vehicle (a command id) or that list many
// vehicles (the fleet, the vehicle list, the command list) are not
// CarrierScoped here: their handlers filter with Caller.MaySee.
var Policy = map[string]Route{
	// Reads.
	"GET /v1/fleet/state":                            {Scope: FleetRead},
	"GET /v1/vehicles":                               {Scope: FleetRead},
	"GET /v1/vehicles/{id}/state":                    {Scope: FleetRead, CarrierScoped: true},
	"GET /v1/vehicles/{id}/telemetry/latest":         {Scope: TelemetryRead, CarrierScoped: true},
	"GET /v1/vehicles/{id}/telemetry":                {Scope: TelemetryRead, CarrierScoped: true},
	"GET /v1/vehicles/{id}/frames/{epoch}/{seq}/raw": {Scope: TelemetryRead, CarrierScoped: true},
	"GET /v1/commands":                               {Scope: CommandsRead},
	"GET /v1/commands/{id}":                          {Scope: CommandsRead},
	"GET /v1/tenders/{id}/events":                    {Scope: CommandsRead},
	"GET /v1/audit/checkpoint":                       {Scope: AuditRead},
	"GET /v1/audit/proof/inclusion":                  {Scope: AuditRead},
	"GET /v1/audit/proof/consistency":                {Scope: AuditRead},
	"GET /v1/incidents":                              {Scope: IncidentsRead},
	"GET /v1/incidents/{id}":                         {Scope: IncidentsRead},

	// Control (the commands issue).
	"POST /v1/tenders":                 {Scope: TendersWrite},
	"POST /v1/dispatches":              {Scope: DispatchWrite},
	"POST /v1/vehicles/{id}/route":     {Scope: DispatchWrite, CarrierScoped: true},
	"POST /v1/commands/{id}/approvals": {Scope: CommandsApprove},
	"POST /v1/commands/{id}/cancel":    {Scope: CommandsCancel},

	// Incidents (operators only: package incidentapi refuses clients).
	"POST /v1/incidents/{id}/ack":           {Scope: IncidentsWrite},
	"POST /v1/incidents/{id}/contain":       {Scope: IncidentsWrite},
	"POST /v1/incidents/{id}/resolve":       {Scope: IncidentsWrite},
	"POST /v1/incidents/{id}/notes":         {Scope: IncidentsWrite},
	"POST /v1/incidents/{id}/notifications": {Scope: IncidentsWrite},
}

// Anonymous are the TMS listener's routes that the guard does not wrap,
// with why. Nothing else may be served without a policy entry.
var Anonymous = map[string]string{
	// RFC 8705 §2.1 tls_client_auth: the client certificate is the
	// client's credential; there is no token yet.
	"POST /oauth2/token": "authenticated by its client certificate alone",
	// RFC 8414 metadata and the JWKS: public, so that any client can
	// verify tokens and discover the endpoint.
	"GET /.well-known/oauth-authorization-server": "public metadata",
	"GET /.well-known/jwks.json":                  "public keys",
}

// ErrNoPolicy reports a route with neither a policy entry nor a place on
// the anonymous list.
var ErrNoPolicy = errors.New("authz: route without a policy entry")

// GuardRoutes wraps every route of routes (a server.Routes) with g, and
// returns the result for the TMS listener. The anonymous routes pass
// unwrapped. Any other pattern without a Policy entry fails the start-up
// with ErrNoPolicy, naming every such pattern: a route nobody wrote a
// policy for is never served.
func GuardRoutes[M ~map[string]http.Handler](g *Guard, routes M) (M, error) {
	out := make(M, len(routes))
	var missing []string
	for pattern, h := range routes {
		if h == nil {
			return nil, fmt.Errorf("authz: route %q has no handler", pattern)
		}
		if _, ok := Anonymous[pattern]; ok {
			out[pattern] = h
			continue
		}
		if _, ok := Policy[pattern]; !ok {
			missing = append(missing, pattern)
			continue
		}
		out[pattern] = g.Wrap(pattern, h)
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("%w: %s (add it to authz.Policy)", ErrNoPolicy, strings.Join(missing, ", "))
	}
	return out, nil
}
