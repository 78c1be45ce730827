package detect

import "github.com/fifthwheel/fifthwheel/codes"

// What the shipped rules must cover: every reason code whose event records
// something that may be going wrong, which the catalogue says by giving it
// a severity of low or above (codes.Entry.Severity; info events record
// normal operation: a session opened, a command created, a certificate
// issued). Every such code is matched by a shipped rule, or listed here
// with the reason it is not. A test fails when a code lands in the
// catalogue without either, so a new refusal cannot go unwatched by
// accident.
//
// The detection engine's own codes (area detection) are never matched:
// rules do not see detection events.
var Unwatched = map[string]string{
	codes.FrameDuplicate: "an exact re-send of an accepted frame is how an agent recovers from a lost ack " +
		"(docs/PROTOCOL.md \"Re-sends\"): normal behaviour, answered as a duplicate and never stored twice; a replay with other bytes is `replay`",
	codes.GatewayShutdown: "sent to every open session when a gateway stops on purpose (a deploy, a restart); the stop is recorded " +
		"by gateway_stopped, and a vehicle that does not come back is caught by comm_lost",
	codes.SessionClosedRevoked: "the consequence of an operator's revocation (recorded by cert_revoked, which the " +
		"privileged-change rule counts): the containment working, not an attack; a revoked certificate that tries again is tls_cert_revoked",
	codes.SessionClosedSuspended: "the consequence of an operator's suspension (recorded by vehicle_status_changed or client_status_changed): " +
		"the containment working, not an attack",
}

// mustCover reports whether the shipped rules must match code.
//
// The incident manager's own events (area incident, class incident) are
// never seen by the rules either, except a command refused because an
// incident holds the vehicle's commands (vehicle_commands_held), which the
// command service records as a command event.
func mustCover(e codes.Entry) bool {
	if e.Area == codes.AreaIncident {
		return e.Code == codes.VehicleCommandsHeld
	}
	return e.Severity >= codes.SeverityLow && e.Area != codes.AreaDetection
}
