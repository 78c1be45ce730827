// Package incidentapi serves incidents (package incident) to operators on
// the TMS listener:
//
//	GET  /v1/incidents?state=&cursor=&limit=      the incidents, by id (scope incidents:read)
//	GET  /v1/incidents/{id}                       one incident: findings, clocks (due, overdue), runbooks, notes, transitions, notifications, containment
//	POST /v1/incidents/{id}/ack                   {"note": "..."}                       (scope incidents:write)
//	POST /v1/incidents/{id}/contain               {"action": "...", "target": "...", "reason": "..."}
//	POST /v1/incidents/{id}/resolve               {"reason": "..."}
//	POST /v1/incidents/{id}/notes                 {"text": "..."}
//	POST /v1/incidents/{id}/notifications         {"clock": "...", "channel": "...", "recipient": "...", "reference": "..."}
//
// # Security model
//
// Every route is behind the TMS access guard (authz.Policy): scope
// incidents:read (roles auditor and security-admin) to read,
// incidents:write (security-admin, a control scope) to change. Incidents
// are operator-side and span carriers, so a caller must also be an
// operator: a TMS client is refused (403 forbidden) whatever roles it was
// given, and no carrier scoping applies. A handler reached without a
// verified caller refuses (403), so a route wired without the guard fails
// closed. The actor of every change is the caller's principal, recorded
// by package incident with one security event. Bodies are strict JSON
// (unknown or duplicate members refused) of at most MaxBodyBytes; every
// POST takes an Idempotency-Key (the TMS API's rules: a retry gets the
// stored answer, the key with another body 409 idempotency_key_reused).
//
// # Compatibility
//
// The JSON shapes are package incident's Summary and Detail, shared with
// the CLI's `-o json`; members may be added.
package incidentapi
