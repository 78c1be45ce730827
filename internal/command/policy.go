package command

import "github.com/fifthwheel/fifthwheel/internal/approval"

// Type is a command's type.
type Type string

// The command types.
const (
	TypeTender      Type = "tender"
	TypeDispatch    Type = "dispatch"     // an accepted tender assigned to a vehicle with a planned route
	TypeRouteUpdate Type = "route_update" // a new route (revision) for a vehicle
	TypeHandover    Type = "handover"     // reserved: the API creates none; a route's handoff points are weighed by approval.Risk.Handoffs
	TypeCancel      Type = "cancel"       // the vehicle is told to drop an earlier command
)

// Types lists every type.
var Types = []Type{TypeTender, TypeDispatch, TypeRouteUpdate, TypeHandover, TypeCancel}

// Valid reports whether t is a type this version knows.
func (t Type) Valid() bool {
	for _, k := range Types {
		if t == k {
			return true
		}
	}
	return false
}

// RequiresFreshSession reports whether a command of class c may go out
// only on a session whose challenge-response happened after the last
// comm loss (issue 20): the high-risk ones.
func RequiresFreshSession(c approval.Class) bool {
	return c != approval.Standard && c != approval.Elevated
}
